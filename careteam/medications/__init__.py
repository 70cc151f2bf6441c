"""Medications on a care plan (FHIR MedicationStatement-like): opioids with their morphine milligram
equivalents per day (CDC 2022), anticoagulants with their hold before a procedure, the recurring
opioid-safety tasks, and the urgent message a safety change sends to the disciplines that must
acknowledge it."""
