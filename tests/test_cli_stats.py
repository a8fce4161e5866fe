"""`python -m oxloop --stats`: a summary at exit (Ctrl+C included) and
`--stats-interval` lines, for scripts and `-m` modules."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

APP = textwrap.dedent(
    """
    import asyncio, sys, time

    def blocker():
        time.sleep(0.05)

    async def main():
        loop = asyncio.get_running_loop()
        loop.call_soon(blocker)
        for _ in range(20):
            await asyncio.sleep(0.001)
        print("done", sys.argv[1:])

    asyncio.run(main())
    """
)


def run(args, cwd, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "oxloop", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def check_summary(stderr):
    assert "oxloop --stats" in stderr
    for row in ("iterations", "callbacks", "pending", "poll seconds", "lag p99"):
        assert row in stderr, row
    assert "callback durations" in stderr
    assert "lag (callbacks and timers" in stderr
    slowest = stderr.split("slowest callbacks:")[1].splitlines()[1]
    assert " blocker " in slowest and "app.py:4" in slowest


def test_stats_prints_a_summary_at_exit(tmp_path):
    (tmp_path / "app.py").write_text(APP)
    proc = run(["--stats", "app.py", "x"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done ['x']"
    check_summary(proc.stderr)


def test_stats_with_a_module_and_an_interval(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "app.py").write_text(APP.replace("range(20)", "range(300)"))
    proc = run(["--stats-interval", "0.05", "-m", "pkg.app"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("oxloop: ")]
    assert lines, proc.stderr
    assert "callbacks" in lines[0] and "busy" in lines[0] and "lag p99" in lines[0]
    check_summary(proc.stderr)


def test_stats_summary_on_ctrl_c(tmp_path):
    (tmp_path / "app.py").write_text(
        APP.replace(
            'print("done", sys.argv[1:])',
            'print("ready", flush=True)\n    await asyncio.sleep(60)',
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "oxloop", "--stats", "app.py"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert "KeyboardInterrupt" in stderr
    check_summary(stderr)


def test_stats_usage_errors(tmp_path):
    for args in (["--stats-interval"], ["--stats-interval", "x", "a.py"], ["--stats"]):
        proc = run(args, tmp_path)
        assert proc.returncode == 2, args
        assert "usage" in proc.stderr
