"""Benchmark scripts (not installed with the package); ``bench.beir`` holds the BEIR utilities."""
