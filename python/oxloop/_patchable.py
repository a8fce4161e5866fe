"""The transport classes the loop instantiates: the Rust transports plus an
instance `__dict__`.

Test suites (aiohttp's among them) replace a method of one transport with
`mock.patch.object(transport, "write", ...)`, and programs hang attributes
on transports; asyncio's transports have a `__dict__` for that, the Rust
ones have none. These empty Python subclasses give them one the way any
Python class gets it, so CPython's own code allocates, traverses and frees
it. (A `__dict__` declared on the Rust classes themselves crashed the
collector: it traversed a transport still being built, under load.)

Attribute lookups stay as fast: methods are found on the type, as before,
and the instance dictionary is only made when something is set on it.
"""

from __future__ import annotations

from . import _core


class SocketTransport(_core.SocketTransport):
    """A stream (TCP or Unix) transport with an instance `__dict__`."""


class DatagramTransport(_core.DatagramTransport):
    """A datagram transport with an instance `__dict__`."""


# CPython 3.11 calls a method descriptor by its fast path only for an instance of exactly
# the descriptor's class: give the subclasses descriptors of their own.
_core._install_subclass_methods(SocketTransport)
_core._install_subclass_methods(DatagramTransport)
