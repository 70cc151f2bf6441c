"""A viewer: ``subscribe {plan_id}`` joins the group ``plan_<id>``; group events are sent as they are."""

from __future__ import annotations

import json
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer


class PlanConsumer(AsyncWebsocketConsumer):
    groups: list[str] = []

    async def connect(self) -> None:
        self.plans: set[int] = set()
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        msg = json.loads(text_data or "{}")
        if msg.get("type") == "subscribe":
            plan_id = int(msg["plan_id"])
            await self.channel_layer.group_add(f"plan_{plan_id}", self.channel_name)
            self.plans.add(plan_id)
            await self.send(text_data=json.dumps({"type": "subscribed", "plan_id": plan_id}))

    async def disconnect(self, code: int) -> None:
        for plan_id in getattr(self, "plans", ()):
            await self.channel_layer.group_discard(f"plan_{plan_id}", self.channel_name)

    async def plan_event(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["text"])
