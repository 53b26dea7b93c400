"""Live updates: one poller per watched run in a web process, shared by all of its event streams."""
