"""Benchmarks (`make bench`): figures printed beside the raw limits measured in the same run."""
