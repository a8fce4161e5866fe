"""oxloop's loop with dask.distributed's `Client.get_executor()` on a
`LocalCluster` the example starts (skipped when distributed is missing)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("distributed")

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "dask", "dask_executor.py")


def test_run_in_executor_on_a_dask_cluster():
    out = subprocess.run([sys.executable, EXAMPLE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == str([144] + [i * i for i in range(10)])
