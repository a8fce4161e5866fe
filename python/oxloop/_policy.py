"""The event loop policy that makes asyncio create oxloop loops."""

from __future__ import annotations

import asyncio

from ._loop import Loop


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """asyncio's default policy, creating `oxloop.Loop` instances."""

    def _loop_factory(self):
        return Loop()

    def new_event_loop(self):
        return Loop()
