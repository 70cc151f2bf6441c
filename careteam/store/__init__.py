"""Persistence: tables, engine, unit of work. Knows nothing of HTTP or of domain rules."""
