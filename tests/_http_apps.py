"""Helpers for the tests that run HTTP libraries (not a test module)."""

import hashlib

from aiohttp import web


def pattern(n):
    """n bytes of a non-repeating-looking pattern (so misordered chunks show)."""
    block = hashlib.sha256(b"oxloop").digest() * 2048  # 64 KiB
    return (block * (n // len(block) + 1))[:n]


class Served:
    """An aiohttp application served on 127.0.0.1 for the length of an `async with`."""

    def __init__(self, app, **runner_kwargs):
        self.app = app
        self.runner = web.AppRunner(app, **runner_kwargs)
        self.url = None

    async def start(self):
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.address = self.runner.addresses[0][:2]
        self.url = "http://{}:{}".format(*self.address)
        return self

    async def stop(self):
        """Graceful shutdown: stop listening, finish requests, run the hooks."""
        await self.runner.cleanup()

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc):
        await self.stop()
