"""The event loop policy that makes asyncio create oxloop loops.

Python 3.14 deprecated asyncio's policy system (removal is planned for
3.16): `asyncio.DefaultEventLoopPolicy` and `asyncio.set_event_loop_policy`
warn when used. The policy still decides what `asyncio.run()`,
`asyncio.new_event_loop()` and `asyncio.get_event_loop()` create, so oxloop
keeps one, built on and installed through the private names asyncio itself
uses from 3.14 on, which do not warn.
"""

from __future__ import annotations

import asyncio
from asyncio import events, unix_events

from ._loop import Loop

# The private name exists from 3.14, where the public asyncio.DefaultEventLoopPolicy
# warns (on Linux both are unix_events' policy).
_BasePolicy = getattr(unix_events, "_DefaultEventLoopPolicy", None)
if _BasePolicy is None:
    _BasePolicy = asyncio.DefaultEventLoopPolicy


class EventLoopPolicy(_BasePolicy):
    """asyncio's default policy, creating `oxloop.Loop` instances."""

    def _loop_factory(self):
        return Loop()

    def new_event_loop(self):
        return Loop()


def set_policy(policy) -> None:
    """`asyncio.set_event_loop_policy(policy)`, without 3.14's deprecation
    warning (oxloop's own use of the policy is not the caller's)."""
    setter = getattr(events, "_set_event_loop_policy", None) or asyncio.set_event_loop_policy
    setter(policy)
