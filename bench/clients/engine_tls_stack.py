"""The engine stack over TLS, against the secure broker profile.

The workload of :mod:`clients.engine_stack` (QoS 0), with every connection a TLS session
checked against the test CA (one shared ``ssl.SSLContext``, server name checked) and
authenticated with the load fleet's user name and password, publishing under ``factory/``
where the profile's ACL lets that user write. ``--no-ticket`` sets ``ssl.OP_NO_TICKET`` on the
context (the ``engine_tls_noticket`` stack of ``bench/run.py``); ``--tls-layer full`` makes
the engine's TLS layer resume no session (``engine_tls_full``), ``--tls-layer asyncio`` hands
TLS to uvloop's ``SSLProtocol`` as gmqtt does (``engine_tls_uvloop``); ``--tls12`` caps the
version (``engine_tls12``); ``--copy-session`` offers the session through CPython's setter,
which copies it (``engine_tls_copy``, see :mod:`simulator.transport.tls_session`).
"""

from __future__ import annotations

import uvloop

from simulator.transport.tls_link import TlsClient

from .common import StackArgs, StackFigures, prepare_process, report
from .engine_driver import run_engine
from .secure import SecureArgs, parse_secure_args, tls_context, tls_scenario


async def run(args: StackArgs, secure: SecureArgs) -> StackFigures:
    """Onboard every device over TLS, publish, and disconnect; return the figures."""
    name = "engine-tls-noticket" if secure.no_ticket else f"engine-tls-{secure.tls_layer}"
    name += "-tls12" if secure.tls12 else ""
    name += "-copy" if secure.copy_session else ""
    return await run_engine(
        name,
        args,
        tls_scenario(args),
        ssl_context=tls_context(secure),
        tls_layer=secure.tls_layer,
        tls_client=TlsClient(args.host, copy_sessions=True) if secure.copy_session else None,
        credentials=secure.credentials(),
    )


def main() -> None:
    """Entry point: ``python -m clients.engine_tls_stack --ca-file F --username U --password P
    --port TLS_PORT --devices N --messages M``."""
    args, secure = parse_secure_args(__doc__ or "engine TLS stack")
    prepare_process()
    report(uvloop.run(run(args, secure)))


if __name__ == "__main__":
    main()
