"""The `real_loop` fixture of the tests that run third-party libraries.

Each `tests/test_real_*.py` scenario runs once on oxloop and once on stdlib
asyncio with the same assertions. The fixture makes a fresh loop of the
parametrised kind per run (through `asyncio.Runner`, as applications do) and
checks that the running loop really is that kind, so a policy left installed
by another test cannot turn the oxloop run into an asyncio run or back.
"""

import asyncio

import oxloop
import pytest

LOOP_FACTORIES = {"oxloop": oxloop.new_event_loop, "asyncio": asyncio.new_event_loop}
LOOP_TYPES = {"oxloop": oxloop.Loop, "asyncio": asyncio.SelectorEventLoop}


class RealLoop:
    """Runs async functions on new loops of one kind (`name`, `factory`)."""

    def __init__(self, name):
        self.name = name
        self.factory = LOOP_FACTORIES[name]

    def check_running_loop(self):
        """Assert the running loop is exactly this kind's loop class."""
        loop = asyncio.get_running_loop()
        assert type(loop) is LOOP_TYPES[self.name], type(loop)
        return loop

    def __call__(self, fn, *args, timeout=30.0):
        """Run `fn(*args)` on a fresh loop, bounded by `timeout` seconds.

        Errors that reach the loop's exception handler (a callback or a
        protocol method that raised, a task whose exception nobody retrieved)
        fail the run: libraries only log them, so a test would not see them.
        """
        errors = []

        async def main():
            loop = self.check_running_loop()
            loop.set_exception_handler(lambda loop, context: errors.append(context))
            return await asyncio.wait_for(fn(*args), timeout)

        with asyncio.Runner(loop_factory=self.factory) as runner:
            result = runner.run(main())
        assert errors == []
        return result


@pytest.fixture(params=list(LOOP_FACTORIES))
def real_loop(request):
    return RealLoop(request.param)
