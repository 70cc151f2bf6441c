"""Audit: who read or changed which patient's data, when, from where, with what outcome."""
