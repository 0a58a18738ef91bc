"""The gmqtt stack over TLS, against the secure broker profile.

The workload of :mod:`clients.gmqtt_stack` (QoS 0), with every client connecting over TLS with
the same client context the engine's TLS stack builds (one shared ``ssl.SSLContext``, the test
CA, server name checked) and the load fleet's user name and password, publishing under
``factory/``. gmqtt hands the context to ``loop.create_connection``, so both stacks use the
same TLS implementation (uvloop's ``SSLProtocol`` over CPython's ``ssl`` module).
"""

from __future__ import annotations

import logging

import uvloop

from .common import StackArgs, StackFigures, prepare_process, report
from .gmqtt_driver import run_gmqtt
from .secure import SecureArgs, parse_secure_args, tls_context, tls_scenario
from .workload import Workload


async def run(args: StackArgs, secure: SecureArgs) -> StackFigures:
    """Connect every client over TLS, publish, and disconnect; return the figures."""
    return await run_gmqtt(
        "gmqtt-tls-noticket" if secure.no_ticket else "gmqtt-tls",
        args,
        Workload(tls_scenario(args)),
        ssl_context=tls_context(secure),
        credentials=(secure.username, secure.password),
    )


def main() -> None:
    """Entry point: ``python -m clients.gmqtt_tls_stack --ca-file F --username U --password P
    --port TLS_PORT --devices N --messages M``."""
    args, secure = parse_secure_args(__doc__ or "gmqtt TLS stack")
    prepare_process()
    # gmqtt logs every connection event; at 10,000 clients that is noise, not information.
    logging.getLogger("gmqtt").setLevel(logging.ERROR)
    report(uvloop.run(run(args, secure)))


if __name__ == "__main__":
    main()
