"""``PATCH /api/v1/tasks/<id>``: update the row (If-Match), then ``group_send`` to the plan's group."""

from __future__ import annotations

import json
import re

from channels.layers import get_channel_layer
from django.db.models import F
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from django_peer.models import Task

ETAG = re.compile(r'^\s*(?:W/)?"(\d{1,9})"\s*$')
FIELDS = (
    "id",
    "plan_id",
    "title",
    "description",
    "discipline",
    "assignee_id",
    "status",
    "priority",
    "due_date",
    "position",
    "checklist",
    "version",
    "created_at",
    "updated_at",
)


@csrf_exempt
async def patch_task(request: HttpRequest, task_id: int) -> HttpResponse:
    if request.method != "PATCH":
        return HttpResponse(status=405)
    m = ETAG.match(request.headers.get("If-Match", ""))
    if m is None:
        return HttpResponse(status=428)
    body = json.loads(request.body)
    updated = await Task.objects.filter(id=task_id, version=int(m.group(1))).aupdate(
        title=body["title"], version=F("version") + 1, updated_at=timezone.now()
    )
    if not updated:
        return HttpResponse(status=412)
    task = await Task.objects.values(*FIELDS).aget(id=task_id)
    data = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in task.items()}
    frame = json.dumps(
        {
            "type": "event",
            "plan_id": task["plan_id"],
            "seq": task["version"],
            "kind": "task.updated",
            "data": data,
            "actor_id": 1,
            "at": data["updated_at"],
        }
    )
    # Encoded once here; every consumer of the group sends the same text.
    await get_channel_layer().group_send(f"plan_{task['plan_id']}", {"type": "plan.event", "text": frame})
    return JsonResponse(data, headers={"ETag": f'W/"{task["version"]}"'})
