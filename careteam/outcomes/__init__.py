"""Outcome measures (FHIR Observation): pain intensity, PEG-3, PHQ-9, GAD-7 and ODI recorded on a plan by its
care team, corrected only as entered-in-error, and drawn as server-rendered trends on the plan."""
