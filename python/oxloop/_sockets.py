"""Low-level socket coroutines (sock_recv, sock_sendall, ...) for oxloop.Loop."""

from __future__ import annotations


class SocketMixin:
    """Placeholder: the sock_* coroutines are being written."""
