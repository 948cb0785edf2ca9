"""Benchmarks and the fault suite: run as scripts, kept out of the normal test run."""
