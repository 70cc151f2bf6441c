"""careteam: care-team coordination for interventional pain management clinics."""

__version__ = "0.1.0"
