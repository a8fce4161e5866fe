"""`python -m oxloop -m module`: the module runs as __main__ on an oxloop loop."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_dash_m_runs_a_module_as_main(tmp_path):
    pkg = tmp_path / "probe_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "tool.py").write_text(
        textwrap.dedent(
            """
            import asyncio, sys

            async def main():
                return type(asyncio.get_running_loop()).__module__

            if __name__ == "__main__":
                print(asyncio.run(main()), sys.argv[1:])
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "oxloop", "-m", "probe_pkg.tool", "a", "--b"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "oxloop._loop ['a', '--b']"


def test_usage_errors_exit_2():
    proc = subprocess.run(
        [sys.executable, "-m", "oxloop"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "usage" in proc.stderr
