"""Every write the dashboard makes, one module per concern (`runs`, `sessions`, `state`)."""
