from __future__ import annotations

from django.db import models


class Task(models.Model):
    plan_id = models.IntegerField(db_index=True)
    title = models.TextField()
    description = models.TextField(default="")
    discipline = models.TextField(default="nurse")
    assignee_id = models.IntegerField(null=True)
    status = models.TextField(default="requested")
    priority = models.TextField(default="routine")
    due_date = models.DateField(null=True)
    position = models.FloatField(default=0.0)
    checklist = models.JSONField(default=list)
    version = models.IntegerField(default=1)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        app_label = "django_peer"
        db_table = "bench_task"
        managed = False
