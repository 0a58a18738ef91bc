"""Reading one figure off a running process's Prometheus ``/metrics``."""

from __future__ import annotations

import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def scraped(url: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` with ``labels`` at ``url``; None while the endpoint is
    not up or serves no such sample yet."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            text = response.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None
