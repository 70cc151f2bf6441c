"""Domain services: plain async functions ``verb_noun(session, ..., *, actor)``. No HTTP here."""
