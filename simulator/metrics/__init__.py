"""Measurements that both sides of a run share: mergeable histograms and process costs.

This room imports nothing else from the package and reads no wall clock: callers pass time in.
"""

from simulator.metrics.histogram import Histogram
from simulator.metrics.process import cpu_seconds, peak_rss_bytes, rss_bytes

__all__ = ["Histogram", "cpu_seconds", "peak_rss_bytes", "rss_bytes"]
