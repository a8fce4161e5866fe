"""The ways a program runs on oxloop, on every Python version, and their warnings.

`oxloop.run`, `asyncio.run(loop_factory=)` (3.12+), `asyncio.Runner(loop_factory=)` and
`python -m oxloop` must run the program on an oxloop loop without a DeprecationWarning.
`oxloop.install()` works through asyncio's event loop policy, which Python 3.14
deprecated: there, and only there, it warns, once, pointing at its caller.
Each check runs in a fresh interpreter with DeprecationWarning turned into an error.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

PROBE = """
import asyncio, warnings
warnings.simplefilter("error", DeprecationWarning)

async def main():
    return type(asyncio.get_running_loop()).__module__
"""


def run_python(*args):
    """`python -W error::DeprecationWarning *args` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_snippet(body):
    proc = run_python("-c", PROBE + textwrap.dedent(body))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_oxloop_run():
    assert run_snippet("import oxloop; print(oxloop.run(main()))") == "oxloop._loop"


def test_asyncio_runner_with_loop_factory():
    out = run_snippet(
        """
        import oxloop
        with asyncio.Runner(loop_factory=oxloop.new_event_loop) as runner:
            print(runner.run(main()), runner.get_loop().is_closed())
        """
    )
    assert out == "oxloop._loop False"


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.run(loop_factory=) is 3.12+")
def test_asyncio_run_with_loop_factory():
    out = run_snippet(
        "import oxloop; print(asyncio.run(main(), loop_factory=oxloop.new_event_loop))"
    )
    assert out == "oxloop._loop"


def test_python_dash_m_oxloop_runs_a_script_without_warnings(tmp_path):
    script = tmp_path / "app.py"
    script.write_text(
        PROBE
        + textwrap.dedent(
            """
            loop = asyncio.new_event_loop()
            print(asyncio.run(main()), type(loop).__module__)
            loop.close()
            """
        )
    )
    proc = run_python("-m", "oxloop", str(script))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["oxloop._loop", "oxloop._loop"]
    assert proc.stderr == ""


def test_importing_oxloop_warns_nothing():
    assert run_snippet("import oxloop, oxloop.__main__; print('ok')") == "ok"


@pytest.mark.skipif(sys.version_info >= (3, 14), reason="3.14 deprecated event loop policies")
def test_install_is_silent_before_3_14():
    out = run_snippet("import oxloop; oxloop.install(); print(asyncio.run(main()))")
    assert out == "oxloop._loop"


@pytest.mark.skipif(sys.version_info < (3, 14), reason="policies are deprecated from 3.14")
def test_install_warns_once_on_3_14_and_still_works():
    out = run_snippet(
        """
        import oxloop
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            oxloop.install()
        print(asyncio.run(main()), len(caught), caught[0].category.__name__,
              caught[0].filename)
        """
    )
    assert out == "oxloop._loop 1 DeprecationWarning <string>"
