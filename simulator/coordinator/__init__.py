"""One run over several processes on one machine: ``factory-sim run SCENARIO --workers N``.

The coordinator (the ``run`` process) starts the platform side itself (broker, ingest,
responder), then N slices of the fleet as worker processes (``run - --segment k/N
--no-ingest --jsonl``, the resolved scenario on their standard input), all started at one
barrier; it shows their progress added up in one live view, waits for them, drains ingest to
the count they published, and merges their reports with its ingest's into one
(:mod:`simulator.report.merge`). :mod:`.split` decides how many workers a fleet needs.
"""
