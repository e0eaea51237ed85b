"""Benchmarks that print their figures: `python -m bench.<name>` runs one, `-m bench` all."""
