"""The engine: one scheduler per process and the fleet driver that walks the plan."""
