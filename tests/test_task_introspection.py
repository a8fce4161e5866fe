"""`python -m asyncio ps PID` / `pstree PID` (Python 3.14) on a program run by oxloop.

The tools read a live process's tasks through the remote debugging interface: the C
Task objects and the running loop the interpreter records per thread. A program run
with `python -m oxloop` must list the same tasks, names and await chains as the same
program on stdlib asyncio.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 14), reason="python -m asyncio ps/pstree are new in Python 3.14"
)

APP = textwrap.dedent(
    """
    import asyncio

    async def worker(n):
        await asyncio.sleep(60)

    async def main():
        async with asyncio.TaskGroup() as tg:
            for i in range(2):
                tg.create_task(worker(i), name=f"worker-{i}")
            print("ready", flush=True)

    asyncio.run(main())
    """
)


def inspect(tmp_path, runner_args):
    """Start APP with `python *runner_args app.py`; return its `ps` and `pstree` output."""
    app = tmp_path / "app.py"
    app.write_text(APP)
    proc = subprocess.Popen(
        [sys.executable, *runner_args, str(app)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        outputs = []
        for tool in ("ps", "pstree"):
            res = subprocess.run(
                [sys.executable, "-m", "asyncio", tool, str(proc.pid)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if res.returncode != 0:
                pytest.skip(f"python -m asyncio {tool} cannot read the process: {res.stderr}")
            outputs.append(res.stdout)
        return outputs
    finally:
        proc.kill()
        proc.wait()


def ps_rows(text):
    """(task name, coroutine stack, awaiter name) per task, without ids."""
    rows = set()
    for line in text.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) >= 4 and cells[0].isdigit():
            name, stack = cells[2], cells[3]
            awaiter = cells[5] if len(cells) >= 7 else ""
            rows.add((name, stack, awaiter))
    return rows


def test_ps_and_pstree_list_oxloops_tasks_like_asyncios(tmp_path):
    ps_asyncio, tree_asyncio = inspect(tmp_path, [])
    ps_oxloop, tree_oxloop = inspect(tmp_path, ["-m", "oxloop"])
    rows = ps_rows(ps_oxloop)
    assert rows == ps_rows(ps_asyncio)
    names = {name for name, _, _ in rows}
    assert {"worker-0", "worker-1"} <= names
    assert tree_oxloop == tree_asyncio
    assert "(T) worker-0" in tree_oxloop
