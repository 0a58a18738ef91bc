"""The client stacks the benchmark compares, one module per stack.

Each module is run by ``bench/run.py`` as ``python -m clients.<stack>_stack`` (from ``bench/``)
in a process of its own, so its resident memory is its own. Every stack does the same work (see
:mod:`clients.workload`): ``devices`` MQTT 5 connections, connected with at most
``concurrency`` connects pending, then ``messages`` QoS 0 telemetry messages per device, encoded
per message with the same device model and payload codec the engine uses. A stack prints its
figures as one JSON object on the last line of its standard output (see
:mod:`clients.common`).
"""
