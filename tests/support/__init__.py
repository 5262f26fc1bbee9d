"""Helpers shared by the tests and the benchmarks (real media, real servers)."""
