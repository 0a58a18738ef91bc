"""A TLS handshake between two ``ssl`` contexts through memory buffers, with no sockets."""

from __future__ import annotations

import ssl

ROUNDS = 10
"""Far more flights than a TLS 1.2 or 1.3 handshake takes; more means it is stuck."""


def handshake(client: ssl.SSLContext, server: ssl.SSLContext, server_name: str) -> ssl.SSLObject:
    """Complete a handshake of ``client`` (asking for ``server_name``) with ``server``; return
    the server's side, which knows the certificate the client presented. A verification error
    of either side is raised as is."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client_side = client.wrap_bio(c_in, c_out, server_hostname=server_name)
    server_side = server.wrap_bio(s_in, s_out, server_side=True)
    done = {client_side: False, server_side: False}
    for _ in range(ROUNDS):
        for side in (client_side, server_side):
            if not done[side]:
                try:
                    side.do_handshake()
                    done[side] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return server_side
    raise AssertionError("handshake did not finish")
