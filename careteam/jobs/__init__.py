"""Scheduled jobs: features declare them (``registry.JOBS``); each due time runs once across processes."""
