"""Tests of CPython's ``test.test_asyncio`` that the oxloop conformance runner does not run.

Keys are fnmatch patterns matched against full unittest ids, for example
``test.test_asyncio.test_tasks.CTask_CFuture_Tests.test_foo`` or
``*.OxloopEventLoopTests.test_bar``.  Values are ``(category, reason)`` for an entry that
holds on every Python version, or ``(category, reason, since)`` /
``(category, reason, since, until)`` for one that holds only from ``since`` (a
``(major, minor)`` tuple, or None for "from the first supported version") up to and
including ``until``: the runner runs under any CPython from 3.11 on, with that
interpreter's own ``test.test_asyncio``, whose tests change between versions.

Only three categories are accepted (``validate()`` enforces it, and the runner calls it):

``private``
    the test inspects or patches stdlib-private internals of the event loop
    (``loop._ready``, ``loop._scheduled``, ``loop._selector``, ``loop._run_once``,
    ``BaseEventLoop`` private methods, ``_asyncgens`` ...);
``mock``
    the test depends on the specific, mock-based implementation of a stdlib loop
    (it patches a stdlib module or method that oxloop never goes through);
``stdlib-class``
    the test is about a stdlib-only class, not about event loop behaviour.

"oxloop does not implement X yet" is NOT a valid reason: such tests stay in the run and
fail until X is implemented.  Every entry must say precisely which internal/mock/class
the test depends on, so that a reviewer can check it against the test source
(/root/.pyenv/versions/3.1x.y/lib/python3.1x/test/test_asyncio/ on the dev machine).

Tests that build a stdlib loop themselves (``test_utils.TestLoop``, ``asyncio.BaseEventLoop``
with mocks, ``asyncio.SelectorEventLoop``) do not need an entry: they are run, and the runner
reports them as "ran only on stdlib loops" instead of counting them as passed.
"""

from __future__ import annotations

import fnmatch
import sys

CATEGORIES = {
    "private": "inspects stdlib-private event loop internals",
    "mock": "depends on stdlib's specific mock-based implementation",
    "stdlib-class": "about a stdlib-only class",
}

# pattern -> (category, reason[, since[, until]])
EXCLUSIONS: dict[str, tuple] = {
    # -- test_events: EventLoopTestsMixin run on oxloop (OxloopEventLoopTests) ---------------
    "test.test_asyncio.test_events.OxloopEventLoopTests.test_timeout_rounding": (
        "private",
        "replaces loop._run_once with a counting wrapper and reports loop._clock_resolution "
        "and loop._selector: counts iterations of BaseEventLoop's private _run_once()",
    ),
    "test.test_asyncio.test_events.OxloopEventLoopTests.test_prompt_cancellation": (
        "private",
        "ends with self.loop._stop_serving(r), a private BaseSelectorEventLoop/Proactor method",
    ),
    # -- test_events_transports (--all-known) -----------------------------------------------
    "test.test_asyncio.test_events.OxloopEventLoopTests.test_create_server_multiple_hosts_ipv*": (
        "mock",
        "create_server_multiple_hosts() patches asyncio.base_events.socket (the socket module as "
        "seen by BaseEventLoop.create_server) and replaces the private loop._start_serving and "
        "loop._stop_serving with mocks; it then reads fake addresses off the mocked sockets",
    ),
    **{
        f"test.test_asyncio.test_events.OxloopEventLoopTests.{name}": (
            "private",
            "asserts that call_soon_threadsafe() returns asyncio.events._ThreadSafeHandle, a "
            "private stdlib class (its cancel()/cancelled() take a lock held while the "
            "callback runs); the assertion fails in the helper thread, which then never stops "
            "the loop",
            (3, 13),
        )
        for name in (
            "test_call_soon_threadsafe_handle_block_check_cancelled",
            "test_call_soon_threadsafe_handle_block_cancellation",
            "test_call_soon_threadsafe_handle_cancel_other_thread",
        )
    },
    # -- test_sendfile (--all-known) -----------------------------------------------------------
    "test.test_asyncio.test_sendfile.*.test_sendfile_force_fallback": (
        "private",
        "replaces loop._sendfile_native (private hook of BaseEventLoop.sendfile) with "
        "base_events.BaseEventLoop._sendfile_native to force the fallback path",
    ),
    "test.test_asyncio.test_sendfile.*.test_sendfile_force_unsupported_native": (
        "private",
        "replaces loop._sendfile_native (private hook of BaseEventLoop.sendfile) with "
        "base_events.BaseEventLoop._sendfile_native to force SendfileNotAvailableError",
    ),
    "test.test_asyncio.test_sendfile.*.test_sendfile_fallback_close_peer_in_the_middle_of_*": (
        "private",
        "replaces loop._sendfile_native (private hook of BaseEventLoop.sendfile) with "
        "base_events.BaseEventLoop._sendfile_native to force the fallback path",
    ),
    "test.test_asyncio.test_sendfile.*.test_sendfile_no_fallback_for_fallback_transport": (
        "private",
        "passes a mock transport whose private _sendfile_compatible is "
        "constants._SendfileMode.FALLBACK: the private protocol between stdlib transports and "
        "BaseEventLoop.sendfile",
    ),
    # -- test_sslproto ---------------------------------------------------------------------------
    # SslProtoHandshakeTests drive asyncio.sslproto.SSLProtocol (the stdlib TLS protocol that
    # oxloop reuses unchanged) by hand: a mock.Mock() transport and a mock SSLObject planted in
    # ssl_proto._sslobj.  The tests below never run the loop, so they test that stdlib class
    # only.  The three that do run the loop (test_eof_received_waiter, test_connection_lost,
    # test_close_during_handshake) are kept.
    **{
        f"test.test_asyncio.test_sslproto.SslProtoHandshakeTests.{name}": (
            "stdlib-class",
            "constructs asyncio.sslproto.SSLProtocol directly and checks its argument checks or "
            "its private _get_extra_info/_app_transport/_fatal_error/buffer_updated with a "
            "mock.Mock() transport; no event loop is run",
        )
        for name in (
            "test_handshake_timeout_zero",
            "test_handshake_timeout_negative",
            "test_fatal_error_no_name_error",
            "test_get_extra_info_on_closed_connection",
            "test_set_new_app_protocol",
            "test_data_received_after_closing",
            "test_write_after_closing",
        )
    },
    "test.test_asyncio.test_sslproto.*.test_buf_feed_data": (
        "private",
        "calls asyncio.protocols._feed_data_to_buffered_proto(), the private helper stdlib "
        "transports use to feed a BufferedProtocol; no event loop is involved",
    ),
    # -- test_runners ----------------------------------------------------------------------------
    "test.test_asyncio.test_runners.RunTests.test_loop_factory_default_event_loop": (
        "stdlib-class",
        "asserts that asyncio.EventLoop (3.13+) is the stdlib asyncio.SelectorEventLoop; the "
        "runner makes asyncio.EventLoop the loop under test, as 3.14's tests use it to mean "
        "'the default loop'",
        (3, 13),
    ),
    # -- test_server_context (3.15) --------------------------------------------------------------
    "test.test_asyncio.test_server_context.AsyncioEventLoopTests.test_gh140947": (
        "private",
        "waits for the server transport's private _paused flag (_SelectorSocketTransport) "
        "before resume_reading(); on oxloop the attribute is missing, the task fails and the "
        "paused connection never closes. AsyncioEventLoopSSLTests.test_gh140947 runs the same "
        "scenario (through SSLProtocol's flag) and tests/test_transport_context.py runs it "
        "over plain TCP with is_reading()",
        (3, 15),
    ),
    # -- test_ssl --------------------------------------------------------------------------------
    "test.test_asyncio.test_ssl.TestSSL"
    ".test_remote_shutdown_receives_trailing_data_on_slow_socket": (
        "private",
        "reaches the socket transport under the SSL one "
        "(writer.transport._ssl_protocol._transport) and, once _SelectorSocketTransport's "
        "private _read_ready_cb is None, replaces its "
        "private _sock with a wrapper whose send() sends half (gh-115514, a selector transport "
        "bug); test_remote_shutdown_receives_trailing_data runs the same exchange unpatched",
    ),
    # -- test_subprocess (3.14: the loop waits for its children itself) --------------------------
    "test.test_asyncio.test_subprocess.*WatcherTests.test_watcher_implementation": (
        "private",
        "asserts the type of loop._watcher, _UnixSelectorEventLoop's private child watcher "
        "(unix_events._PidfdChildWatcher or _ThreadedChildWatcher)",
        (3, 14),
    ),
    "test.test_asyncio.test_subprocess.*WatcherTests.test_pid_not_reaped_before_exit_published": (
        "private",
        "joins the waiting thread found in loop._watcher._threads (private state of "
        "unix_events._ThreadedChildWatcher); tests/test_child_exit.py checks the same "
        "property (the child stays an unreaped zombie until the loop publishes its exit) "
        "on oxloop",
        (3, 14),
    ),
    # -- test_unix_events ------------------------------------------------------------------------
    # Run: OxloopUnixSocketTests (SelectorEventLoopUnixSocketTests with an oxloop loop) and
    # TestFunctional; the other classes are about stdlib classes or selector internals.
    "test.test_asyncio.test_unix_events.OxloopUnixSocketTests.test_create_unix_server_bind_error": (
        "mock",
        "patches asyncio.unix_events.socket (the socket module as seen by "
        "_UnixSelectorEventLoop.create_unix_server) so that bind() of a mock socket fails",
    ),
    "test.test_asyncio.test_unix_events.SelectorEventLoopSignalTests.*": (
        "mock",
        "every test patches asyncio.unix_events.signal on a SelectorEventLoop and inspects its "
        "private _signal_handlers/_check_signal/_handle_signal",
    ),
    "test.test_asyncio.test_unix_events.SelectorEventLoopUnixSockSendfileTests.*": (
        "private",
        "calls _UnixSelectorEventLoop's private _sock_sendfile_native()/"
        "_sock_sendfile_native_impl() and checks loop._selector.get_key()",
    ),
    "test.test_asyncio.test_unix_events.UnixReadPipeTransportTests.*": (
        "stdlib-class",
        "constructs asyncio.unix_events._UnixReadPipeTransport directly around a mock pipe "
        "(oxloop's read pipe transport is _core.ReadPipeTransport, run by test_events)",
    ),
    "test.test_asyncio.test_unix_events.UnixWritePipeTransportTests.*": (
        "stdlib-class",
        "constructs asyncio.unix_events._UnixWritePipeTransport directly around a mock pipe "
        "(oxloop's write pipe transport is _core.WritePipeTransport, run by test_events)",
    ),
    "test.test_asyncio.test_unix_events.*ChildWatcherTests.*": (
        "stdlib-class",
        "asyncio's child watcher classes (AbstractChildWatcher, BaseChildWatcher, "
        "Safe/FastChildWatcher) driven with a mocked os.waitpid; test_subprocess runs "
        "oxloop subprocesses under each of them",
    ),
    "test.test_asyncio.test_unix_events.PolicyTests.*": (
        "stdlib-class",
        "asyncio.DefaultEventLoopPolicy's child watcher bookkeeping (reads policy._watcher "
        "and watcher._loop) on a policy the test builds itself",
    ),
    # -- test_base_events ------------------------------------------------------------------------
    "test.test_asyncio.test_base_events.BaseEventTests.*": (
        "private",
        "tests base_events._ipaddr_info() and the port argument parsing of that private "
        "helper; no loop is involved",
    ),
    "test.test_asyncio.test_base_events.TestSelectorUtils.*": (
        "private",
        "tests base_events._set_nodelay(), a private helper, on a bare socket",
    ),
    # OxloopBaseEventLoopTests: BaseEventLoopTests (setUp builds base_events.BaseEventLoop with
    # a mock _selector) run on an oxloop loop.
    **{
        f"test.test_asyncio.test_base_events.OxloopBaseEventLoopTests.{name}": ("private", why)
        for name, why in (
            ("test__add_callback_handle", "calls BaseEventLoop._add_callback, reads loop._ready"),
            (
                "test__add_callback_cancelled_handle",
                "calls BaseEventLoop._add_callback, reads loop._ready",
            ),
            ("test__run_once", "calls BaseEventLoop._run_once with a mock _selector"),
            (
                "test__run_once_schedule_handle",
                "calls BaseEventLoop._run_once, reads loop._scheduled and loop._ready",
            ),
            (
                "test__run_once_cancelled_event_cleanup",
                "reads loop._timer_cancelled_count and loop._scheduled around _run_once",
            ),
            ("test_call_soon", "asserts the handle is in loop._ready (and reads h._callback)"),
            ("test_call_later", "asserts the handle is in loop._scheduled, not in loop._ready"),
            (
                "test_not_implemented",
                "expects NotImplementedError from the abstract BaseEventLoop hooks "
                "_make_socket_transport/_make_ssl_transport/_process_events/_write_to_self...",
            ),
            (
                "test_run_forever_pre_stopped",
                "asserts loop._selector.select (a mock) was called once with timeout 0",
            ),
            (
                "test_set_exc_handler_custom",
                "runs one iteration through the private loop._run_once()",
            ),
            (
                "test_set_exc_handler_broken",
                "runs one iteration through the private loop._run_once()",
            ),
            (
                "test_single_selecter_event_callback_after_stopping",
                "replaces loop._process_events and feeds events through loop._selector.select",
            ),
        )
    },
    "test.test_asyncio.test_base_events.OxloopBaseEventLoopTests"
    ".test_custom_run_forever_integration": (
        "private",
        "(3.13+) replaces loop._process_events with a mock and turns the loop ten times "
        "through BaseEventLoop's private _run_once() between its _run_forever_setup() and "
        "_run_forever_cleanup() hooks; oxloop's turn is Rust (CoreLoop._run_forever_core)",
        (3, 13),
    ),
    **{
        f"test.test_asyncio.test_base_events.OxloopBaseEventLoopTests.{name}": (
            "mock",
            "patches asyncio.base_events.logger (the logger object as seen by "
            "BaseEventLoop.default_exception_handler); oxloop logs the same 'Exception in "
            "callback ...' / 'Task exception was never retrieved' errors, with exc_info, to "
            "the 'asyncio' logger",
        )
        for name in ("test_default_exc_handler_callback", "test_default_exc_handler_coro")
    },
    # OxloopNetworkTests: BaseEventLoopWithSelectorTests run on an oxloop loop.
    **{
        f"test.test_asyncio.test_base_events.OxloopNetworkTests.{name}": (
            "mock",
            "@patch_socket: patches asyncio.base_events.socket (the socket module as seen by "
            "BaseEventLoop.create_connection/create_server/create_datagram_endpoint) with a "
            "MagicMock whose sockets, getaddrinfo or constants decide the outcome",
        )
        for name in (
            "test_create_connection_bluetooth",
            "test_create_connection_ip_addr",
            "test_create_connection_ipv6_scope",
            "test_create_connection_multiple_errors",
            "test_create_connection_multiple_errors_local_addr",
            "test_create_connection_no_inet_pton",
            "test_create_connection_service_name",
            "test_create_connection_timeout",
            "test_create_datagram_endpoint_cant_bind",
            "test_create_datagram_endpoint_ip_addr",
            "test_create_datagram_endpoint_no_addrinfo",
            "test_create_datagram_endpoint_nosoreuseport",
            "test_create_datagram_endpoint_setblk_err",
            "test_create_datagram_endpoint_socket_err",
            "test_create_server_cant_bind",
            "test_create_server_nosoreuseport",
            "test_create_server_soreuseport_only_defined",
            # 3.14: checks close() was called on the mocked socket module's socket
            # (tests/test_connection_failures.py checks oxloop closes its own)
            "test_create_connection_transport_error_closes_sock",
        )
    },
    "test.test_asyncio.test_base_events.OxloopNetworkTests.test_accept_connection_*": (
        "private",
        "calls BaseSelectorEventLoop._accept_connection(protocol_factory, sock) with a mock "
        "listening socket (and mocks loop._remove_reader/call_later)",
    ),
    "test.test_asyncio.test_base_events.OxloopNetworkTests.test_log_slow_callbacks": (
        "mock",
        "patches asyncio.base_events.logger (the logger object as seen by BaseEventLoop); "
        "oxloop logs the same 'Executing <Handle ...> took N seconds' warnings to the "
        "'asyncio' logger (tests/test_loop_core.py checks it)",
    ),
    # OxloopSockSendfileTests: BaseLoopSockSendfileTests run on an oxloop loop.
    "test.test_asyncio.test_base_events.OxloopSockSendfileTests.test__sock_sendfile_native_*": (
        "private",
        "calls the private loop._sock_sendfile_native() and expects the BaseEventLoop stub's "
        "SendfileNotAvailableError",
    ),
    "test.test_asyncio.test_base_events.OxloopSockSendfileTests.test_sock_sendfile_no_fallback": (
        "stdlib-class",
        "expects SendfileNotAvailableError because the class's loop, a bare "
        "selector_events.BaseSelectorEventLoop, has no native sendfile (its setUp says so); "
        "oxloop has native sendfile (test_sock_lowlevel/test_sendfile run it)",
    ),
}


def _applies(since, until, version) -> bool:
    return (since is None or version >= since) and (until is None or version <= until)


def _parse(pattern: str, value) -> tuple[str, str, tuple | None, tuple | None]:
    if not (isinstance(value, tuple) and 2 <= len(value) <= 4):
        raise ValueError(
            f"exclusion {pattern!r}: value must be (category, reason[, since[, until]])"
        )
    category, reason, since, until = (*value, None, None)[:4]
    for bound in (since, until):
        if bound is not None and not (
            isinstance(bound, tuple) and len(bound) == 2 and all(isinstance(n, int) for n in bound)
        ):
            raise ValueError(f"exclusion {pattern!r}: {bound!r} is not a (major, minor) tuple")
    return category, reason, since, until


def validate() -> None:
    """Raise ValueError if an entry has an unknown category, an empty reason or a malformed
    version range."""
    for pattern, value in EXCLUSIONS.items():
        category, reason, _, _ = _parse(pattern, value)
        if category not in CATEGORIES:
            raise ValueError(
                f"exclusion {pattern!r}: category {category!r} is not one of "
                f"{sorted(CATEGORIES)} (missing features are not a valid reason)"
            )
        if len(reason.strip()) < 10:
            raise ValueError(f"exclusion {pattern!r}: reason must say what the test depends on")


def match(test_id: str, version: tuple[int, int] | None = None) -> tuple[str, str, str] | None:
    """Return ``(pattern, category, reason)`` of the first entry matching test_id on Python
    `version` (default: the running one), or None."""
    if version is None:
        version = sys.version_info[:2]
    for pattern, value in EXCLUSIONS.items():
        category, reason, since, until = _parse(pattern, value)
        if _applies(since, until, version) and fnmatch.fnmatchcase(test_id, pattern):
            return pattern, category, reason
    return None
