"""Case conferences: the team reviews plans together around one screen, following the facilitator through an
agenda built from the boards; decisions become tasks and referrals before the meeting ends."""
