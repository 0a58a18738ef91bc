"""The platform's side of onboarding that ships with the project: the provisioning responder."""

from simulator.provisioning.responder import (
    Responder,
    ResponderCounters,
    ResponderSettings,
    topic_filter,
    verdict,
)

__all__ = ["Responder", "ResponderCounters", "ResponderSettings", "topic_filter", "verdict"]
