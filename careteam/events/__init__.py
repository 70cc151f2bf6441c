"""The durable event log every live view, replay and history is built from."""
