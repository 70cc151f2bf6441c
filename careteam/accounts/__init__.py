"""Accounts: clinicians, their passwords, sessions and bearer tokens, sign-in throttling."""
