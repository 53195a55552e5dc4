"""Benchmarks: `make bench` runs bench.recorder (see bench/README.md)."""
