"""Sufficient statistics, bootstrap and significance tests (numpy only, vectorised)."""
