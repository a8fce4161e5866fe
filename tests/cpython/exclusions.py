"""Tests of CPython's ``test.test_asyncio`` that the oxloop conformance runner does not run.

Keys are fnmatch patterns matched against full unittest ids, for example
``test.test_asyncio.test_tasks.CTask_CFuture_Tests.test_foo`` or
``*.OxloopEventLoopTests.test_bar``.  Values are ``(category, reason)``.

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
(/root/.pyenv/versions/3.11.7/lib/python3.11/test/test_asyncio/ on the dev machine).

Tests that build a stdlib loop themselves (``test_utils.TestLoop``, ``asyncio.BaseEventLoop``
with mocks, ``asyncio.SelectorEventLoop``) do not need an entry: they are run, and the runner
reports them as "ran only on stdlib loops" instead of counting them as passed.
"""

from __future__ import annotations

import fnmatch

CATEGORIES = {
    "private": "inspects stdlib-private event loop internals",
    "mock": "depends on stdlib's specific mock-based implementation",
    "stdlib-class": "about a stdlib-only class",
}

# pattern -> (category, reason)
EXCLUSIONS: dict[str, tuple[str, str]] = {
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
}


def validate() -> None:
    """Raise ValueError if an entry has an unknown category or an empty reason."""
    for pattern, value in EXCLUSIONS.items():
        if not (isinstance(value, tuple) and len(value) == 2):
            raise ValueError(f"exclusion {pattern!r}: value must be (category, reason)")
        category, reason = value
        if category not in CATEGORIES:
            raise ValueError(
                f"exclusion {pattern!r}: category {category!r} is not one of "
                f"{sorted(CATEGORIES)} (missing features are not a valid reason)"
            )
        if len(reason.strip()) < 10:
            raise ValueError(f"exclusion {pattern!r}: reason must say what the test depends on")


def match(test_id: str) -> tuple[str, str, str] | None:
    """Return ``(pattern, category, reason)`` of the first entry matching test_id, or None."""
    for pattern, (category, reason) in EXCLUSIONS.items():
        if fnmatch.fnmatchcase(test_id, pattern):
            return pattern, category, reason
    return None
