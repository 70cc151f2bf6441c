"""Notifications: a clinician's inbox (new referrals, tasks assigned to her), live on her stream user:<id>."""
