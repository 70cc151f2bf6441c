"""Settings of the Django Channels peer (a tiny project: one model, one view, one consumer)."""

from __future__ import annotations

import os
from urllib.parse import urlparse

_db = urlparse(
    os.environ.get("BENCH_PEER_DSN", "postgresql://postgres@127.0.0.1:5432/careteam_bench_channels")
)

SECRET_KEY = "bench-only-django-secret-key-0123456789abcdef"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["daphne", "channels", "django_peer"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "django_peer.urls"
ASGI_APPLICATION = "django_peer.asgi.application"
USE_TZ = True
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _db.path.lstrip("/"),
        "USER": _db.username or "postgres",
        "HOST": _db.hostname or "127.0.0.1",
        "PORT": _db.port or 5432,
        # Django's own pool (psycopg_pool): under ASGI every request runs in a thread of its own, so
        # persistent per-thread connections would pile up until PostgreSQL refuses new clients.
        "CONN_MAX_AGE": 0,
        "OPTIONS": {"pool": {"min_size": 2, "max_size": 20}},
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [os.environ.get("BENCH_PEER_REDIS", "redis://127.0.0.1:6379/1")],
            "prefix": "bench-channels:",
            # Deliveries to one process share one Redis key: room for a burst to 5,000 viewers.
            "capacity": 100_000,
        },
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
