"""Reads shared by views, tasks and the admin, one module per concern."""
