"""Care plans: the live board, its goals and tasks (FHIR CarePlan, Goal, Task)."""
