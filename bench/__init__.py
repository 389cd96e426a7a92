"""Benchmarks: `python3 bootstrap.py bench` (results in bench/results/)."""
