"""The gateway check: what a gateway under test publishes north, against the southbound truth.

:mod:`~simulator.northbound.truth` computes each device's register numbers with the served
fleet's own code and says what "equal" means after scaling, :mod:`~simulator.northbound.mapping`
reads a gateway's messages back as device, signal and value, :mod:`~simulator.northbound.check`
judges every value and writes the report's ``gateway`` section,
:mod:`~simulator.northbound.listener` is the check's MQTT connection,
:mod:`~simulator.northbound.service` serves the south and checks the north in one loop, and
:mod:`~simulator.northbound.harness` runs that in a thread for a test.
"""
