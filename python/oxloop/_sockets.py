"""Low-level socket coroutines (sock_recv, sock_sendall, ...) for oxloop.Loop.

Every coroutine first tries the non-blocking syscall. Only when it would
block does it create a future and install a reader or writer on the socket's
fd that retries the syscall when the fd is ready. A done-callback on the
future removes that reader or writer again (if it is still the one installed
here), whether the operation succeeded, failed or was cancelled.
"""

from __future__ import annotations

import errno
import io
import os
import socket
import sys
from asyncio import constants
from asyncio.exceptions import SendfileNotAvailableError
from functools import partial

try:
    import ssl
except ImportError:  # pragma: no cover - Python built without ssl
    ssl = None

_SSL_SOCKET = (ssl.SSLSocket,) if ssl is not None else ()

_AF_INET = socket.AF_INET
_AF_INET6 = getattr(socket, "AF_INET6", None)
_AF_UNSPEC = socket.AF_UNSPEC
_SOCK_STREAM = socket.SOCK_STREAM
_SOCK_DGRAM = socket.SOCK_DGRAM
_IPPROTO_TCP = socket.IPPROTO_TCP
_IPPROTO_UDP = socket.IPPROTO_UDP
_SOL_SOCKET = socket.SOL_SOCKET
_SO_ERROR = socket.SO_ERROR
_inet_pton = getattr(socket, "inet_pton", None)

_RETRY = (BlockingIOError, InterruptedError)
_FATAL = (SystemExit, KeyboardInterrupt)

# Python 3.14: sendfile leaves the file position at offset + bytes sent even when
# nothing was sent, and the fallback reads from `offset` also when it is 0 (before,
# offset 0 meant "from the current position").
_SENDFILE_SETS_POSITION = sys.version_info >= (3, 14)


# -- callbacks run by the loop (module functions: no bound method per call) ------------


def _reader_done(loop, fd, handle, fut):
    """Done-callback: remove the reader unless another one replaced it."""
    if loop._get_io_handle(fd, False) is handle:
        loop._remove_reader(fd)


def _writer_done(loop, fd, handle, fut):
    """Done-callback: remove the writer unless another one replaced it."""
    if loop._get_io_handle(fd, True) is handle:
        loop._remove_writer(fd)


def _call_ready(fut, func, *args):
    """Reader callback: retry `func(*args)` and resolve `fut` with its outcome."""
    if fut.done():
        return
    try:
        result = func(*args)
    except _RETRY:
        return
    except _FATAL:
        raise
    except BaseException as exc:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


def _accept_ready(fut, sock):
    """Reader callback of sock_accept."""
    if fut.done():
        return
    try:
        conn, address = sock.accept()
    except _RETRY:
        return
    except _FATAL:
        raise
    except BaseException as exc:
        fut.set_exception(exc)
        return
    try:
        conn.setblocking(False)
    except BaseException as exc:
        conn.close()
        if isinstance(exc, _FATAL):
            raise
        fut.set_exception(exc)
    else:
        fut.set_result((conn, address))


def _sendall_ready(fut, sock, view, pos):
    """Writer callback of sock_sendall; pos[0] is the number of bytes sent so far."""
    if fut.done():
        return
    start = pos[0]
    try:
        start += sock.send(view[start:])
    except _RETRY:
        return
    except _FATAL:
        raise
    except BaseException as exc:
        fut.set_exception(exc)
        return
    if start == len(view):
        fut.set_result(None)
    else:
        pos[0] = start


def _sendto_ready(fut, sock, data, address):
    """Writer callback of sock_sendto (looks sock.sendto up on each try, like asyncio)."""
    if fut.done():
        return
    try:
        n = sock.sendto(data, 0, address)
    except _RETRY:
        return
    except _FATAL:
        raise
    except BaseException as exc:
        fut.set_exception(exc)
    else:
        fut.set_result(n)


def _connect_ready(fut, sock, address):
    """Writer callback of sock_connect: the connection attempt has finished."""
    if fut.done():
        return
    try:
        err = sock.getsockopt(_SOL_SOCKET, _SO_ERROR)
    except _RETRY:
        return
    except _FATAL:
        raise
    except BaseException as exc:
        fut.set_exception(exc)
        return
    if err:
        # OSError(errno, ...) builds the matching subclass (ConnectionRefusedError ...).
        fut.set_exception(OSError(err, f"Connect call failed {address}"))
    else:
        fut.set_result(None)


def _writable(fut):
    """Writer callback that only reports that the fd is writable."""
    if not fut.done():
        fut.set_result(None)


def _ipaddr_info(host, port, family, type, proto, flowinfo=0, scopeid=0):
    """The addrinfo tuple for `host` when it is already a numeric IP address, else None."""
    if _inet_pton is None or host is None:
        return None
    if proto not in (0, _IPPROTO_TCP, _IPPROTO_UDP):
        return None
    if type == _SOCK_STREAM:
        proto = _IPPROTO_TCP
    elif type == _SOCK_DGRAM:
        proto = _IPPROTO_UDP
    else:
        return None

    if port is None or (isinstance(port, (str, bytes)) and not port):
        port = 0
    else:
        try:
            port = int(port)
        except (TypeError, ValueError):
            return None  # a service name such as "http": getaddrinfo must resolve it

    if isinstance(host, bytes):
        host = host.decode("idna")
    if "%" in host:
        return None  # a scoped IPv6 address: inet_pton rejects the zone index

    if family == _AF_UNSPEC:
        families = (_AF_INET,) if _AF_INET6 is None else (_AF_INET, _AF_INET6)
    else:
        families = (family,)
    for af in families:
        try:
            _inet_pton(af, host)
        except OSError:
            continue
        if af == _AF_INET6:
            return af, type, proto, "", (host, port, flowinfo, scopeid)
        return af, type, proto, "", (host, port)
    return None


class SocketMixin:
    """asyncio's sock_* coroutines on top of the core loop's readers and writers.

    Uses `_ensure_fd_no_transport` and the unchecked `_add_reader`/`_add_writer`/
    `_remove_reader`/`_remove_writer` of `_network.NetworkMixin`, which precedes it
    in `Loop`'s bases.
    """

    def _check_sock(self, sock):
        """asyncio's checks at the start of every sock_* coroutine."""
        if isinstance(sock, _SSL_SOCKET):
            raise TypeError("Socket cannot be of type SSLSocket")
        if self.get_debug() and sock.gettimeout() != 0:
            raise ValueError("the socket must be non-blocking")

    def _sock_wait_read(self, fd, callback, *args):
        """A future resolved by `callback(fut, *args)`, run while `fd` is readable."""
        fut = self.create_future()
        self._ensure_fd_no_transport(fd)
        handle = self._add_reader(fd, callback, fut, *args)
        fut.add_done_callback(partial(_reader_done, self, fd, handle))
        return fut

    def _sock_wait_write(self, fd, callback, *args):
        """A future resolved by `callback(fut, *args)`, run while `fd` is writable."""
        fut = self.create_future()
        self._ensure_fd_no_transport(fd)
        handle = self._add_writer(fd, callback, fut, *args)
        fut.add_done_callback(partial(_writer_done, self, fd, handle))
        return fut

    # -- receiving ------------------------------------------------------------------------

    async def sock_recv(self, sock, n):
        """Receive up to `n` bytes from `sock`."""
        self._check_sock(sock)
        try:
            return sock.recv(n)
        except _RETRY:
            pass
        return await self._sock_wait_read(sock.fileno(), _call_ready, sock.recv, n)

    async def sock_recv_into(self, sock, buf):
        """Receive into the writable buffer `buf`; return the number of bytes."""
        self._check_sock(sock)
        try:
            return sock.recv_into(buf)
        except _RETRY:
            pass
        return await self._sock_wait_read(sock.fileno(), _call_ready, sock.recv_into, buf)

    async def sock_recvfrom(self, sock, bufsize):
        """Receive a datagram of up to `bufsize` bytes; return (data, address)."""
        self._check_sock(sock)
        try:
            return sock.recvfrom(bufsize)
        except _RETRY:
            pass
        return await self._sock_wait_read(sock.fileno(), _call_ready, sock.recvfrom, bufsize)

    async def sock_recvfrom_into(self, sock, buf, nbytes=0):
        """Receive a datagram into `buf`; return (nbytes, address).

        `nbytes` 0 means the whole buffer (socket.recvfrom_into counts it in bytes;
        asyncio passes len(buf), the same for every byte buffer).
        """
        self._check_sock(sock)
        try:
            return sock.recvfrom_into(buf, nbytes)
        except _RETRY:
            pass
        return await self._sock_wait_read(
            sock.fileno(), _call_ready, sock.recvfrom_into, buf, nbytes
        )

    async def sock_accept(self, sock):
        """Accept a connection; return (conn, address) with conn non-blocking."""
        self._check_sock(sock)
        try:
            conn, address = sock.accept()
        except _RETRY:
            return await self._sock_wait_read(sock.fileno(), _accept_ready, sock)
        try:
            conn.setblocking(False)
        except BaseException:
            conn.close()
            raise
        return conn, address

    # -- sending --------------------------------------------------------------------------

    async def sock_sendall(self, sock, data):
        """Send all of `data`; return None once the kernel has taken every byte."""
        self._check_sock(sock)
        try:
            n = sock.send(data)
        except _RETRY:
            n = 0
        tp = type(data)
        if tp is bytes or tp is bytearray:
            if n == len(data):
                return
            view = memoryview(data)
        else:
            # Count bytes, not items, for any other buffer (array, memoryview ...).
            view = memoryview(data).cast("B")
            if n == len(view):
                return
        return await self._sock_wait_write(sock.fileno(), _sendall_ready, sock, view, [n])

    async def sock_sendto(self, sock, data, address):
        """Send the datagram `data` to `address`; return the number of bytes sent."""
        self._check_sock(sock)
        try:
            return sock.sendto(data, address)
        except _RETRY:
            pass
        return await self._sock_wait_write(sock.fileno(), _sendto_ready, sock, data, address)

    # -- connecting -----------------------------------------------------------------------

    async def _ensure_resolved(
        self, address, *, family=0, type=_SOCK_STREAM, proto=0, flags=0, loop
    ):
        """addrinfo list for `address`: skips getaddrinfo when the host is numeric."""
        host, port = address[:2]
        info = _ipaddr_info(host, port, family, type, proto, *address[2:])
        if info is not None:
            return [info]
        return await loop.getaddrinfo(
            host, port, family=family, type=type, proto=proto, flags=flags
        )

    async def sock_connect(self, sock, address):
        """Connect `sock` to `address` (host names are resolved for IP sockets)."""
        self._check_sock(sock)
        family = sock.family
        if family == _AF_INET or (_AF_INET6 is not None and family == _AF_INET6):
            infos = await self._ensure_resolved(
                address, family=family, type=sock.type, proto=sock.proto, loop=self
            )
            address = infos[0][4]
        try:
            sock.connect(address)
        except _RETRY:
            # The connection goes on in the background (EINPROGRESS, or EINTR):
            # the fd becomes writable when it has succeeded or failed.
            pass
        else:
            return None
        return await self._sock_wait_write(sock.fileno(), _connect_ready, sock, address)

    # -- sendfile -------------------------------------------------------------------------

    async def sock_sendfile(self, sock, file, offset=0, count=None, *, fallback=True):
        """Send `file` over the stream socket `sock`; return the number of bytes sent.

        Uses os.sendfile when possible; otherwise, unless `fallback` is false,
        reads the file in chunks and sends them with sock_sendall.
        """
        if self.get_debug() and sock.gettimeout() != 0:
            raise ValueError("the socket must be non-blocking")
        if isinstance(sock, _SSL_SOCKET):
            raise TypeError("Socket cannot be of type SSLSocket")
        self._check_sendfile_params(sock, file, offset, count)
        try:
            return await self._sock_sendfile_native(sock, file, offset, count)
        except SendfileNotAvailableError:
            if not fallback:
                raise
        return await self._sock_sendfile_fallback(sock, file, offset, count)

    def _check_sendfile_params(self, sock, file, offset, count):
        """asyncio's argument checks of sock_sendfile."""
        if "b" not in getattr(file, "mode", "b"):
            raise ValueError("file should be opened in binary mode")
        if sock.type != _SOCK_STREAM:
            raise ValueError("only SOCK_STREAM type sockets are supported")
        if count is not None:
            if not isinstance(count, int):
                raise TypeError(f"count must be a positive integer (got {count!r})")
            if count <= 0:
                raise ValueError(f"count must be a positive integer (got {count!r})")
        if not isinstance(offset, int):
            raise TypeError(f"offset must be a non-negative integer (got {offset!r})")
        if offset < 0:
            raise ValueError(f"offset must be a non-negative integer (got {offset!r})")

    async def _sock_sendfile_native(self, sock, file, offset, count):
        """Zero-copy path: os.sendfile, waiting for writability between chunks.

        Raises SendfileNotAvailableError (before sending anything) when the file
        or the socket does not support it.
        """
        # Looked up per call (not per chunk) so that tests can patch os.sendfile.
        sendfile = getattr(os, "sendfile", None)
        if sendfile is None:
            raise SendfileNotAvailableError("os.sendfile() is not available")
        try:
            fileno = file.fileno()
        except (AttributeError, io.UnsupportedOperation):
            raise SendfileNotAvailableError("not a regular file")
        try:
            fsize = os.fstat(fileno).st_size
        except OSError:
            raise SendfileNotAvailableError("not a regular file")
        blocksize = count if count else fsize
        if not blocksize:
            return 0  # empty file

        fd = sock.fileno()
        total_sent = 0
        waited = False
        try:
            while True:
                if count:
                    blocksize = count - total_sent
                    if blocksize <= 0:
                        return total_sent
                try:
                    sent = sendfile(fd, fileno, offset + total_sent, blocksize)
                except _RETRY:
                    sent = None
                except OSError as exc:
                    if total_sent == 0:
                        # E.g. the file is not mmap-able: let the fallback try.
                        raise SendfileNotAvailableError("os.sendfile call failed")
                    if waited and exc.errno == errno.ENOTCONN and type(exc) is not ConnectionError:
                        # The peer went away mid-transfer: report it the same way
                        # on every POSIX system, as asyncio does.
                        raise ConnectionError("socket is not connected", errno.ENOTCONN) from exc
                    raise
                if sent == 0:
                    return total_sent  # EOF
                if sent is not None:
                    total_sent += sent
                # Let other callbacks run between chunks, as asyncio does.
                await self._sock_wait_write(fd, _writable)
                waited = True
        finally:
            if total_sent > 0 or _SENDFILE_SETS_POSITION:
                os.lseek(fileno, offset + total_sent, os.SEEK_SET)

    async def _sock_sendfile_fallback(self, sock, file, offset, count):
        """Read the file in chunks (in the default executor) and sock_sendall them."""
        if offset or (_SENDFILE_SETS_POSITION and hasattr(file, "seek")):
            file.seek(offset)
        chunk = constants.SENDFILE_FALLBACK_READBUFFER_SIZE
        blocksize = min(count, chunk) if count else chunk
        buf = memoryview(bytearray(blocksize))
        readinto = file.readinto
        total_sent = 0
        try:
            while True:
                if count:
                    blocksize = min(count - total_sent, blocksize)
                    if blocksize <= 0:
                        break
                view = buf[:blocksize]
                read = await self.run_in_executor(None, readinto, view)
                if not read:
                    break  # EOF
                await self.sock_sendall(sock, view[:read])
                total_sent += read
            return total_sent
        finally:
            if total_sent > 0 and hasattr(file, "seek"):
                file.seek(offset + total_sent)
