"""Connections and servers for oxloop.Loop: create_connection, create_server,
the Unix variants, connect_accepted_socket and sendfile.

This is the orchestration, which runs once per connection: resolving
addresses, making and connecting sockets, accepting. Each connected socket is
handed to a Rust `_core.SocketTransport`, which does all per-byte work and
calls the protocol directly.
"""

from __future__ import annotations

import collections.abc
import contextvars
import errno
import functools
import itertools
import logging
import os
import socket
import stat
import sys
from asyncio import constants, exceptions, futures, staggered, streams, tasks, trsock

from . import _core, _patchable, _sockets
from ._server import Server

try:
    import ssl as _ssl
except ImportError:  # pragma: no cover - Python built without ssl
    _ssl = None

logger = logging.getLogger("asyncio")

_HAS_IPV6 = hasattr(socket, "AF_INET6")
_ACCEPT_RESOURCE_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_HAS_ALL_ERRORS = sys.version_info >= (3, 12)
# Python 3.13 made create_unix_server(sock=...) unlink the caller's socket file on close
# (cleanup_socket=True); before 3.13 asyncio never touches a socket the caller passed (its
# file may belong to the caller, e.g. systemd socket activation). Follow the running version.
# A socket file oxloop binds itself (path=...) is removed on close on every version.
_CLEANUP_CALLER_SOCKET = sys.version_info >= (3, 13)
# Python 3.13: create_server skips an address that cannot be bound because its family is
# not enabled (EADDRNOTAVAIL, bpo-30945), bind errors quote str(exc) rather than
# exc.strerror, and create_datagram_endpoint(sock=...) refuses only stream sockets.
_PY313_BIND_RULES = sys.version_info >= (3, 13)
# Python 3.15: a transport's protocol callbacks all run in one contextvars.Context,
# copied when create_connection() is called, or for a server's connection from the
# context the server was created in (gh-140947: not in whatever context last paused
# or resumed reading).
_TRANSPORT_CONTEXTS = sys.version_info >= (3, 15)


def _bind_error(err, address):
    """The OSError asyncio raises when binding `address` failed with `err`."""
    text = str(err) if _PY313_BIND_RULES else err.strerror
    return OSError(
        err.errno, f"error while attempting to bind on address {address!r}: {text.lower()}"
    )


def _connection_context(server):
    """The context a new connection of `server` runs in (3.15+), or None."""
    if not _TRANSPORT_CONTEXTS or server is None:
        return None
    captured = getattr(server, "_context", None)
    return captured.copy() if captured is not None else None


def _hand_over_buffered_stream_data(protocol, ssl_protocol):
    """Before a server's start_tls(), its StreamReader may already hold the client's
    first TLS records (read with the plain-text data): they are the TLS layer's now,
    or the handshake waits for bytes that already arrived (gh-142352; asyncio 3.14.x
    does the same)."""
    if not isinstance(protocol, streams.StreamReaderProtocol):
        return
    reader = getattr(protocol, "_stream_reader", None)
    incoming = getattr(ssl_protocol, "_incoming", None)
    if reader is None or incoming is None:
        return
    buffered = reader._buffer
    if buffered:
        incoming.write(buffered)
        buffered.clear()


def _set_nodelay(sock):
    """TCP_NODELAY on TCP sockets, as asyncio sets it on every TCP transport."""
    if (
        sock.family in (socket.AF_INET, getattr(socket, "AF_INET6", socket.AF_INET))
        and sock.type == socket.SOCK_STREAM
        and sock.proto == socket.IPPROTO_TCP
    ):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _set_reuseport(sock):
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("reuse_port not supported by socket module")
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    except OSError:
        raise ValueError(
            "reuse_port not supported by socket module, SO_REUSEPORT defined but not implemented."
        ) from None


def _check_ssl_socket(sock):
    if _ssl is not None and isinstance(sock, _ssl.SSLSocket):
        raise TypeError("Socket cannot be of type SSLSocket")


def _interleave_addrinfos(addrinfos, first_address_family_count=1):
    """Reorder addrinfos so that address families alternate (RFC 8305)."""
    by_family = {}
    for info in addrinfos:
        by_family.setdefault(info[0], []).append(info)
    lists = list(by_family.values())
    reordered = []
    if first_address_family_count > 1:
        reordered.extend(lists[0][: first_address_family_count - 1])
        del lists[0][: first_address_family_count - 1]
    for group in itertools.zip_longest(*lists):
        reordered.extend(info for info in group if info is not None)
    return reordered


def _transport_extra(sock, extra):
    info = {"socket": trsock.TransportSocket(sock)}
    try:
        info["sockname"] = sock.getsockname()
    except OSError:
        info["sockname"] = None
    if "peername" not in (extra or {}):
        try:
            info["peername"] = sock.getpeername()
        except OSError:
            info["peername"] = None
    if extra:
        info.update(extra)
    return info


def _check_ssl_timeouts(with_ssl, handshake_timeout, shutdown_timeout):
    """asyncio's ValueError for TLS timeouts given without TLS."""
    if handshake_timeout is not None and not with_ssl:
        raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
    if shutdown_timeout is not None and not with_ssl:
        raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")


class _SendfileWriter:
    """Stands in for the protocol while sendfile's fallback writes: it tracks
    pause_writing/resume_writing so the copy loop waits instead of buffering."""

    def __init__(self, transport):
        self._transport = transport
        self._proto = transport.get_protocol()
        self._resume_reading = transport.is_reading()
        paused = transport._protocol_paused
        transport.pause_reading()
        transport.set_protocol(self)
        loop = transport._loop
        self._loop = loop
        self._ready = loop.create_future() if paused else None

    async def drain(self):
        if self._transport.is_closing():
            raise ConnectionError("Connection closed by peer")
        if self._ready is not None:
            await self._ready

    def connection_made(self, transport):
        raise RuntimeError("Invalid state: connection should have been established already.")

    def connection_lost(self, exc):
        fut = self._ready
        if fut is not None and not fut.done():
            if exc is None:
                fut.set_exception(ConnectionError("Connection is closed by peer"))
            else:
                fut.set_exception(exc)
        self._proto.connection_lost(exc)

    def pause_writing(self):
        if self._ready is None:
            self._ready = self._loop.create_future()

    def resume_writing(self):
        fut = self._ready
        self._ready = None
        if fut is not None and not fut.done():
            fut.set_result(False)

    def data_received(self, data):
        raise RuntimeError("Invalid state: reading should be paused")

    def eof_received(self):
        raise RuntimeError("Invalid state: reading should be paused")

    async def restore(self):
        self._transport.set_protocol(self._proto)
        if self._resume_reading:
            self._transport.resume_reading()
        if self._ready is not None:
            self._ready.cancel()
        if self._transport._protocol_paused:
            self._proto.pause_writing()
        else:
            self._proto.resume_writing()


class NetworkMixin:
    """Stream connections, servers and sendfile for oxloop.Loop."""

    def _init_network(self):
        # fd -> transport, so that sock_* and add_reader refuse an fd a transport
        # owns (asyncio 3.11 does the same). A plain dict (no weak reference per
        # connection): transports remove themselves once their connection is lost.
        self._transports = {}
        # listening Unix socket -> (path, inode) to unlink on close (cleanup_socket).
        self._unix_server_sockets = {}
        # fd -> the object add_reader (index 0) / add_writer (1) was given for it,
        # when not an int. Once the object is closed its fileno() is -1; like
        # asyncio's selector, remove_reader(obj) then finds the fd by identity.
        self._io_fileobjs = ({}, {})

    def _ensure_fd_no_transport(self, fd):
        """The fd of `fd` (an int or an object with fileno()); refuses one a
        live transport owns."""
        fileno = fd
        if not isinstance(fileno, int):
            try:
                fileno = int(fileno.fileno())
            except (AttributeError, TypeError, ValueError):
                raise ValueError(f"Invalid file object: {fd!r}") from None
        transport = self._transports.get(fileno)
        if transport is not None and not transport.is_closing():
            raise RuntimeError(f"File descriptor {fd!r} is used by transport {transport!r}")
        return fileno

    # Without the transport check, for the loop's own use (asyncio has the same split).
    _add_reader = _core.CoreLoop.add_reader
    _add_writer = _core.CoreLoop.add_writer
    _remove_reader = _core.CoreLoop.remove_reader
    _remove_writer = _core.CoreLoop.remove_writer

    def add_reader(self, fd, callback, *args):
        fileno = self._ensure_fd_no_transport(fd)
        handle = self._add_reader(fd, callback, *args)
        self._note_fileobj(0, fileno, fd)
        return handle

    def add_writer(self, fd, callback, *args):
        fileno = self._ensure_fd_no_transport(fd)
        handle = self._add_writer(fd, callback, *args)
        self._note_fileobj(1, fileno, fd)
        return handle

    def remove_reader(self, fd):
        fileno = self._registered_fd(0, self._ensure_fd_no_transport(fd), fd)
        return fileno is not None and self._remove_reader(fileno)

    def remove_writer(self, fd):
        fileno = self._registered_fd(1, self._ensure_fd_no_transport(fd), fd)
        return fileno is not None and self._remove_writer(fileno)

    def _note_fileobj(self, side, fileno, fd):
        if isinstance(fd, int):
            self._io_fileobjs[side].pop(fileno, None)
        else:
            self._io_fileobjs[side][fileno] = fd

    def _registered_fd(self, side, fileno, fd):
        """The fd to unregister for `remove_reader(fd)`/`remove_writer(fd)`.

        A closed object (fileno() is -1) is looked up among the objects
        registered, by identity, as asyncio's selector does (ValueError if it
        is not there); None if its fd number now belongs to a transport."""
        objs = self._io_fileobjs[side]
        if fileno < 0:
            found = next((n for n, obj in objs.items() if obj is fd), None)
            if found is None:
                raise ValueError(f"Invalid file descriptor: {fileno}")
            fileno = found
            del objs[fileno]
            # Its number went to a transport since: that registration is not fd's.
            return None if fileno in self._transports else fileno
        objs.pop(fileno, None)
        return fileno

    # -- transports -------------------------------------------------------------------------

    def _make_socket_transport(
        self, sock, protocol, waiter=None, *, extra=None, server=None, context=None
    ):
        transport = _patchable.SocketTransport(self, sock, protocol, extra, server, context)
        self._transports[transport._sock_fd] = transport
        if server is not None:
            server._attach(transport)
        _set_nodelay(sock)
        transport._start()
        if waiter is not None:
            self.call_soon(futures._set_result_unless_cancelled, waiter, None)
        return transport

    def _make_ssl_transport(
        self,
        rawsock,
        protocol,
        sslcontext,
        waiter,
        *,
        server_side=False,
        server_hostname=None,
        extra=None,
        server=None,
        ssl_handshake_timeout=None,
        ssl_shutdown_timeout=None,
        context=None,
    ):
        from asyncio import sslproto

        ssl_protocol = sslproto.SSLProtocol(
            self,
            protocol,
            sslcontext,
            waiter,
            server_side,
            server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout,
        )
        self._make_socket_transport(
            rawsock, ssl_protocol, extra=extra, server=server, context=context
        )
        return ssl_protocol._app_transport

    async def _create_connection_transport(
        self,
        sock,
        protocol_factory,
        ssl,
        server_hostname,
        server_side=False,
        ssl_handshake_timeout=None,
        ssl_shutdown_timeout=None,
        context=None,
    ):
        try:
            sock.setblocking(False)
            if _TRANSPORT_CONTEXTS and context is None:
                context = contextvars.copy_context()
            # Only 3.15 passes it on: tests of older versions mock these two hooks and
            # check the exact call.
            where = {"context": context} if _TRANSPORT_CONTEXTS else {}
            protocol = protocol_factory()
            waiter = self.create_future()
            if ssl:
                sslcontext = None if isinstance(ssl, bool) else ssl
                if sslcontext is None:
                    import ssl as ssl_module

                    sslcontext = ssl_module.create_default_context()
                transport = self._make_ssl_transport(
                    sock,
                    protocol,
                    sslcontext,
                    waiter,
                    server_side=server_side,
                    server_hostname=server_hostname,
                    ssl_handshake_timeout=ssl_handshake_timeout,
                    ssl_shutdown_timeout=ssl_shutdown_timeout,
                    **where,
                )
            else:
                transport = self._make_socket_transport(sock, protocol, waiter, **where)
        except BaseException:
            # No transport owns the socket: close it, the caller's included (gh-153133).
            sock.close()
            raise
        try:
            await waiter
        except BaseException:
            transport.close()
            raise
        return transport, protocol

    # -- create_connection -------------------------------------------------------------------

    async def _connect_sock(self, exceptions_out, addr_info, local_addr_infos=None):
        """Create, bind and connect one socket; its errors go to exceptions_out."""
        my_exceptions = []
        exceptions_out.append(my_exceptions)
        family, type_, proto, _, address = addr_info
        sock = None
        try:
            sock = socket.socket(family=family, type=type_, proto=proto)
            sock.setblocking(False)
            if local_addr_infos is not None:
                for lfamily, _, _, _, laddr in local_addr_infos:
                    if lfamily != family:
                        continue
                    try:
                        sock.bind(laddr)
                        break
                    except OSError as exc:
                        my_exceptions.append(_bind_error(exc, laddr))
                else:
                    if my_exceptions:
                        raise my_exceptions.pop()
                    raise OSError(f"no matching local address with {family=} found")
            await self.sock_connect(sock, address)
            return sock
        except OSError as exc:
            my_exceptions.append(exc)
            if sock is not None:
                sock.close()
            raise
        except BaseException:
            if sock is not None:
                sock.close()
            raise
        finally:
            exceptions_out = my_exceptions = None

    async def create_connection(
        self,
        protocol_factory,
        host=None,
        port=None,
        *,
        ssl=None,
        family=0,
        proto=0,
        flags=0,
        sock=None,
        local_addr=None,
        server_hostname=None,
        ssl_handshake_timeout=None,
        ssl_shutdown_timeout=None,
        happy_eyeballs_delay=None,
        interleave=None,
        all_errors=False,
    ):
        """Connect to host:port (or use `sock`); return (transport, protocol)."""
        if all_errors and not _HAS_ALL_ERRORS:
            raise TypeError("create_connection() got an unexpected keyword argument 'all_errors'")
        if server_hostname is not None and not ssl:
            raise ValueError("server_hostname is only meaningful with ssl")
        if server_hostname is None and ssl:
            if not host:
                raise ValueError("You must set server_hostname when using ssl without a host")
            server_hostname = host
        _check_ssl_timeouts(bool(ssl), ssl_handshake_timeout, ssl_shutdown_timeout)
        if sock is not None:
            _check_ssl_socket(sock)
        if happy_eyeballs_delay is not None and interleave is None:
            interleave = 1

        if host is not None or port is not None:
            if sock is not None:
                raise ValueError("host/port and sock can not be specified at the same time")
            infos = await self._ensure_resolved(
                (host, port),
                family=family,
                type=socket.SOCK_STREAM,
                proto=proto,
                flags=flags,
                loop=self,
            )
            if not infos:
                raise OSError("getaddrinfo() returned empty list")
            if local_addr is not None:
                laddr_infos = await self._ensure_resolved(
                    local_addr,
                    family=family,
                    type=socket.SOCK_STREAM,
                    proto=proto,
                    flags=flags,
                    loop=self,
                )
                if not laddr_infos:
                    raise OSError("getaddrinfo() returned empty list")
            else:
                laddr_infos = None
            if interleave:
                infos = _interleave_addrinfos(infos, interleave)

            errors = []
            if happy_eyeballs_delay is None:
                for addrinfo in infos:
                    try:
                        sock = await self._connect_sock(errors, addrinfo, laddr_infos)
                        break
                    except OSError:
                        continue
            else:
                # The attempts reach `errors` through this frame's closure cell, which
                # the `errors = None` below empties: a partial holding the list itself
                # would stay reachable from the raised error's traceback. For the same
                # reason only the winner is kept of the race's result.
                def attempt(addrinfo):
                    return self._connect_sock(errors, addrinfo, laddr_infos)

                sock = (
                    await staggered.staggered_race(
                        (functools.partial(attempt, addrinfo) for addrinfo in infos),
                        happy_eyeballs_delay,
                        loop=self,
                    )
                )[0]
            if sock is None:
                flat = [exc for sub in errors for exc in sub]
                try:
                    if all_errors:
                        raise ExceptionGroup("create_connection failed", flat)  # noqa: F821
                    if not flat:
                        # Every attempt was cancelled without an error (gh-135836).
                        raise TimeoutError("create_connection failed")
                    if len(flat) == 1:
                        raise flat[0]
                    model = str(flat[0])
                    if all(str(exc) == model for exc in flat):
                        raise flat[0]
                    raise OSError(
                        "Multiple exceptions: {}".format(", ".join(str(exc) for exc in flat))
                    )
                finally:
                    flat = errors = None
        else:
            if sock is None:
                raise ValueError("host and port was not specified and no sock specified")
            if sock.type != socket.SOCK_STREAM:
                raise ValueError(f"A Stream Socket was expected, got {sock!r}")

        return await self._create_connection_transport(
            sock,
            protocol_factory,
            ssl,
            server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout,
        )

    async def connect_accepted_socket(
        self,
        protocol_factory,
        sock,
        *,
        ssl=None,
        ssl_handshake_timeout=None,
        ssl_shutdown_timeout=None,
    ):
        """Wrap an already accepted socket in a transport; return (transport, protocol)."""
        _check_ssl_socket(sock)
        _check_ssl_timeouts(bool(ssl), ssl_handshake_timeout, ssl_shutdown_timeout)
        if sock.type != socket.SOCK_STREAM:
            raise ValueError(f"A Stream Socket was expected, got {sock!r}")
        return await self._create_connection_transport(
            sock,
            protocol_factory,
            ssl,
            "",
            server_side=True,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout,
        )

    # -- servers ----------------------------------------------------------------------------

    def _start_serving(
        self,
        protocol_factory,
        sock,
        sslcontext=None,
        server=None,
        backlog=100,
        ssl_handshake_timeout=None,
        ssl_shutdown_timeout=None,
    ):
        self._add_reader(
            sock.fileno(),
            self._accept_connection,
            protocol_factory,
            sock,
            sslcontext,
            server,
            backlog,
            ssl_handshake_timeout,
            ssl_shutdown_timeout,
        )

    def _stop_serving(self, sock):
        self._remove_reader(sock.fileno())
        unix = self._unix_server_sockets.pop(sock, None)
        if unix is not None:
            path, inode = unix
            try:
                if os.stat(path).st_ino == inode:
                    os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as err:
                logger.error("Unable to clean up listening UNIX socket %r: %r", path, err)
        sock.close()

    def _accept_connection(
        self,
        protocol_factory,
        sock,
        sslcontext,
        server,
        backlog,
        ssl_handshake_timeout,
        ssl_shutdown_timeout,
    ):
        """Reader callback of a listening socket: accept up to `backlog` connections."""
        accept = sock.accept
        for _ in range(backlog):
            try:
                conn, addr = accept()
                conn.setblocking(False)
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno in _ACCEPT_RESOURCE_ERRNOS:
                    # Out of fds or memory: stop watching the socket (no busy loop),
                    # say so, and try again later.
                    self.call_exception_handler(
                        {
                            "message": "socket.accept() out of system resource",
                            "exception": exc,
                            "socket": trsock.TransportSocket(sock),
                        }
                    )
                    self._remove_reader(sock.fileno())
                    self.call_later(
                        constants.ACCEPT_RETRY_DELAY,
                        self._resume_serving,
                        protocol_factory,
                        sock,
                        sslcontext,
                        server,
                        backlog,
                        ssl_handshake_timeout,
                        ssl_shutdown_timeout,
                    )
                    return
                raise  # the loop reports it and keeps going
            # 3.15: each connection runs in its own copy of the server's context.
            conn_context = _connection_context(server)
            if sslcontext:
                self.create_task(
                    self._accept_ssl(
                        protocol_factory,
                        conn,
                        {"peername": addr},
                        sslcontext,
                        server,
                        ssl_handshake_timeout,
                        ssl_shutdown_timeout,
                        conn_context,
                    ),
                    context=conn_context,
                )
            elif conn_context is not None:
                conn_context.run(
                    self._accept_plain, protocol_factory, conn, addr, server, conn_context
                )
            else:
                self._accept_plain(protocol_factory, conn, addr, server)

    def _resume_serving(self, protocol_factory, sock, *args):
        if sock.fileno() != -1 and (args[1] is None or args[1].is_serving()):
            self._start_serving(protocol_factory, sock, *args)

    def _accept_plain(self, protocol_factory, conn, addr, server, context=None):
        """Builds the transport of an accepted connection right away (no task)."""
        protocol = None
        try:
            protocol = protocol_factory()
            self._make_socket_transport(
                conn, protocol, extra={"peername": addr}, server=server, context=context
            )
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            conn.close()
            if self.get_debug():
                context = {
                    "message": "Error on transport creation for incoming connection",
                    "exception": exc,
                }
                if protocol is not None:
                    context["protocol"] = protocol
                self.call_exception_handler(context)

    async def _accept_ssl(
        self,
        protocol_factory,
        conn,
        extra,
        sslcontext,
        server,
        ssl_handshake_timeout,
        ssl_shutdown_timeout,
        context=None,
    ):
        protocol = None
        transport = None
        try:
            protocol = protocol_factory()
            waiter = self.create_future()
            transport = self._make_ssl_transport(
                conn,
                protocol,
                sslcontext,
                waiter=waiter,
                server_side=True,
                extra=extra,
                server=server,
                ssl_handshake_timeout=ssl_handshake_timeout,
                ssl_shutdown_timeout=ssl_shutdown_timeout,
                context=context,
            )
            try:
                await waiter
            except BaseException:
                transport.close()
                raise
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            if self.get_debug():
                context = {
                    "message": "Error on transport creation for incoming connection",
                    "exception": exc,
                }
                if protocol is not None:
                    context["protocol"] = protocol
                if transport is not None:
                    context["transport"] = transport
                self.call_exception_handler(context)

    async def _create_server_getaddrinfo(self, host, port, family, flags):
        infos = await self._ensure_resolved(
            (host, port), family=family, type=socket.SOCK_STREAM, flags=flags, loop=self
        )
        if not infos:
            raise OSError(f"getaddrinfo({host!r}) returned empty list")
        return infos

    async def create_server(
        self,
        protocol_factory,
        host=None,
        port=None,
        *,
        family=socket.AF_UNSPEC,
        flags=socket.AI_PASSIVE,
        sock=None,
        backlog=100,
        ssl=None,
        reuse_address=None,
        reuse_port=None,
        ssl_handshake_timeout=None,
        ssl_shutdown_timeout=None,
        start_serving=True,
        keep_alive=None,
    ):
        """A Server listening on host:port (several hosts allowed) or on `sock`.

        `keep_alive` (asyncio 3.13) sets SO_KEEPALIVE on the sockets it creates."""
        if isinstance(ssl, bool):
            raise TypeError("ssl argument must be an SSLContext or None")
        _check_ssl_timeouts(ssl is not None, ssl_handshake_timeout, ssl_shutdown_timeout)
        if sock is not None:
            _check_ssl_socket(sock)

        if host is not None or port is not None:
            if sock is not None:
                raise ValueError("host/port and sock can not be specified at the same time")
            if reuse_address is None:
                reuse_address = os.name == "posix" and sys.platform != "cygwin"
            if host == "":
                hosts = [None]
            elif isinstance(host, str) or not isinstance(host, collections.abc.Iterable):
                hosts = [host]
            else:
                hosts = host
            infos = await tasks.gather(
                *[self._create_server_getaddrinfo(h, port, family, flags) for h in hosts]
            )
            infos = set(itertools.chain.from_iterable(infos))
            sockets = []
            completed = False
            try:
                for af, socktype, proto, _, sa in infos:
                    try:
                        sock = socket.socket(af, socktype, proto)
                    except OSError:
                        if self.get_debug():
                            logger.warning(
                                "create_server() failed to create socket.socket(%r, %r, %r)",
                                af,
                                socktype,
                                proto,
                                exc_info=True,
                            )
                        continue
                    sockets.append(sock)
                    if reuse_address:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, True)
                    if reuse_port:
                        _set_reuseport(sock)
                    if _HAS_IPV6 and af == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, True)
                    if keep_alive:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, True)
                    try:
                        sock.bind(sa)
                    except OSError as err:
                        error = _bind_error(err, sa)
                        if _PY313_BIND_RULES and err.errno == errno.EADDRNOTAVAIL:
                            # The family is not enabled on this host: skip the address.
                            sockets.pop()
                            sock.close()
                            if self.get_debug():
                                logger.warning(str(error))
                            continue
                        raise error from None
                if _PY313_BIND_RULES and not sockets:
                    raise OSError(
                        f"could not bind on any address out of {[info[4] for info in infos]!r}"
                    )
                completed = True
            finally:
                if not completed:
                    for s in sockets:
                        s.close()
        else:
            if sock is None:
                raise ValueError("Neither host/port nor sock were specified")
            if sock.type != socket.SOCK_STREAM:
                raise ValueError(f"A Stream Socket was expected, got {sock!r}")
            sockets = [sock]

        for s in sockets:
            s.setblocking(False)
        server = Server(
            self,
            sockets,
            protocol_factory,
            ssl,
            backlog,
            ssl_handshake_timeout,
            ssl_shutdown_timeout,
        )
        if start_serving:
            server._start_serving()
            await tasks.sleep(0)
        if self.get_debug():
            logger.info("%r is serving", server)
        return server

    # -- Unix sockets --------------------------------------------------------------------------

    async def create_unix_connection(
        self,
        protocol_factory,
        path=None,
        *,
        ssl=None,
        sock=None,
        server_hostname=None,
        ssl_handshake_timeout=None,
        ssl_shutdown_timeout=None,
    ):
        """Connect to the Unix socket at `path` (or use `sock`)."""
        if server_hostname is not None and not isinstance(server_hostname, str):
            raise TypeError("server_hostname must be a str")
        if ssl:
            if server_hostname is None:
                raise ValueError("you have to pass server_hostname when using ssl")
        else:
            if server_hostname is not None:
                raise ValueError("server_hostname is only meaningful with ssl")
            _check_ssl_timeouts(False, ssl_handshake_timeout, ssl_shutdown_timeout)
        if path is not None:
            if sock is not None:
                raise ValueError("path and sock can not be specified at the same time")
            path = os.fspath(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0)
            try:
                sock.setblocking(False)
                await self.sock_connect(sock, path)
            except BaseException:
                sock.close()
                raise
        else:
            if sock is None:
                raise ValueError("no path and sock were specified")
            if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
                raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")
            sock.setblocking(False)
        return await self._create_connection_transport(
            sock,
            protocol_factory,
            ssl,
            server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout,
        )

    async def create_unix_server(
        self,
        protocol_factory,
        path=None,
        *,
        sock=None,
        backlog=100,
        ssl=None,
        ssl_handshake_timeout=None,
        ssl_shutdown_timeout=None,
        start_serving=True,
        cleanup_socket=None,
    ):
        """A Server on the Unix socket `path` (abstract if it starts with NUL) or `sock`.

        On close, the socket file is removed if `cleanup_socket` is true; by default (None)
        for a file bound here from `path`, and for a caller's `sock` from Python 3.13 on."""
        if isinstance(ssl, bool):
            raise TypeError("ssl argument must be an SSLContext or None")
        _check_ssl_timeouts(bool(ssl), ssl_handshake_timeout, ssl_shutdown_timeout)
        if path is not None:
            if sock is not None:
                raise ValueError("path and sock can not be specified at the same time")
            path = os.fspath(path)
            if cleanup_socket is None:
                cleanup_socket = True
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            abstract = path[0] in (0, "\x00")
            if not abstract:
                try:
                    if stat.S_ISSOCK(os.stat(path).st_mode):
                        os.remove(path)
                except FileNotFoundError:
                    pass
                except OSError as err:
                    logger.error("Unable to check or remove stale UNIX socket %r: %r", path, err)
            try:
                sock.bind(path)
            except OSError as exc:
                sock.close()
                if exc.errno == errno.EADDRINUSE:
                    raise OSError(errno.EADDRINUSE, f"Address {path!r} is already in use") from None
                raise
            except BaseException:
                sock.close()
                raise
        else:
            if sock is None:
                raise ValueError("path was not specified, and no sock specified")
            if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
                raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")
            path = sock.getsockname()
            abstract = not path or path[0] in (0, "\x00")
            if cleanup_socket is None:
                cleanup_socket = _CLEANUP_CALLER_SOCKET
        if cleanup_socket and not abstract:
            try:
                self._unix_server_sockets[sock] = (path, os.stat(path).st_ino)
            except OSError:
                pass
        sock.setblocking(False)
        server = Server(
            self,
            [sock],
            protocol_factory,
            ssl,
            backlog,
            ssl_handshake_timeout,
            ssl_shutdown_timeout,
        )
        if start_serving:
            server._start_serving()
            await tasks.sleep(0)
        return server

    # -- TLS upgrade ---------------------------------------------------------------------------

    async def start_tls(
        self,
        transport,
        protocol,
        sslcontext,
        *,
        server_side=False,
        server_hostname=None,
        ssl_handshake_timeout=None,
        ssl_shutdown_timeout=None,
    ):
        """Upgrade `transport` to TLS; return the new transport `protocol` must use."""
        if _ssl is None:
            raise RuntimeError("Python ssl module is not available")
        if not isinstance(sslcontext, _ssl.SSLContext):
            raise TypeError(
                f"sslcontext is expected to be an instance of ssl.SSLContext, got {sslcontext!r}"
            )
        if not getattr(transport, "_start_tls_compatible", False):
            raise TypeError(f"transport {transport!r} is not supported by start_tls()")
        from asyncio import sslproto

        waiter = self.create_future()
        ssl_protocol = sslproto.SSLProtocol(
            self,
            protocol,
            sslcontext,
            waiter,
            server_side,
            server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout,
            call_connection_made=False,
        )
        # Paused first, so that no data reaches the SSL protocol before connection_made.
        transport.pause_reading()
        if server_side:
            _hand_over_buffered_stream_data(protocol, ssl_protocol)
        transport.set_protocol(ssl_protocol)
        conmade_cb = self.call_soon(ssl_protocol.connection_made, transport)
        resume_cb = self.call_soon(transport.resume_reading)
        try:
            await waiter
        except BaseException:
            transport.close()
            conmade_cb.cancel()
            resume_cb.cancel()
            # The error's traceback holds this frame: drop what would tie it to the
            # transport in a cycle (gh-159049), so a failed start_tls frees it at once.
            waiter = ssl_protocol = transport = None
            raise
        return ssl_protocol._app_transport

    # -- datagrams -----------------------------------------------------------------------------

    def _make_datagram_transport(self, sock, protocol, address=None, waiter=None, extra=None):
        transport = _patchable.DatagramTransport(
            self, sock, protocol, _transport_extra(sock, extra), address
        )
        self._transports[transport._sock_fd] = transport
        transport._start()
        if waiter is not None:
            self.call_soon(futures._set_result_unless_cancelled, waiter, None)
        return transport

    async def create_datagram_endpoint(
        self,
        protocol_factory,
        local_addr=None,
        remote_addr=None,
        *,
        family=0,
        proto=0,
        flags=0,
        reuse_port=None,
        allow_broadcast=None,
        sock=None,
    ):
        """A datagram endpoint bound to local_addr and/or connected to remote_addr."""
        if sock is not None:
            if _PY313_BIND_RULES:
                if sock.type == socket.SOCK_STREAM:
                    raise ValueError(f"A datagram socket was expected, got {sock!r}")
            elif sock.type != socket.SOCK_DGRAM:
                raise ValueError(f"A UDP Socket was expected, got {sock!r}")
            if (
                local_addr
                or remote_addr
                or family
                or proto
                or flags
                or reuse_port
                or allow_broadcast
            ):
                opts = dict(
                    local_addr=local_addr,
                    remote_addr=remote_addr,
                    family=family,
                    proto=proto,
                    flags=flags,
                    reuse_port=reuse_port,
                    allow_broadcast=allow_broadcast,
                )
                problems = ", ".join(f"{k}={v}" for k, v in opts.items() if v)
                raise ValueError(
                    "socket modifier keyword arguments can not be used "
                    f"when sock is specified. ({problems})"
                )
            sock.setblocking(False)
            r_addr = None
        else:
            if not (local_addr or remote_addr):
                if family == 0:
                    raise ValueError("unexpected address family")
                addr_pairs_info = (((family, proto), (None, None)),)
            elif hasattr(socket, "AF_UNIX") and family == socket.AF_UNIX:
                for addr in (local_addr, remote_addr):
                    if addr is not None and not isinstance(addr, str):
                        raise TypeError("string is expected")
                if local_addr and local_addr[0] not in (0, "\x00"):
                    try:
                        if stat.S_ISSOCK(os.stat(local_addr).st_mode):
                            os.remove(local_addr)
                    except FileNotFoundError:
                        pass
                    except OSError as err:
                        logger.error(
                            "Unable to check or remove stale UNIX socket %r: %r", local_addr, err
                        )
                addr_pairs_info = (((family, proto), (local_addr, remote_addr)),)
            else:
                addr_infos = {}
                for idx, addr in ((0, local_addr), (1, remote_addr)):
                    if addr is None:
                        continue
                    if not (isinstance(addr, tuple) and len(addr) == 2):
                        raise TypeError("2-tuple is expected")
                    infos = await self._ensure_resolved(
                        addr,
                        family=family,
                        type=socket.SOCK_DGRAM,
                        proto=proto,
                        flags=flags,
                        loop=self,
                    )
                    if not infos:
                        raise OSError("getaddrinfo() returned empty list")
                    for fam, _, pro, _, address in infos:
                        addr_infos.setdefault((fam, pro), [None, None])[idx] = address
                addr_pairs_info = [
                    (key, pair)
                    for key, pair in addr_infos.items()
                    if not ((local_addr and pair[0] is None) or (remote_addr and pair[1] is None))
                ]
                if not addr_pairs_info:
                    raise ValueError("can not get address information")

            errors = []
            for (family, proto), (local_address, remote_address) in addr_pairs_info:
                sock = None
                r_addr = None
                try:
                    sock = socket.socket(family=family, type=socket.SOCK_DGRAM, proto=proto)
                    if reuse_port:
                        _set_reuseport(sock)
                    if allow_broadcast:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                    sock.setblocking(False)
                    if local_addr:
                        sock.bind(local_address)
                    if remote_addr:
                        if not allow_broadcast:
                            await self.sock_connect(sock, remote_address)
                        r_addr = remote_address
                except OSError as exc:
                    if sock is not None:
                        sock.close()
                    errors.append(exc)
                except BaseException:
                    if sock is not None:
                        sock.close()
                    raise
                else:
                    break
            else:
                raise errors[0]

        protocol = protocol_factory()
        waiter = self.create_future()
        transport = self._make_datagram_transport(sock, protocol, r_addr, waiter)
        try:
            await waiter
        except BaseException:
            transport.close()
            raise
        return transport, protocol

    # -- sendfile ------------------------------------------------------------------------------

    async def sendfile(self, transport, file, offset=0, count=None, *, fallback=True):
        """Send `file` over `transport`; zero-copy for oxloop's socket transports."""
        if transport.is_closing():
            raise RuntimeError("Transport is closing")
        if isinstance(transport, _core.SocketTransport):
            try:
                return await self._sendfile_native(transport, file, offset, count)
            except exceptions.SendfileNotAvailableError:
                if not fallback:
                    raise
            return await self._sendfile_fallback(transport, file, offset, count)
        mode = getattr(transport, "_sendfile_compatible", constants._SendfileMode.UNSUPPORTED)
        if mode is constants._SendfileMode.UNSUPPORTED:
            raise RuntimeError(f"sendfile is not supported for transport {transport!r}")
        if not fallback:
            raise RuntimeError(
                "fallback is disabled and native sendfile is not supported "
                f"for transport {transport!r}"
            )
        # A Python transport (the SSL one): asyncio's own fallback knows its flow control.
        import asyncio

        return await asyncio.BaseEventLoop._sendfile_fallback(self, transport, file, offset, count)

    async def _sendfile_native(self, transport, file, offset, count):
        fd = transport._sock_fd
        self._transports.pop(fd, None)
        resume_reading = transport.is_reading()
        transport.pause_reading()
        await transport._make_empty_waiter()
        try:
            return await self.sock_sendfile(transport._sock, file, offset, count, fallback=False)
        finally:
            transport._reset_empty_waiter()
            if resume_reading:
                transport.resume_reading()
            if transport._sock is not None:  # not lost meanwhile
                self._transports[fd] = transport

    async def _sendfile_fallback(self, transport, file, offset, count):
        if offset or (_sockets._SENDFILE_SETS_POSITION and hasattr(file, "seek")):
            file.seek(offset)
        blocksize = min(count, 16384) if count else 16384
        buf = bytearray(blocksize)
        total_sent = 0
        writer = _SendfileWriter(transport)
        try:
            while True:
                if count:
                    blocksize = min(count - total_sent, blocksize)
                    if blocksize <= 0:
                        return total_sent
                view = memoryview(buf)[:blocksize]
                read = await self.run_in_executor(None, file.readinto, view)
                if not read:
                    return total_sent
                await writer.drain()
                transport.write(view[:read])  # the transport copies what it buffers
                total_sent += read
        finally:
            if total_sent > 0 and hasattr(file, "seek"):
                file.seek(offset + total_sent)
            await writer.restore()
