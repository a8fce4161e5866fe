"""Describe the machine and interpreter the benchmark ran on (for the report header)."""

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "cpu model") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def core_count() -> str:
    total = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = total
    if usable and usable != total:
        return f"{usable} of {total} cores"
    return f"{total} cores"


def python_version() -> str:
    return f"{platform.python_implementation()} {platform.python_version()}"


def describe() -> str:
    return f"{cpu_model()}, {core_count()}, {platform.system()} {platform.machine()}"
