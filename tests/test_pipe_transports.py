"""Pipe transports (connect_read_pipe / connect_write_pipe), on oxloop and on stdlib asyncio.

Every scenario runs on both loops with the same assertions: reading through
os.pipe up to EOF, pause/resume_reading, a pty whose slave closed, writing
with flow control, close() flushing, abort() dropping, the reader closing
under the writer, and the file types a pipe transport refuses.
"""

import asyncio
import errno
import gc
import os
import pty
import subprocess
import sys
import tempfile
import threading
import warnings

import oxloop
import pytest

LOOPS = {"oxloop": oxloop.new_event_loop, "asyncio": asyncio.new_event_loop}
TIMEOUT = 30.0
BIG = 4 * 1024 * 1024  # far more than a pipe's kernel buffer (64 KiB)


@pytest.fixture(params=list(LOOPS))
def loop(request):
    lp = LOOPS[request.param]()
    yield lp
    if not lp.is_closed():
        lp.run_until_complete(lp.shutdown_default_executor())
        lp.close()


def run(loop, coro):
    return loop.run_until_complete(asyncio.wait_for(coro, TIMEOUT))


class Recorder(asyncio.Protocol):
    """Records every callback; `lost` resolves with connection_lost's argument."""

    def __init__(self):
        self.events = []
        self.data = bytearray()
        self.transport = None
        self.got_data = asyncio.Event()
        self.lost = asyncio.get_running_loop().create_future()
        self.paused = 0
        self.resumed = 0

    def connection_made(self, transport):
        self.transport = transport
        self.events.append("made")

    def data_received(self, data):
        self.data += data
        self.got_data.set()

    def eof_received(self):
        self.events.append("eof")

    def pause_writing(self):
        self.paused += 1

    def resume_writing(self):
        self.resumed += 1

    def connection_lost(self, exc):
        self.events.append("lost")
        if not self.lost.done():
            self.lost.set_result(exc)


def drain_in_thread(fd, out):
    """Reads `fd` (blocking) to EOF into `out` in a thread; returns the thread."""

    def body():
        with open(fd, "rb", buffering=0, closefd=True) as f:
            while chunk := f.read(65536):
                out.extend(chunk)

    t = threading.Thread(target=body)
    t.start()
    return t


def test_read_pipe_to_eof(loop):
    rfd, wfd = os.pipe()
    rpipe = open(rfd, "rb", buffering=0)

    async def main():
        tr, proto = await loop.connect_read_pipe(Recorder, rpipe)
        assert isinstance(tr, asyncio.ReadTransport)
        assert tr.get_extra_info("pipe") is rpipe
        assert tr.get_extra_info("nope", 7) == 7
        assert not os.get_blocking(rfd)
        assert tr.is_reading() and not tr.is_closing()
        os.write(wfd, b"hello ")
        os.write(wfd, b"pipe")
        os.close(wfd)
        exc = await proto.lost
        return proto, tr, exc

    proto, tr, exc = run(loop, main())
    assert exc is None
    assert bytes(proto.data) == b"hello pipe"
    assert proto.events == ["made", "eof", "lost"]
    assert tr.is_closing()
    assert rpipe.closed


def test_read_pipe_pause_resume(loop):
    rfd, wfd = os.pipe()

    async def main():
        tr, proto = await loop.connect_read_pipe(Recorder, open(rfd, "rb", buffering=0))
        tr.pause_reading()
        tr.pause_reading()  # idempotent
        assert not tr.is_reading()
        os.write(wfd, b"x" * 10)
        await asyncio.sleep(0.05)
        assert proto.data == b""
        tr.resume_reading()
        assert tr.is_reading()
        await proto.got_data.wait()
        assert proto.data == b"x" * 10
        tr.close()
        tr.close()  # idempotent
        assert not tr.is_reading()
        exc = await proto.lost
        os.close(wfd)
        return proto, exc

    proto, exc = run(loop, main())
    assert exc is None
    assert proto.events == ["made", "lost"]


def test_read_pty_after_slave_closed(loop):
    master, slave = pty.openpty()

    async def main():
        tr, proto = await loop.connect_read_pipe(Recorder, open(master, "rb", buffering=0))
        os.write(slave, b"abc")
        await proto.got_data.wait()
        os.close(slave)
        exc = await proto.lost
        return proto, exc

    proto, exc = run(loop, main())
    assert bytes(proto.data) == b"abc"
    # Linux: reading a pty master whose slave closed gives EIO, which closes
    # the transport quietly with the error as connection_lost's argument.
    assert isinstance(exc, OSError) and exc.errno == errno.EIO
    assert proto.events[-1] == "lost"


def test_stream_reader_from_child_process(loop):
    # CPython's test_read_all_from_pipe_reader, with subprocess.Popen as the writer.
    rfd, wfd = os.pipe()
    code = "import os, sys; fd = int(sys.argv[1]); os.write(fd, b'data'); os.close(fd)"

    async def main():
        reader = asyncio.StreamReader(limit=1)
        protocol = asyncio.StreamReaderProtocol(reader)
        tr, _ = await loop.connect_read_pipe(lambda: protocol, open(rfd, "rb", buffering=0))
        proc = subprocess.Popen([sys.executable, "-c", code, str(wfd)], pass_fds={wfd})
        os.close(wfd)
        data = await reader.read()
        proc.wait()
        return data

    assert run(loop, main()) == b"data"


def test_write_pipe_and_write_eof(loop):
    rfd, wfd = os.pipe()
    wpipe = open(wfd, "wb", buffering=0)
    out = bytearray()

    async def main():
        tr, proto = await loop.connect_write_pipe(Recorder, wpipe)
        assert isinstance(tr, asyncio.WriteTransport)
        assert tr.get_extra_info("pipe") is wpipe
        assert tr.can_write_eof()
        assert not os.get_blocking(wfd)
        assert tr.get_write_buffer_size() == 0
        tr.write(b"one ")
        tr.write(bytearray(b"two "))
        tr.writelines([b"three ", memoryview(b"four")])
        tr.write(b"")
        # asyncio asserts (AssertionError, gone under -O); oxloop raises
        # TypeError, as its stream transports (and asyncio's) do.
        with pytest.raises((TypeError, AssertionError)):
            tr.write("text")
        data = os.read(rfd, 100)
        tr.write_eof()
        assert tr.is_closing()
        exc = await proto.lost
        return proto, tr, data, exc

    proto, tr, data, exc = run(loop, main())
    assert data == b"one two three four"
    assert exc is None
    assert proto.events == ["made", "lost"]
    assert wpipe.closed
    t = drain_in_thread(rfd, out)
    t.join(TIMEOUT)
    assert out == b""


def test_write_pipe_flow_control_and_close_flushes(loop):
    rfd, wfd = os.pipe()
    out = bytearray()
    payload = bytes(range(256)) * (BIG // 256)

    async def main():
        tr, proto = await loop.connect_write_pipe(Recorder, open(wfd, "wb", buffering=0))
        tr.set_write_buffer_limits(high=1024)
        assert tr.get_write_buffer_limits() == (256, 1024)
        with pytest.raises(ValueError):
            tr.set_write_buffer_limits(high=1, low=2)
        tr.write(payload)
        assert tr.get_write_buffer_size() > 0
        assert proto.paused == 1
        tr.close()
        assert tr.is_closing()
        tr.write(b"dropped")  # after close: ignored
        t = drain_in_thread(rfd, out)
        exc = await proto.lost
        await loop.run_in_executor(None, t.join, TIMEOUT)
        return proto, tr, exc

    proto, tr, exc = run(loop, main())
    assert exc is None
    assert bytes(out) == payload
    assert proto.resumed == 1
    assert tr.get_write_buffer_size() == 0


def test_write_pipe_abort_drops_buffer(loop):
    rfd, wfd = os.pipe()

    async def main():
        tr, proto = await loop.connect_write_pipe(Recorder, open(wfd, "wb", buffering=0))
        tr.write(b"y" * BIG)
        assert tr.get_write_buffer_size() > 0
        tr.abort()
        assert tr.get_write_buffer_size() == 0
        exc = await proto.lost
        return proto, exc

    proto, exc = run(loop, main())
    assert exc is None
    assert proto.events == ["made", "lost"]
    os.close(rfd)


@pytest.mark.parametrize("buffered", [False, True])
def test_write_pipe_reader_closes(loop, buffered):
    rfd, wfd = os.pipe()

    async def main():
        tr, proto = await loop.connect_write_pipe(Recorder, open(wfd, "wb", buffering=0))
        await asyncio.sleep(0)  # the peer watch is registered with call_soon
        if buffered:
            tr.write(b"z" * BIG)
        os.close(rfd)
        exc = await proto.lost
        for _ in range(3):
            tr.write(b"after")  # counted and dropped, no exception
        return proto, tr, exc

    proto, tr, exc = run(loop, main())
    if buffered:
        assert isinstance(exc, BrokenPipeError)
    else:
        assert exc is None
    assert proto.events == ["made", "lost"]
    assert tr.is_closing()


def test_write_pty(loop):
    master, slave = pty.openpty()
    os.set_blocking(master, False)

    async def main():
        tr, proto = await loop.connect_write_pipe(Recorder, open(slave, "wb", buffering=0))
        tr.write(b"to the pty")
        got = bytearray()
        while len(got) < 10:
            await asyncio.sleep(0.01)
            try:
                got += os.read(master, 100)
            except BlockingIOError:
                pass
        tr.close()
        exc = await proto.lost
        return got, exc

    got, exc = run(loop, main())
    os.close(master)
    assert bytes(got) == b"to the pty"
    assert exc is None


def test_regular_file_refused(loop):
    with tempfile.TemporaryFile() as f:

        async def main():
            with pytest.raises(ValueError):
                await loop.connect_read_pipe(asyncio.Protocol, f)
            with pytest.raises(ValueError):
                await loop.connect_write_pipe(asyncio.Protocol, f)

        run(loop, main())


def test_unclosed_transport_warns(loop):
    rfd, wfd = os.pipe()
    rpipe = open(rfd, "rb", buffering=0)

    async def main():
        tr, _ = await loop.connect_read_pipe(asyncio.Protocol, rpipe)
        return tr

    tr = run(loop, main())
    loop.close()
    assert "open" in repr(tr)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del tr
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) for w in caught)
    assert rpipe.closed
    os.close(wfd)


def test_pipe_transports_take_instance_attributes(loop):
    """Like asyncio's transports, pipe transports have a __dict__: code (and CPython's
    test_subprocess) replaces methods such as pause_reading on one instance."""
    rfd, wfd = os.pipe()

    async def main():
        rtr, _ = await loop.connect_read_pipe(Recorder, open(rfd, "rb", buffering=0))
        wtr, _ = await loop.connect_write_pipe(Recorder, open(wfd, "wb", buffering=0))
        calls = []
        rtr.pause_reading = lambda: calls.append("pause")
        wtr.tag = "mine"
        rtr.pause_reading()
        assert calls == ["pause"] and rtr.is_reading() and wtr.tag == "mine"
        del rtr.pause_reading
        rtr.pause_reading()
        assert not rtr.is_reading()
        rtr.close()
        wtr.close()
        await asyncio.sleep(0)

    run(loop, main())
