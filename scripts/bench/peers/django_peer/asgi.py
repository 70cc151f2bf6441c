"""``daphne django_peer.asgi:application``: HTTP to Django, websockets to the consumer."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_peer.settings")

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application
from django.urls import path

http = get_asgi_application()

from django_peer.consumers import PlanConsumer  # noqa: E402

application = ProtocolTypeRouter({"http": http, "websocket": URLRouter([path("ws", PlanConsumer.as_asgi())])})
