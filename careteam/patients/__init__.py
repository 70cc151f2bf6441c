"""Patients and their care teams: who is on a patient's team decides who sees the patient."""
