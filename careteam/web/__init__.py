"""The web edge every feature shares: dependencies, problem+json errors, idempotency, middleware,
templating, forms."""
