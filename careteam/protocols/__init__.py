"""Protocol templates (FHIR PlanDefinition-like): versioned goals and tasks per lane with due offsets and
gates, maintained by IPM leads and applied to a care plan in one unit of work."""
