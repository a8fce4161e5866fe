"""Run one scenario on oxloop and on stdlib asyncio (not a test module)."""

import asyncio

import oxloop

LOOPS = {"oxloop": oxloop.new_event_loop, "asyncio": asyncio.new_event_loop}


def on_both(scenario, timeout=None):
    """Run `scenario()` (an async function) on a new loop of each kind,
    through `asyncio.Runner` (within `timeout` seconds, if given); return the
    result, checked equal on both."""
    results = {}
    for name, factory in LOOPS.items():
        with asyncio.Runner(loop_factory=factory) as runner:
            coro = scenario() if timeout is None else asyncio.wait_for(scenario(), timeout)
            results[name] = runner.run(coro)
    assert results["oxloop"] == results["asyncio"]
    return results["oxloop"]
