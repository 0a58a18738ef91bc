"""Simulated southbound devices: the fleet's models served over Modbus TCP for a gateway to poll.

:mod:`~simulator.southbound.modbus` is the sans-I/O Modbus TCP codec,
:mod:`~simulator.southbound.register_map` each model's register map (a pure function of the
model), :mod:`~simulator.southbound.fleet_values` which device answers where and its registers at
a time (computed when read), :mod:`~simulator.southbound.server` the asyncio adapter (one server
per endpoint, one protocol object per connection, nothing per device) and
:mod:`~simulator.southbound.service` the ``factory-sim southbound`` command's serving loop and its
gateway configuration hint.
"""
