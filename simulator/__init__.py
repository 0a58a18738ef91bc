"""Industrial device onboarding and telemetry simulator for MQTT platforms."""

__version__ = "0.1.0"
