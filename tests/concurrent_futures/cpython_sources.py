"""Where CPython's ``test_concurrent_futures`` comes from, for the running interpreter.

CPython ships it inside its ``test`` package (a single module up to 3.12, a package since
3.13), but distributions and pyenv builds often strip it.  Lookup order:

1. the interpreter's own ``test`` package (``test/test_concurrent_futures[.py]``);
2. a cache outside the repository (``$OXLOOP_CPYTHON_TESTS_CACHE``, default
   ``~/.cache/oxloop-cpython-tests/X.Y``) holding Debian's ``libpythonX.Y-testsuite``
   binary package, extracted;
3. the same package fetched now with ``apt-get download`` (Debian bookworm has 3.11).

A file from (2)/(3) is *staged*: a directory ``stage/test/`` holds an ``__init__.py``
whose ``__path__`` is [that directory, the interpreter's own ``test`` directory] and
the test file, so ``test.test_concurrent_futures`` imports under its real name next to
the interpreter's own ``test.support``, in this process and in every child that has the
stage directory on ``sys.path`` (spawned pool workers inherit ``sys.path``). CPython's
test files are never copied into the repository.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
import subprocess
import sys
import tempfile

MODULE = "test.test_concurrent_futures"
VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"

_OVERLAY_INIT = '''"""Made by oxloop's tests/concurrent_futures/cpython_sources.py: CPython's
own `test` package, plus the test_concurrent_futures staged beside this file."""
import os as _os

__path__ = [_os.path.dirname(__file__), {stdlib_test!r}]
'''


@dataclasses.dataclass(frozen=True)
class Sources:
    """Where the tests were found: ``stage`` is a directory to put first on ``sys.path``
    (None when the interpreter ships them), ``origin`` says where they came from."""

    origin: str
    stage: str | None
    modules: tuple[str, ...]  # importable test modules


def cache_dir() -> str:
    root = os.environ.get("OXLOOP_CPYTHON_TESTS_CACHE") or os.path.expanduser(
        "~/.cache/oxloop-cpython-tests"
    )
    return os.path.join(root, VERSION)


def _stdlib_test_dir() -> str:
    return os.path.join(os.path.dirname(os.__file__), "test")


def _find_in(test_dir: str) -> str | None:
    for name in ("test_concurrent_futures", "test_concurrent_futures.py"):
        path = os.path.join(test_dir, name)
        if os.path.exists(path):
            return path
    return None


def _submodules(path: str, prefix: str) -> tuple[str, ...]:
    if not os.path.isdir(path):
        return (prefix,)
    names = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(path, "test_*.py")))
    return tuple(f"{prefix}.{n}" for n in names)


def _extracted_test_dir() -> str:
    return os.path.join(cache_dir(), "usr", "lib", f"python{VERSION}", "test")


def _apt_download(package: str, where: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["apt-get", "download", package], cwd=where, capture_output=True, text=True, timeout=300
    )


def fetch() -> str:
    """Downloads and extracts ``libpythonX.Y-testsuite`` into the cache; returns a
    message saying what happened (never raises for a missing package)."""
    package = f"libpython{VERSION}-testsuite"
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        return "apt-get/dpkg-deb not available"
    with tempfile.TemporaryDirectory(prefix="oxloop-cf-deb-") as tmp:
        proc = _apt_download(package, tmp)
        no_lists = not glob.glob("/var/lib/apt/lists/*_Packages*")
        if proc.returncode != 0 and no_lists and os.geteuid() == 0:
            # a fresh machine has no package lists yet
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=600)
            proc = _apt_download(package, tmp)
        debs = glob.glob(os.path.join(tmp, "*.deb"))
        if proc.returncode != 0 or not debs:
            why = (proc.stderr or proc.stdout).strip().splitlines()
            return f"apt-get download {package} failed: {why[-1] if why else proc.returncode}"
        os.makedirs(cache_dir(), exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", debs[0], cache_dir()], check=True, timeout=300)
    return f"fetched {os.path.basename(debs[0])}"


def _stage(found: str) -> str:
    """Builds the overlay ``test`` package for a test file found in the cache."""
    stage = os.path.join(cache_dir(), "stage")
    pkg = os.path.join(stage, "test")
    os.makedirs(pkg, exist_ok=True)
    init = _OVERLAY_INIT.format(stdlib_test=_stdlib_test_dir())
    init_path = os.path.join(pkg, "__init__.py")
    if not os.path.exists(init_path) or open(init_path, encoding="utf-8").read() != init:
        with open(init_path, "w", encoding="utf-8") as f:
            f.write(init)
    target = os.path.join(pkg, os.path.basename(found))
    if os.path.isdir(found):
        shutil.copytree(found, target, dirs_exist_ok=True)
    else:
        shutil.copyfile(found, target)
    return stage


def locate(allow_fetch: bool = True) -> tuple[Sources | None, str]:
    """The tests for this interpreter, or None and the reason they are unavailable."""
    own = _find_in(_stdlib_test_dir())
    if own is not None:
        return Sources(f"the interpreter's own {own}", None, _submodules(own, MODULE)), ""
    if not os.path.isdir(_stdlib_test_dir()):
        return None, f"this interpreter has no `test` package ({_stdlib_test_dir()})"
    notes = []
    found = _find_in(_extracted_test_dir())
    if found is None and allow_fetch:
        notes.append(fetch())
        found = _find_in(_extracted_test_dir())
    if found is None:
        notes.append(f"no test_concurrent_futures in {_stdlib_test_dir()} nor {cache_dir()}")
        return None, "; ".join(notes)
    stage = _stage(found)
    return Sources(
        f"Debian's libpython{VERSION}-testsuite ({found})", stage, _submodules(found, MODULE)
    ), "; ".join(notes)


def activate(sources: Sources) -> None:
    """Makes ``test.test_concurrent_futures`` importable in this process (and in
    processes that inherit ``sys.path``)."""
    if sources.stage is None:
        return
    if sources.stage not in sys.path:
        sys.path.insert(0, sources.stage)
    test_pkg = sys.modules.get("test")
    if test_pkg is not None and os.path.join(sources.stage, "test") not in test_pkg.__path__:
        test_pkg.__path__.insert(0, os.path.join(sources.stage, "test"))


if __name__ == "__main__":
    src, note = locate()
    print(src if src else f"unavailable: {note}")
