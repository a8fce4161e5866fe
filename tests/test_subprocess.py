"""asyncio subprocesses on oxloop and on stdlib asyncio: same results."""

from __future__ import annotations

import asyncio
import sys
import warnings

import oxloop
import pytest

LOOPS = {"oxloop": oxloop.new_event_loop, "asyncio": asyncio.new_event_loop}


def run(factory, coro):
    with asyncio.Runner(loop_factory=LOOPS[factory]) as runner:
        return runner.run(coro)


async def exchange():
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys; data = sys.stdin.read(); print(data.upper()); sys.exit(7)",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(b"hello from the parent")
    return out, err, proc.returncode


async def shell_and_kill():
    shell = await asyncio.create_subprocess_shell(
        "echo shell $((6*7))", stdout=asyncio.subprocess.PIPE
    )
    out = await shell.stdout.read()
    code = await shell.wait()
    sleeper = await asyncio.create_subprocess_exec("sleep", "30")
    sleeper.kill()
    killed = await sleeper.wait()
    return out, code, killed


@pytest.mark.parametrize("factory", sorted(LOOPS))
def test_exec_with_stdin_and_stdout(factory):
    assert run(factory, exchange()) == (b"HELLO FROM THE PARENT\n", None, 7)


@pytest.mark.parametrize("factory", sorted(LOOPS))
def test_shell_and_kill(factory):
    assert run(factory, shell_and_kill()) == (b"shell 42\n", 0, -9)


@pytest.mark.parametrize("factory", sorted(LOOPS))
def test_bad_arguments_raise_value_error(factory):
    async def main():
        loop = asyncio.get_running_loop()
        errors = []
        for call in (
            lambda: loop.subprocess_shell(asyncio.SubprocessProtocol, ["not", "a", "string"]),
            lambda: loop.subprocess_exec(asyncio.SubprocessProtocol, "true", shell=True),
            lambda: loop.subprocess_exec(asyncio.SubprocessProtocol, "true", bufsize=1),
            lambda: loop.subprocess_exec(asyncio.SubprocessProtocol, "true", text=True),
        ):
            with pytest.raises(ValueError) as info:
                await call()
            errors.append(str(info.value))
        return errors

    assert run(factory, main()) == [
        "cmd must be a string",
        "shell must be False",
        "bufsize must be 0",
        "text must be False",
    ]


@pytest.mark.skipif(sys.version_info >= (3, 14), reason="3.14 removed the child watchers")
@pytest.mark.parametrize("factory", sorted(LOOPS))
def test_watcher_checked_through_its_context_manager(factory):
    """3.11 checks what the child watcher's __enter__ returns, 3.12 and 3.13 the watcher
    itself (as asyncio does): only the object checked is inactive, so the error shows
    which one was."""
    checks_itself = sys.version_info >= (3, 12)

    class Entered:
        def is_active(self):
            return checks_itself

    class Watcher:
        def __init__(self):
            self.calls = []

        def __enter__(self):
            self.calls.append("enter")
            return Entered()

        def __exit__(self, *exc):
            self.calls.append(("exit", exc[0]))
            return False

        def is_active(self):
            return not checks_itself

        def add_child_handler(self, *args):
            self.calls.append("add_child_handler")

    watcher = Watcher()

    async def main():
        with pytest.raises(RuntimeError, match="not activated"):
            await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        policy = asyncio.get_event_loop_policy()
        previous = policy._watcher
        policy._watcher = watcher
        try:
            run(factory, main())
        finally:
            policy._watcher = previous
    assert watcher.calls == ["enter", ("exit", RuntimeError)]
