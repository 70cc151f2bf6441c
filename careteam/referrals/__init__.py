"""Referrals (FHIR ServiceRequest): the team's lead or physician hands work on a plan to a discipline pool or
a named clinician; one clinician claims it, accepts (joining the care team, with linked tasks on the board)
or declines with a reason, and the outcome goes back to the requester."""
