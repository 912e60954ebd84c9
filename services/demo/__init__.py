"""Demonstration clients: a first example (`python -m campaignreports.demo.example`) and the
deterministic traffic generator behind `make demo`, the golden test and the benchmarks."""
