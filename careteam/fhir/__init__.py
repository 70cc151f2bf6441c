"""FHIR R4 facade: the EMR reads patients, care teams, plans, goals, tasks, referrals, messages and outcome
measures as FHIR resources; a mapping over the features' services, with their access rules and audit."""
