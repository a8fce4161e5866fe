"""Format benchmark results: plain-text or Markdown table, and the oxloop target checks."""

from dataclasses import dataclass

import machine
from loops import BASELINES
from runner import Cell, Probe

TARGET_LOOP = "oxloop"
CHAIN_WORKLOAD = "call_soon_chain"
CHAIN_FACTOR = 3.5
REASON_WIDTH = 110


@dataclass
class Results:
    loops: list[str]  # loops asked for, in report order
    probes: dict[str, Probe]
    workloads: list[tuple[str, int]]  # (name, N)
    cells: dict[tuple[str, str], Cell]
    repeat: int

    def available(self, loop: str) -> bool:
        return self.probes[loop].available

    def best(self, loop: str, workload: str) -> float | None:
        cell = self.cells.get((loop, workload))
        return cell.best if cell else None

    @property
    def baseline(self) -> str | None:
        """Denominator of the ratio column: uvloop, or asyncio if uvloop is unavailable."""
        for loop in BASELINES:
            if loop in self.probes and self.available(loop):
                return loop
        return None


def _short(text: str, width: int = REASON_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _rows(res: Results) -> list[list[str]]:
    rows = []
    base = res.baseline
    for name, n in res.workloads:
        base_best = res.best(base, name) if base else None
        for loop in res.loops:
            if not res.available(loop):
                rows.append([name, f"{n:,}", loop, "unavailable", "-", "-", ""])
                continue
            cell = res.cells[(loop, name)]
            ratio = "-"
            if cell.best is not None and base_best:
                ratio = f"{cell.best / base_best:.2f}x"
            note = ""
            if cell.errors:
                failed = f"{len(cell.errors)}/{cell.attempts} runs failed: "
                note = _short(("" if cell.best is None else failed) + cell.errors[0])
            best = "error" if cell.best is None else _rate(cell.best)
            rows.append([name, f"{n:,}", loop, best, _rate(cell.median), ratio, note])
    return rows


def _headers(res: Results) -> list[str]:
    ratio = f"x {res.baseline}" if res.baseline else "ratio"
    return ["workload", "N", "loop", "best ops/s", "median ops/s", ratio, "note"]


def _versions(res: Results) -> list[str]:
    out = []
    for loop in res.loops:
        if loop == "asyncio":
            continue
        probe = res.probes[loop]
        out.append(f"{loop} {probe.version}" if probe.available else f"{loop} unavailable")
    return out


def header_lines(res: Results) -> list[str]:
    lines = [
        f"machine: {machine.describe()}",
        f"python: {machine.python_version()}",
        "loops: " + ", ".join(_versions(res) or ["asyncio only"]),
        f"each cell: best and median of {res.repeat} run(s), one fresh process per run",
    ]
    for loop in res.loops:
        if not res.available(loop):
            lines.append(f"unavailable: {loop}: {_short(res.probes[loop].error)}")
    return lines


def plain_table(res: Results) -> str:
    headers = _headers(res)
    rows = _rows(res)
    # Show the workload name and N only on the first row of each workload group.
    shown = []
    for i, row in enumerate(rows):
        first = i == 0 or rows[i - 1][0] != row[0]
        shown.append(row if first else ["", "", *row[2:]])
    widths = [max(len(r[i]) for r in [headers, *shown]) for i in range(len(headers))]
    right = {1, 3, 4, 5}

    def fmt(row: list[str]) -> str:
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    lines = [*header_lines(res), "", fmt(headers), fmt(["-" * w for w in widths])]
    for i, row in enumerate(shown):
        if i and row[0]:
            lines.append("")
        lines.append(fmt(row))
    return "\n".join(lines)


def markdown_table(res: Results) -> str:
    versions = ", ".join(_versions(res) or ["asyncio only"])
    head = (
        f"Machine: {machine.describe()}; Python: {machine.python_version()}; "
        f"loops: {versions}; best and median of {res.repeat} run(s), "
        "one fresh process per run."
    )

    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    headers = _headers(res)
    lines = [head, "", "| " + " | ".join(headers) + " |"]
    lines.append("|---|---:|---|---:|---:|---:|---|")
    for row in _rows(res):
        lines.append("| " + " | ".join(esc(c) for c in row) + " |")
    return "\n".join(lines)


@dataclass
class TargetCheck:
    workload: str
    goal: str
    status: str  # PASS, FAIL or SKIP
    detail: str


def _compare(ox: float | None, ref: float | None, factor: float, what: str) -> tuple[str, str]:
    if ref is None:
        return "SKIP", f"no result for {what}"
    if ox is None:
        return "FAIL", f"oxloop has no result; {what} {_rate(ref)}"
    status = "PASS" if ox >= factor * ref else "FAIL"
    return status, f"oxloop {_rate(ox)} vs {what} {_rate(ref)} ({ox / ref:.2f}x)"


def check_targets(res: Results) -> list[TargetCheck] | str:
    """PASS/FAIL per target, or a string saying why the targets could not be evaluated."""
    if TARGET_LOOP not in res.probes:
        return "targets not evaluated: oxloop was not benchmarked"
    if not res.available(TARGET_LOOP):
        return "targets not evaluated: oxloop unavailable"
    checks = []
    for name, _ in res.workloads:
        ox = res.best(TARGET_LOOP, name)
        rivals = {
            loop: res.best(loop, name)
            for loop in ("uvloop", "rloop")
            if loop in res.probes and res.available(loop)
        }
        measured = {loop: v for loop, v in rivals.items() if v is not None}
        fastest = max(measured, key=lambda loop: measured[loop]) if measured else None
        missing = sorted({"uvloop", "rloop"} - set(measured))
        status, detail = _compare(ox, measured.get(fastest), 1.0, fastest or "uvloop/rloop")
        if missing and status != "SKIP":
            detail += f"; no result for {', '.join(missing)}"
        checks.append(TargetCheck(name, "oxloop >= max(uvloop, rloop)", status, detail))
        if name == CHAIN_WORKLOAD:
            status, detail = _compare(ox, rivals.get("uvloop"), CHAIN_FACTOR, "uvloop")
            checks.append(TargetCheck(name, f"oxloop >= {CHAIN_FACTOR}x uvloop", status, detail))
        asyncio_best = res.best("asyncio", name) if "asyncio" in res.probes else None
        status, detail = _compare(ox, asyncio_best, 1.0, "asyncio")
        checks.append(TargetCheck(name, "oxloop >= asyncio", status, detail))
    return checks


def targets_text(res: Results, markdown: bool) -> str:
    checks = check_targets(res)
    if isinstance(checks, str):
        return checks
    if markdown:
        lines = ["Targets (best of runs):", ""]
        lines += [f"- {c.status} `{c.workload}`: {c.goal} ({c.detail})" for c in checks]
        return "\n".join(lines)
    wn = max(len(c.workload) for c in checks)
    wg = max(len(c.goal) for c in checks)
    lines = ["targets (best of runs):"]
    lines += [f"  {c.status}  {c.workload:<{wn}}  {c.goal:<{wg}}  {c.detail}" for c in checks]
    passed = sum(c.status == "PASS" for c in checks)
    lines.append(f"  {passed}/{len(checks)} targets met")
    return "\n".join(lines)
