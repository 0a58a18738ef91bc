"""The plant hierarchy: which site and line each device belongs to, and its topic name.

Devices are dealt to lines round-robin, site first: device 0 goes to site-01/line-01, device 1
to site-02/line-01, and so on; once every site has a device on line-01 the next goes to
site-01/line-02. So any prefix of the fleet (the first devices to connect during a ramp) is
spread evenly over every site and line, and an identity is computed from the index alone,
without knowing the fleet size.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from simulator.fleet.errors import PlantLayoutError, TopicTemplateError

DEFAULT_TOPIC = "factory/{site}/{line}/{device}/telemetry"
"""The topic template a scenario gets when it names none."""

PLACEHOLDERS = ("site", "line", "device", "model")
"""The names a topic template may use, each in braces."""

_PREFIX_RE = re.compile(r"[A-Za-z0-9_-]{1,16}")
_MIN_WIDTH = 2
_DEVICE_WIDTH = 6


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """Who a device is and where it sits in the plant."""

    device_id: str
    """Unique in the fleet, e.g. ``ms-000042``; also used as the MQTT client id."""
    site: str
    """e.g. ``site-01``."""
    line: str
    """e.g. ``line-03``; numbered within its site."""


@dataclass(frozen=True, slots=True)
class PlantLayout:
    """A plant of ``sites`` sites with ``lines_per_site`` production lines each."""

    sites: int
    lines_per_site: int
    id_prefix: str = "dev"
    """Start of every device id; a device model's ``id_prefix`` is the usual choice."""

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be a whole number of at least 1, got {value!r}"
            for name, value in (("sites", self.sites), ("lines_per_site", self.lines_per_site))
            if type(value) is not int or value < 1
        ]
        if type(self.id_prefix) is not str or not _PREFIX_RE.fullmatch(self.id_prefix):
            problems.append(
                f"id_prefix must be 1-16 letters, digits, '-' or '_', got {self.id_prefix!r}"
            )
        if problems:
            raise PlantLayoutError("; ".join(problems))

    def identity(self, index: int) -> DeviceIdentity:
        """Return the identity of device ``index`` (from 0), placed round-robin."""
        if type(index) is not int or index < 0:
            raise PlantLayoutError(f"device index must be a whole number >= 0, got {index!r}")
        sites = self.sites
        slot = index % (sites * self.lines_per_site)
        site_width = max(_MIN_WIDTH, len(str(sites)))
        line_width = max(_MIN_WIDTH, len(str(self.lines_per_site)))
        return DeviceIdentity(
            f"{self.id_prefix}-{index:0{_DEVICE_WIDTH}d}",
            f"site-{slot % sites + 1:0{site_width}d}",
            f"line-{slot // sites + 1:0{line_width}d}",
        )


class TopicTemplate:
    """A checked topic template such as ``factory/{site}/{line}/{device}/telemetry``.

    Raises :class:`TopicTemplateError`, listing every problem, unless the template only uses
    the :data:`PLACEHOLDERS` (bare, without format specs), has no empty level, no ``+`` or ``#``
    wildcard, no NUL and does not start with ``$`` (reserved for broker topics).
    """

    __slots__ = ("template",)

    def __init__(self, template: str = DEFAULT_TOPIC) -> None:
        problems = _problems(template)
        if problems:
            raise TopicTemplateError(f"topic template {template!r}: " + "; ".join(problems))
        self.template = template

    def render(self, identity: DeviceIdentity, model_name: str) -> str:
        """Return the topic name for one device."""
        return self.template.format(
            site=identity.site, line=identity.line, device=identity.device_id, model=model_name
        )

    def __repr__(self) -> str:
        return f"TopicTemplate({self.template!r})"


def _problems(template: object) -> list[str]:
    if type(template) is not str or not template:
        return ["must be a non-empty string"]
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:
        return ["has an unbalanced '{' or '}'"]
    allowed = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
    problems = []
    sample = []
    for literal, field, spec, conversion in parts:
        sample.append(literal)
        if field is None:
            continue
        sample.append("x")
        if field not in PLACEHOLDERS:
            problems.append(f"unknown placeholder {{{field}}}; allowed: {allowed}")
        elif spec or conversion:
            problems.append(f"placeholder {{{field}}} takes no format spec or conversion")
    literal_text = "".join(literal for literal, *_ in parts)
    problems.extend(
        f"contains {what}"
        for char, what in (("+", "the wildcard '+'"), ("#", "the wildcard '#'"), ("\0", "NUL"))
        if char in literal_text
    )
    if template.startswith("$"):
        problems.append("must not start with '$' (reserved for broker topics)")
    if "" in "".join(sample).split("/"):
        problems.append("has an empty level (a leading, trailing or doubled '/')")
    return problems
