"""The asyncio classes oxloop's Rust transports present themselves as.

A PyO3 class cannot derive from a Python class, so the Rust transports
cannot subclass asyncio.Transport. Instead their `__class__` attribute
names these subclasses, which is what `isinstance()` consults after the
real type (the protocol `unittest.mock` uses too): `isinstance(tr,
asyncio.Transport)` is true, while `type(tr)` stays the Rust class. The
methods are never called through these classes.
"""

from __future__ import annotations

from asyncio import transports


class SocketTransport(transports.Transport):
    """What `oxloop._core.SocketTransport` reports as its `__class__`."""

    __slots__ = ()


class DatagramTransport(transports.Transport, transports.DatagramTransport):
    """What `oxloop._core.DatagramTransport` reports as its `__class__` (asyncio's
    selector datagram transport is a Transport too)."""

    __slots__ = ()


class ReadPipeTransport(transports.ReadTransport):
    """What `oxloop._core.ReadPipeTransport` reports as its `__class__`."""

    __slots__ = ()


class WritePipeTransport(transports.WriteTransport):
    """What `oxloop._core.WritePipeTransport` reports as its `__class__`."""

    __slots__ = ()
