"""The plant hierarchy: where each device sits (enterprise, site, area, line, cell) and its topic.

The levels follow ISA-95: one enterprise has ``sites`` sites; each site has ``lines_per_site``
production lines, grouped into ``areas_per_site`` areas; each line has ``cells_per_line`` work
cells. Lines are numbered within their site (``line-01`` to ``line-NN``, whatever their area),
so a topic that leaves out ``{area}`` still names every line unambiguously; line ``k`` belongs to
area ``(k - 1) % areas_per_site + 1``. Cells are numbered within their line.

Devices are dealt to the cells round-robin, site first: device 0 goes to site-01/line-01/cell-01,
device 1 to site-02/line-01/cell-01, and so on; once every site has a device on line-01 the next
goes to site-01/line-02 (which is in the next area), and only once every line of every site has
one does cell-02 get its first. So any prefix of the fleet (the first devices to connect during a
ramp) is spread evenly over every site, line and cell (and over every area when the lines divide
evenly into areas), and an identity is computed from the index alone, without knowing the fleet
size. With one area per site and one cell per line this is the two-level plant of sites and lines
that earlier versions dealt, with the same ids and placement.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from simulator.errors import PlantLayoutError, TopicTemplateError

DEFAULT_TOPIC = "factory/{site}/{line}/{device}/telemetry"
"""The topic template a scenario gets when it names none."""

DEFAULT_ENTERPRISE = "acme"
"""The enterprise of a plant that names none."""

PLACEHOLDERS = ("site", "line", "device", "model", "enterprise", "area", "cell")
"""The names a topic template may use, each in braces."""

_PREFIX_RE = re.compile(r"[A-Za-z0-9_-]{1,16}")
# The enterprise becomes a topic level, so it may hold none of MQTT's '/', '+', '#' or NUL.
_ENTERPRISE_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
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
    enterprise: str = DEFAULT_ENTERPRISE
    """e.g. ``acme``; the same for every device of a plant."""
    area: str = "area-01"
    """e.g. ``area-02``; numbered within its site."""
    cell: str = "cell-01"
    """e.g. ``cell-04``; numbered within its line."""

    def placeholders(self, model_name: str) -> dict[str, str]:
        """The value of each of :data:`PLACEHOLDERS` for this device, a ``model_name`` one."""
        return {
            "site": self.site,
            "line": self.line,
            "device": self.device_id,
            "model": model_name,
            "enterprise": self.enterprise,
            "area": self.area,
            "cell": self.cell,
        }


@dataclass(frozen=True, slots=True)
class PlantLayout:
    """A plant of ``sites`` sites, ``lines_per_site`` lines each, in areas, with cells per line."""

    sites: int
    lines_per_site: int
    id_prefix: str = "dev"
    """Start of every device id; a device model's ``id_prefix`` is the usual choice."""
    enterprise: str = DEFAULT_ENTERPRISE
    """Name of the enterprise owning the sites: 1-64 letters, digits, '.', '-' or '_'."""
    areas_per_site: int = 1
    """Areas the lines of a site are grouped into; at most ``lines_per_site``."""
    cells_per_line: int = 1
    """Work cells on each line."""

    def __post_init__(self) -> None:
        sizes = (
            ("sites", self.sites),
            ("lines_per_site", self.lines_per_site),
            ("areas_per_site", self.areas_per_site),
            ("cells_per_line", self.cells_per_line),
        )
        problems = [
            f"{name} must be a whole number of at least 1, got {value!r}"
            for name, value in sizes
            if type(value) is not int or value < 1
        ]
        if not problems and self.areas_per_site > self.lines_per_site:
            problems.append(
                f"areas_per_site must be at most lines_per_site ({self.lines_per_site}) so "
                f"every area has a line, got {self.areas_per_site}"
            )
        if type(self.id_prefix) is not str or not _PREFIX_RE.fullmatch(self.id_prefix):
            problems.append(
                f"id_prefix must be 1-16 letters, digits, '-' or '_', got {self.id_prefix!r}"
            )
        if type(self.enterprise) is not str or not _ENTERPRISE_RE.fullmatch(self.enterprise):
            problems.append(
                f"enterprise must be 1-64 letters, digits, '.', '-' or '_', got {self.enterprise!r}"
            )
        if problems:
            raise PlantLayoutError("; ".join(problems))

    def identity(self, index: int) -> DeviceIdentity:
        """Return the identity of device ``index`` (from 0), placed round-robin."""
        if type(index) is not int or index < 0:
            raise PlantLayoutError(f"device index must be a whole number >= 0, got {index!r}")
        sites = self.sites
        lines = self.lines_per_site
        areas = self.areas_per_site
        cells = self.cells_per_line
        slot = index % (sites * lines * cells)
        line = slot // sites % lines
        return DeviceIdentity(
            f"{self.id_prefix}-{index:0{_DEVICE_WIDTH}d}",
            f"site-{slot % sites + 1:0{_width(sites)}d}",
            f"line-{line + 1:0{_width(lines)}d}",
            self.enterprise,
            f"area-{line % areas + 1:0{_width(areas)}d}",
            f"cell-{slot // (sites * lines) + 1:0{_width(cells)}d}",
        )


def enterprise_problem(name: object) -> str | None:
    """Say what is wrong with ``name`` as an enterprise (it becomes a topic level), or None."""
    if type(name) is not str or not _ENTERPRISE_RE.fullmatch(name):
        return f"must be 1-64 letters, digits, '.', '-' or '_', got {name!r}"
    return None


def _width(count: int) -> int:
    """Digits of the numbers of a level with ``count`` members, so names sort in order."""
    return max(_MIN_WIDTH, len(str(count)))


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
        return self.template.format_map(identity.placeholders(model_name))

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
