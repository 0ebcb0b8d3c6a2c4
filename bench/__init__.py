"""Benchmarks: each prints figures; `python -m bench.run` collects them into RESULTS.md."""
