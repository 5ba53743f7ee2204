"""Benchmarks: each module prints its figures (run as `python -m bench.NAME`); run_all
collects them into docs/performance.md."""
