"""Run every program in examples/ under stdlib asyncio and under oxloop; compare.

Each example is run as a subprocess twice, from the repository root:

* ``python examples/NAME.py``            (stdlib asyncio event loop)
* ``python -m oxloop examples/NAME.py``  (oxloop's runner installs its policy)

Both runs must exit with the expected status and print exactly the same
stdout. ``cancel_on_ctrl_c.py`` is interrupted with SIGINT once it has
printed ``ready``. A probe script checks that ``-m oxloop`` really runs an
oxloop event loop and starts the script as if it had been run directly.

Nothing here is skipped: if oxloop cannot be imported, the tests fail.
"""

import difflib
import importlib
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.py"))
PROBE = "tests/_loop_probe.py"
TIMEOUT = 60.0  # seconds, per run

# Examples that must be interrupted with SIGINT after printing this line,
# mapped to the exit status they document for that case.
INTERRUPTED = {"cancel_on_ctrl_c.py": 130}
READY_LINE = b"ready\n"


def command(script: str, runner: str, *args: str) -> list[str]:
    if runner == "asyncio":
        return [sys.executable, script, *args]
    return [sys.executable, "-m", "oxloop", script, *args]


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            cmd,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{cmd} did not finish within {TIMEOUT}s; stdout so far:\n{exc.stdout}")


def run_and_interrupt(cmd: list[str]) -> subprocess.CompletedProcess:
    """Start cmd, wait for the ready line on its stdout, send SIGINT, collect the rest."""
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    head = b""
    deadline = time.monotonic() + TIMEOUT
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while READY_LINE not in head:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"{cmd}: no {READY_LINE!r} within {TIMEOUT}s; got {head!r}")
                if not sel.select(remaining):
                    continue
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    err = proc.stderr.read().decode(errors="replace")
                    pytest.fail(f"{cmd} closed stdout before {READY_LINE!r}: {head!r}\n{err}")
                head += chunk
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{cmd} did not exit within {TIMEOUT}s of SIGINT; stdout:\n{(head + out)!r}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(
        cmd, proc.returncode, (head + out).decode(), err.decode(errors="replace")
    )


def execute(name: str, runner: str) -> subprocess.CompletedProcess:
    cmd = command(f"examples/{name}", runner)
    return run_and_interrupt(cmd) if name in INTERRUPTED else run(cmd)


def describe(result: subprocess.CompletedProcess) -> str:
    return (
        f"$ {' '.join(result.args)}\nexit status {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}--- stderr ---\n{result.stderr}"
    )


def test_oxloop_is_importable() -> None:
    module = importlib.import_module("oxloop")
    assert module.__name__ == "oxloop"


def test_examples_exist() -> None:
    assert len(EXAMPLES) >= 10, EXAMPLES
    assert set(INTERRUPTED) <= set(EXAMPLES)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_does_not_import_oxloop(name: str) -> None:
    source = (ROOT / "examples" / name).read_text(encoding="utf-8")
    assert "oxloop" not in source, f"{name} must be plain asyncio code"


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_same_output(name: str) -> None:
    expected_status = INTERRUPTED.get(name, 0)

    plain = execute(name, "asyncio")
    assert plain.returncode == expected_status, describe(plain)
    assert plain.stderr == "", describe(plain)
    assert plain.stdout.strip(), describe(plain)

    ox = execute(name, "oxloop")
    assert ox.returncode == expected_status, describe(ox)
    if ox.stdout != plain.stdout:
        diff = "".join(
            difflib.unified_diff(
                plain.stdout.splitlines(keepends=True),
                ox.stdout.splitlines(keepends=True),
                fromfile="asyncio",
                tofile="oxloop",
            )
        )
        pytest.fail(f"stdout differs between asyncio and oxloop:\n{diff}\n{describe(ox)}")


def probe(runner: str) -> dict[str, str]:
    result = run(command(PROBE, runner, "first-arg", "--flag"))
    assert result.returncode == 0, describe(result)
    pairs = (line.split(" ", 1) for line in result.stdout.splitlines())
    return dict(pair for pair in pairs if len(pair) == 2)


def test_probe_uses_oxloop_loop() -> None:
    plain = probe("asyncio")
    assert plain["loop_module"].startswith("asyncio"), plain
    ox = probe("oxloop")
    assert ox["loop_module"].startswith("oxloop"), ox


def test_probe_runs_script_as_if_direct() -> None:
    plain = probe("asyncio")
    ox = probe("oxloop")
    for key in ("name", "argv", "file", "path0"):
        assert ox.get(key) == plain[key], f"{key}: oxloop {ox.get(key)!r} != {plain[key]!r}"
