"""The pure domain: no I/O, unit-tested without servers."""
