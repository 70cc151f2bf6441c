from __future__ import annotations

from django.urls import path

from django_peer.views import patch_task

urlpatterns = [path("api/v1/tasks/<int:task_id>", patch_task)]
