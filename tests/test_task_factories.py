"""`loop.create_task` and task factories, per Python version, on oxloop and on asyncio.

What reaches a task factory changed twice (3.13.3 and 3.14, see `src/task_kwargs.rs`),
and 3.12 added eager tasks (`asyncio.eager_task_factory`). Every scenario runs on both
loops under the running interpreter and must give the same observations.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys

import pytest
from _on_both import on_both

needs_eager = pytest.mark.skipif(
    sys.version_info < (3, 12), reason="eager tasks are new in Python 3.12"
)

var = contextvars.ContextVar("var", default="unset")


async def returns_at_once(log, tag):
    name = asyncio.current_task().get_name()
    log.append(("ran", tag, name if not name.startswith("Task-") else "Task-N"))
    return tag


async def awaits_once(log, tag):
    log.append(("start", tag))
    await asyncio.sleep(0)
    log.append(("end", tag))
    return tag


def recording_factory(calls):
    """A factory that records the keywords it got and builds an asyncio.Task with
    those Task accepts (as factories written for 3.14 do)."""

    def factory(loop, coro, **kwargs):
        calls.append(sorted(kwargs))
        return asyncio.Task(coro, loop=loop, **kwargs)

    return factory


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"name": "n"}, {"context": "copy"}, {"name": "n", "context": "copy"}],
    ids=["none", "name", "context", "name+context"],
)
def test_keywords_reaching_a_task_factory(kwargs):
    async def scenario():
        loop = asyncio.get_running_loop()
        calls = []
        loop.set_task_factory(recording_factory(calls))
        kw = dict(kwargs)
        if kw.get("context") == "copy":
            var.set("given")
            kw["context"] = contextvars.copy_context()
            var.set("caller")

        async def body():
            return var.get()

        task = loop.create_task(body(), **kw)
        value = await task
        named = task.get_name() == "n" if "name" in kw else None
        # a copy: the runner's shutdown makes more tasks through the factory
        return list(calls), value, named

    calls, value, named = on_both(scenario)
    if "context" in kwargs:
        assert value == "given"
    if "name" in kwargs:
        assert named is True
    if sys.version_info >= (3, 14):
        assert calls == [sorted(kwargs)]


def test_without_a_factory_name_and_context_reach_the_task():
    async def scenario():
        loop = asyncio.get_running_loop()
        var.set("given")
        ctx = contextvars.copy_context()
        var.set("caller")

        async def body():
            return var.get(), asyncio.current_task().get_name()

        return await loop.create_task(body(), name="named", context=ctx)

    assert on_both(scenario) == ("given", "named")


@pytest.mark.skipif(
    sys.version_info >= (3, 13, 3), reason="3.13.3+ pass other keywords on to the Task"
)
def test_other_keywords_are_refused_before_3_13_3():
    async def scenario():
        loop = asyncio.get_running_loop()
        coro = returns_at_once([], "x")
        try:
            loop.create_task(coro, eager_start=True)
        except TypeError:
            return "TypeError"
        finally:
            coro.close()
        return "accepted"

    assert on_both(scenario) == "TypeError"


@pytest.mark.skipif(sys.version_info < (3, 14), reason="create_task(eager_start=) is 3.14+")
def test_eager_start_keyword_runs_the_first_step_at_once():
    async def scenario():
        loop = asyncio.get_running_loop()
        log = []
        eager = loop.create_task(returns_at_once(log, "eager"), eager_start=True)
        lazy = loop.create_task(returns_at_once(log, "lazy"), eager_start=False)
        state = (eager.done(), lazy.done(), list(log))
        await lazy
        return state

    done_eager, done_lazy, log = on_both(scenario)
    assert (done_eager, done_lazy) == (True, False)
    assert [entry[:2] for entry in log] == [("ran", "eager")]


@needs_eager
def test_eager_task_factory_runs_until_the_first_suspension():
    async def scenario():
        loop = asyncio.get_running_loop()
        loop.set_task_factory(asyncio.eager_task_factory)
        log = []
        quick = loop.create_task(returns_at_once(log, "quick"))
        slow = loop.create_task(awaits_once(log, "slow"))
        log.append(("created",))
        state = (quick.done(), slow.done())
        results = await asyncio.gather(quick, slow)
        return state, results, [entry[:2] for entry in log]

    state, results, log = on_both(scenario)
    assert state == (True, False)
    assert results == ["quick", "slow"]
    assert log == [("ran", "quick"), ("start", "slow"), ("created",), ("end", "slow")]


@needs_eager
def test_eager_tasks_are_current_and_registered_while_they_run():
    async def scenario():
        loop = asyncio.get_running_loop()
        loop.set_task_factory(asyncio.eager_task_factory)
        seen = {}

        async def body():
            me = asyncio.current_task()
            seen["current"] = me is not None
            seen["listed"] = me in asyncio.all_tasks()
            await asyncio.sleep(0)
            seen["still current"] = asyncio.current_task() is me

        task = loop.create_task(body())
        seen["outer is current again"] = asyncio.current_task() is not task
        await task
        return seen

    seen = on_both(scenario)
    assert all(seen.values()), seen


@needs_eager
def test_create_eager_task_factory_with_a_task_subclass():
    class MyTask(asyncio.Task):
        pass

    async def scenario():
        loop = asyncio.get_running_loop()
        loop.set_task_factory(asyncio.create_eager_task_factory(MyTask))
        log = []
        task = loop.create_task(returns_at_once(log, "sub"), name="sub-task")
        out = (type(task).__name__, task.done(), task.get_name())
        await task
        return out

    assert on_both(scenario) == ("MyTask", True, "sub-task")


@needs_eager
def test_eager_task_factory_with_taskgroup_and_gather():
    async def scenario():
        loop = asyncio.get_running_loop()
        loop.set_task_factory(asyncio.eager_task_factory)
        log = []
        async with asyncio.TaskGroup() as tg:
            for i in range(3):
                tg.create_task(awaits_once(log, i))
        gathered = await asyncio.gather(*(awaits_once(log, f"g{i}") for i in range(2)))
        return log, gathered

    log, gathered = on_both(scenario)
    assert gathered == ["g0", "g1"]
    assert log[:3] == [("start", 0), ("start", 1), ("start", 2)]


@needs_eager
def test_an_eager_task_that_raises_at_once_is_done_with_the_error():
    async def scenario():
        loop = asyncio.get_running_loop()
        loop.set_task_factory(asyncio.eager_task_factory)

        async def fails():
            raise ValueError("boom")

        task = loop.create_task(fails())
        done = task.done()
        try:
            await task
        except ValueError as exc:
            return done, str(exc)
        return done, None

    assert on_both(scenario) == (True, "boom")
