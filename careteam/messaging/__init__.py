"""Messaging (FHIR Communication): a care plan's team thread and each task's comment thread, in Markdown,
with @mentions that reach only the plan's care team."""
