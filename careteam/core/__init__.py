"""What every feature shares: the actor, domain errors, shared vocabularies, base schemas.

Imports no feature."""
