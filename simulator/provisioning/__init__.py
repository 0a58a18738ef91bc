"""The platform's side of onboarding that ships with the project: answering registrations."""

from simulator.provisioning.provisioner import (
    Policy,
    Provisioner,
    ResponderCounters,
    topic_filter,
    verdict,
)
from simulator.provisioning.responder import Responder, ResponderSettings

__all__ = [
    "Policy",
    "Provisioner",
    "Responder",
    "ResponderCounters",
    "ResponderSettings",
    "topic_filter",
    "verdict",
]
