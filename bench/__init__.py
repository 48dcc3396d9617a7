"""Benchmarks (not tests): `make bench` runs `python -m bench.run`, which writes docs/BENCHMARKS.md."""
