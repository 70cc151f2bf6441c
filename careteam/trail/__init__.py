"""The audit trail as administrators read it: who read or changed which patient's data, filtered.

A feature on top of the shared audit layer (``careteam.audit`` writes the entries; this reads them)."""
