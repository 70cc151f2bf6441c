"""The Django Channels peer: daphne, channels-redis; Django's async ORM on PostgreSQL (psycopg)."""
