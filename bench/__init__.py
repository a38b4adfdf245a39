"""Benchmarks of tensormesh-reconciler at scale: `python -m bench` (or `make bench`).

Measures only; never part of the program. See docs/performance.md.
"""
