"""Live updates: the broker wakes the hub, the hub reads new events once and fans them out to sockets."""
