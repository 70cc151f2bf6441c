"""Authentication: password hashing, server-side sessions and bearer tokens, CSRF, login throttling."""
