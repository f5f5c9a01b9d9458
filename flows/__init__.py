"""Prefect flows for kickscale-sync: the nightly sync and backfills.

The flows only orchestrate: every step is a library function the CLI calls too.
"""
