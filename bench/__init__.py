"""Benchmarks: each module prints its figures as one JSON object on stdout."""
