"""Networking benchmark: TCP/UDP echo throughput, server CPU per request and RSS per idle
connection for oxloop, asyncio, uvloop, rloop and a minimal Rust epoll server (the floor).

    python benches/net_bench.py              # full run (~7 min)
    python benches/net_bench.py --quick      # smoke run (< 60 s)
    python benches/net_bench.py --markdown   # Markdown tables for BENCHMARKS.md

The closed-loop load generator (benches/loadgen, `oxloop-loadgen`) and the Rust floor
(`oxloop-rust-echo`) are built with `cargo build --release -p oxloop-loadgen` first. Each
server (benches/net/echo_server.py, or the Rust floor) runs pinned to one CPU and the load
generator to another. Server CPU time is read from /proc by the load generator at the start
and end of its measured window. Loopback only; every child process has a timeout. A server
that fails to start or crashes, or a run that fails, is an "error" cell and the run goes on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCHES = Path(__file__).resolve().parent
ROOT = BENCHES.parent
ECHO_SERVER = BENCHES / "net" / "echo_server.py"

LOOPS = ("oxloop", "asyncio", "uvloop", "rloop")
STYLES = ("protocol", "buffered", "streams")
RUST = "rust"  # the Rust floor, shown as a loop named "rust"
BASELINE = "uvloop"
KIB = 1024


# --------------------------------------------------------------------------- processes


def cpu_plan() -> tuple[set[int] | None, set[int] | None, str]:
    """CPUs for the server and the load generator, and a description for the report."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None, None, "not pinned (no sched_setaffinity)"
    if len(cpus) < 2:
        return None, None, f"not pinned (only CPU {cpus} usable)"
    return {cpus[0]}, {cpus[1]}, f"server on CPU {cpus[0]}, load generator on CPU {cpus[1]}"


def pinned(cpus: set[int] | None):
    if cpus is None:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, cpus)

    return pin


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def tail(path: Path, limit: int = 160) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    for line in reversed(lines):
        if line.startswith("error:"):
            return line[len("error:") :].strip()[:limit]
    return lines[-1][:limit] if lines else ""


def read_line(proc: subprocess.Popen, timeout: float) -> str | None:
    """One line from proc.stdout (raw fd reads, so select() is reliable), or None."""
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            return data.decode(errors="replace") or None
        data += chunk
    return data.split(b"\n", 1)[0].decode(errors="replace")


@dataclass
class Server:
    loop: str
    style: str  # protocol | buffered | streams | udp
    proc: subprocess.Popen | None = None
    port: int = 0
    version: str = ""
    error: str = ""
    errfile: Path | None = None

    @property
    def name(self) -> str:
        return RUST if self.loop == RUST else f"{self.loop}/{self.style}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def death_reason(self) -> str:
        code = self.proc.returncode if self.proc else None
        why = tail(self.errfile) if self.errfile else ""
        if code is not None and code < 0:
            return f"server killed by signal {-code}" + (f": {why}" if why else "")
        return f"server exited ({code})" + (f": {why}" if why else "")


class Bench:
    def __init__(self, args: argparse.Namespace, bins: Path) -> None:
        self.args = args
        self.loadgen = bins / "oxloop-loadgen"
        self.rust_echo = bins / "oxloop-rust-echo"
        self.server_cpus, self.load_cpus, self.pinning = cpu_plan()
        self.tmp = Path(tempfile.mkdtemp(prefix="oxloop-net-"))

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- servers

    def start(self, loop: str, style: str) -> Server:
        srv = Server(loop, style)
        if loop == RUST:
            cmd = [str(self.rust_echo), "--port", "0", "--timeout", "3600"]
            if style == "udp":
                cmd.append("--udp")
        else:
            cmd = [sys.executable, str(ECHO_SERVER), "--loop", loop, "--style", style]
            cmd += ["--port", "0", "--timeout", "3600"]
        srv.errfile = self.tmp / f"{loop}-{style}-{time.monotonic_ns()}.err"
        with open(srv.errfile, "wb") as err:
            try:
                srv.proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    cwd=ROOT,
                    preexec_fn=pinned(self.server_cpus),
                )
            except OSError as exc:
                srv.error = f"cannot start server: {exc}"
                return srv
        line = read_line(srv.proc, self.args.start_timeout)
        if line and line.startswith("ready "):
            parts = line.split()
            srv.port = int(parts[1])
            srv.version = parts[2] if len(parts) > 2 else ""
            # One untimed session on fresh connections first: stdlib asyncio's first batch of
            # connections costs several times more CPU per request than later ones.
            warm = self.load(srv, 10, KIB, self.args.warm_session, 0.0, udp=style == "udp")
            if not srv.alive():
                srv.error = warm.get("error", srv.death_reason())
            return srv
        if line is None and srv.proc.poll() is None:
            # EOF on stdout: give the process a moment to exit so that its status is known.
            try:
                srv.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if srv.proc.poll() is None:
            self.stop(srv)
            srv.error = f"server not ready after {self.args.start_timeout:g} s"
        else:
            srv.error = srv.death_reason()
        return srv

    def stop(self, srv: Server) -> None:
        proc = srv.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc.stdout:
            proc.stdout.close()

    # -- load

    def load(
        self, srv: Server, conns: int, size: int, duration: float, warmup: float, udp: bool = False
    ) -> dict:
        """One closed-loop run against `srv`; the loadgen's JSON, or {"error": reason}."""
        cmd = [
            str(self.loadgen),
            "--port",
            str(srv.port),
            "--conns",
            str(conns),
            "--size",
            str(size),
            "--duration",
            str(duration),
            "--warmup",
            str(warmup),
            "--timeout",
            str(duration + warmup + 20),
            "--server-pid",
            str(srv.proc.pid),
        ]
        if udp:
            cmd.append("--udp")
        try:
            done = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=duration + warmup + 40,
                preexec_fn=pinned(self.load_cpus),
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return {"error": "load generator timed out"}
        if not srv.alive():
            return {"error": srv.death_reason()}
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
        if not lines:
            return {
                "error": f"load generator failed ({done.returncode}): {done.stderr.strip()[-160:]}"
            }
        result = json.loads(lines[-1])
        if "error" in result:
            return result
        if not result.get("requests"):
            return {"error": "no request completed"}
        cpu = result.get("server_cpu_sched_s", result.get("server_cpu_s"))
        if cpu is not None:
            result["cpu_us_per_req"] = cpu / result["requests"] * 1e6
        if "server_user_s" in result:
            # The loop's own share: the kernel's (sys) is mostly the TCP stack, the same
            # for every server doing the same syscalls.
            result["user_us_per_req"] = result["server_user_s"] / result["requests"] * 1e6
        return result

    # -- memory

    def rss_per_conn(self, srv: Server, n: int) -> dict:
        """Server RSS with `n` idle connections minus RSS with none, per connection."""
        time.sleep(0.3)
        pid = srv.proc.pid
        rss0 = vm_rss_kib(pid)
        fds0 = fd_count(pid)
        cmd = [str(self.loadgen), "--port", str(srv.port), "--hold", str(n), "--timeout", "180"]
        hold = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=pinned(self.load_cpus),
        )
        try:
            line = read_line(hold, 120)
            if not line or not line.startswith("ready"):
                why = line or ""
                if hold.poll() is not None and hold.stderr:
                    why = hold.stderr.read().decode(errors="replace").strip()[-160:]
                return {"error": f"could not open {n} connections: {why or 'timeout'}"}
            deadline = time.monotonic() + 30
            while fd_count(pid) < fds0 + n and time.monotonic() < deadline and srv.alive():
                time.sleep(0.05)
            if not srv.alive():
                return {"error": srv.death_reason()}
            accepted = fd_count(pid) - fds0
            if accepted < n:
                return {"error": f"server accepted only {accepted} of {n} connections in 30 s"}
            rss1 = settle_rss(pid)
        finally:
            if hold.stdin:
                hold.stdin.close()
            try:
                hold.wait(timeout=30)
            except subprocess.TimeoutExpired:
                hold.kill()
                hold.wait()
            for stream in (hold.stdout, hold.stderr):
                if stream:
                    stream.close()
        return {
            "conns": n,
            "rss0_kib": rss0,
            "rss1_kib": rss1,
            "bytes_per_conn": (rss1 - rss0) * 1024 / n,
        }


def vm_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def settle_rss(pid: int) -> int:
    """RSS once two samples 0.2 s apart agree within 0.5% (at most ~4 s)."""
    last = vm_rss_kib(pid)
    for _ in range(20):
        time.sleep(0.2)
        now = vm_rss_kib(pid)
        if abs(now - last) <= max(8, now // 200):
            return now
        last = now
    return last


# --------------------------------------------------------------------------- build


def build(no_build: bool) -> Path:
    cargo = shutil.which("cargo")
    if cargo is None:
        raise SystemExit("net_bench: cargo not found (needed to build benches/loadgen)")
    if not no_build:
        done = subprocess.run(
            [cargo, "build", "--release", "-p", "oxloop-loadgen"], cwd=ROOT, timeout=900
        )
        if done.returncode != 0:
            raise SystemExit("net_bench: cargo build --release -p oxloop-loadgen failed")
    meta = subprocess.run(
        [cargo, "metadata", "--format-version", "1", "--no-deps"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if meta.returncode != 0:
        raise SystemExit(f"net_bench: cargo metadata failed: {meta.stderr.strip()[-300:]}")
    bins = Path(json.loads(meta.stdout)["target_directory"]) / "release"
    for name in ("oxloop-loadgen", "oxloop-rust-echo"):
        if not (bins / name).exists():
            raise SystemExit(f"net_bench: {bins / name} missing (build it, or drop --no-build)")
    return bins


# --------------------------------------------------------------------------- running


@dataclass
class Results:
    tcp: dict = field(default_factory=dict)  # (server name, size, conns) -> list of results
    udp: dict = field(default_factory=dict)  # server name -> result
    rss: dict = field(default_factory=dict)  # server name -> result
    versions: dict = field(default_factory=dict)  # loop -> version
    hold: int = 0
    hold_note: str = ""


def tcp_servers(loops: list[str], styles: list[str]) -> list[tuple[str, str]]:
    servers = [(loop, style) for loop in loops for style in styles]
    return servers + [(RUST, "protocol")]


def run_all(bench: Bench, args: argparse.Namespace) -> Results:
    res = Results()
    servers = tcp_servers(args.loops, args.styles)
    configs = [(size, conns) for size in args.sizes for conns in args.conns]
    # Every TCP server is started once and idles (blocked in its poller) while the others
    # are measured. Each cell (size, conns) then runs all servers back to back, so the
    # servers compared in a row are measured within seconds of each other: this VM's speed
    # drifts by tens of percent over minutes, which a server-by-server order (each server
    # through every cell, then the next) turned into differences between loops.
    running: dict[tuple[str, str], Server] = {}
    for loop, style in servers:
        srv = bench.start(loop, style)
        progress(f"start {srv.name}", srv.error or f"port {srv.port}")
        if srv.version:
            res.versions[loop] = srv.version
        running[(loop, style)] = srv
    try:
        for rep in range(args.repeat):
            for size, conns in configs:
                progress(f"[{rep + 1}/{args.repeat}] {fmt_size(size)} x{conns}", "")
                # Rotate the order between repetitions and cells, so that no loop always
                # runs right after another.
                shift = (rep * len(configs) + configs.index((size, conns))) % len(servers)
                for key in servers[shift:] + servers[:shift]:
                    srv = running[key]
                    if not srv.error and not srv.alive():
                        bench.stop(srv)
                        srv = running[key] = bench.start(*key)
                    result = (
                        {"error": srv.error}
                        if srv.error
                        else bench.load(srv, conns, size, args.duration, args.warmup)
                    )
                    res.tcp.setdefault((srv.name, size, conns), []).append(result)
                    progress(f"    {srv.name}", summary(result))
    finally:
        for srv in running.values():
            bench.stop(srv)

    for loop in [*args.loops, RUST] if args.udp else []:
        srv = bench.start(loop, "udp")
        name = f"{loop}/udp" if loop != RUST else RUST
        if srv.error:
            result = {"error": srv.error}
        else:
            result = bench.load(srv, args.udp_conns, KIB, args.duration, args.warmup, udp=True)
        bench.stop(srv)
        res.udp[name] = result
        progress(f"udp {name}", summary(result))

    hard = raise_fd_limit()
    res.hold = min(args.hold, hard - 200)
    if res.hold < args.hold:
        res.hold_note = (
            f"{args.hold} idle connections impossible here (RLIMIT_NOFILE hard limit "
            f"{hard}); used {res.hold}"
        )
    if res.hold > 0:
        for loop, style in [(lp, st) for lp in args.loops for st in args.rss_styles] + [
            (RUST, "protocol")
        ]:
            srv = bench.start(loop, style)
            result = {"error": srv.error} if srv.error else bench.rss_per_conn(srv, res.hold)
            bench.stop(srv)
            res.rss[srv.name] = result
            progress(f"rss {srv.name}", summary(result))
    return res


def progress(what: str, detail: str) -> None:
    print(f"{what:<28} {detail}", file=sys.stderr, flush=True)


def summary(result: dict) -> str:
    if "error" in result:
        return f"error: {result['error']}"
    if "bytes_per_conn" in result:
        return f"{result['bytes_per_conn']:.0f} B/conn"
    cpu = result.get("cpu_us_per_req")
    return f"{result['rps']:.0f} req/s, {cpu:.2f} us CPU/req" if cpu else f"{result['rps']:.0f}"


# --------------------------------------------------------------------------- report


def fmt_size(size: int) -> str:
    return f"{size // KIB} KiB" if size % KIB == 0 else f"{size} B"


def pick(results: list[dict]) -> dict:
    """The (lower) median run by server CPU per request; an error if every run failed."""
    ok = [r for r in results if "error" not in r and "cpu_us_per_req" in r]
    if not ok:
        return results[0] if results else {"error": "not run"}
    ok.sort(key=lambda r: r["cpu_us_per_req"])
    return ok[(len(ok) - 1) // 2]


def cell_cpu(res: Results, name: str, size: int, conns: int) -> float | None:
    r = pick(res.tcp.get((name, size, conns), []))
    return r.get("cpu_us_per_req") if "error" not in r else None


def fmt_us(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "-"
    return f"{value / base:.2f}x"


# The columns of one load run, shared by the TCP and UDP tables (`measured`).
MEASURED_HEAD = ["req/s", "CPU us/req", "x uvloop", "user us/req", "p50 us", "p99 us"]


def measured(r: dict, base: float | None) -> list[str]:
    """A load run's cells under MEASURED_HEAD; `base` is the CPU/request to compare with."""
    cpu = r.get("cpu_us_per_req")
    return [
        f"{r['rps']:,.0f}",
        f"{cpu:.2f}" if cpu is not None else "-",
        ratio(cpu, base),
        fmt_us(r.get("user_us_per_req")),
        f"{r['p50_us']:.0f}",
        f"{r['p99_us']:.0f}",
    ]


def tables(res: Results, args: argparse.Namespace) -> list[tuple[str, list[str], list[list[str]]]]:
    out = []
    head = ["size", "conns", "server", *MEASURED_HEAD]
    rows = []
    for size in args.sizes:
        for conns in args.conns:
            for loop, style in tcp_servers(args.loops, args.styles):
                name = RUST if loop == RUST else f"{loop}/{style}"
                r = pick(res.tcp.get((name, size, conns), []))
                if "error" in r:
                    rows.append(
                        [fmt_size(size), str(conns), name, f"error: {r['error']}"]
                        + [""] * (len(head) - 4)
                    )
                    continue
                base = cell_cpu(
                    res, f"{BASELINE}/{'protocol' if loop == RUST else style}", size, conns
                )
                rows.append([fmt_size(size), str(conns), name, *measured(r, base)])
    out.append(
        (
            "TCP echo, closed loop (x uvloop: CPU/request vs uvloop in the same style; "
            "rust vs uvloop/protocol)",
            head,
            rows,
        )
    )
    if res.udp:
        rows = []
        base_r = res.udp.get(f"{BASELINE}/udp", {})
        base = base_r.get("cpu_us_per_req") if "error" not in base_r else None
        udp_head = ["server", *MEASURED_HEAD, "lost"]
        for name, r in res.udp.items():
            if "error" in r:
                rows.append([name, f"error: {r['error']}"] + [""] * (len(udp_head) - 2))
                continue
            rows.append([name, *measured(r, base), str(r.get("lost", 0))])
        out.append((f"UDP echo, 1 KiB datagrams, {args.udp_conns} sockets", udp_head, rows))
    if res.rss:
        rows = []
        for name, r in res.rss.items():
            if "error" in r:
                rows.append([name, f"error: {r['error']}", "", "", ""])
                continue
            style = name.split("/")[1] if "/" in name else "protocol"
            base_r = res.rss.get(f"{BASELINE}/{style}", {})
            base = base_r.get("bytes_per_conn") if "error" not in base_r else None
            rows.append(
                [
                    name,
                    f"{r['rss0_kib'] / 1024:.1f}",
                    f"{r['rss1_kib'] / 1024:.1f}",
                    f"{r['bytes_per_conn']:,.0f}",
                    ratio(r["bytes_per_conn"], base),
                ]
            )
        title = f"RSS per idle connection ({res.hold} connections)"
        if res.hold_note:
            title += f"; {res.hold_note}"
        out.append(
            (title, ["server", "RSS idle MiB", "RSS held MiB", "bytes/conn", "x uvloop"], rows)
        )
    return out


def targets(res: Results, args: argparse.Namespace) -> list[str]:
    lines = []

    def check(label: str, pairs: list[tuple[float | None, float | None]], limit: float) -> None:
        if not pairs:
            lines.append(f"n/a   {label}: not measured in this run")
            return
        if any(base is None for _, base in pairs):
            lines.append(f"n/a   {label}: baseline missing or failed")
            return
        if any(value is None for value, _ in pairs):
            lines.append(f"FAIL  {label}: oxloop failed or did not run")
            return
        worst = max(value / base for value, base in pairs)
        verdict = "PASS" if worst <= limit else "FAIL"
        lines.append(f"{verdict}  {label}: worst {worst:.2f}x (limit {limit:.2f}x)")

    for style in ("protocol", "streams"):
        if style not in args.styles:
            continue
        pairs = [
            (cell_cpu(res, f"oxloop/{style}", KIB, c), cell_cpu(res, f"uvloop/{style}", KIB, c))
            for c in args.conns
            if KIB in args.sizes
        ]
        check(f"oxloop/{style} CPU/request <= 0.85x uvloop at 1 KiB", pairs, 0.85)
        big = [s for s in args.sizes if s in (10 * KIB, 100 * KIB)]
        pairs = [
            (cell_cpu(res, f"oxloop/{style}", s, c), cell_cpu(res, f"uvloop/{style}", s, c))
            for s in big
            for c in args.conns
        ]
        check(f"oxloop/{style} CPU/request <= 1.00x uvloop at 10 and 100 KiB", pairs, 1.0)
    if "protocol" in args.styles and KIB in args.sizes:
        pairs = [
            (cell_cpu(res, "oxloop/protocol", KIB, c), cell_cpu(res, RUST, KIB, c))
            for c in args.conns
        ]
        check("oxloop/protocol CPU/request <= 1.15x the Rust floor at 1 KiB", pairs, 1.15)
    for style in args.rss_styles:
        if not res.rss:
            break
        ox = res.rss.get(f"oxloop/{style}", {"error": "-"})
        uv = res.rss.get(f"uvloop/{style}", {"error": "-"})
        check(
            f"oxloop/{style} RSS per idle connection <= uvloop's",
            [(ox.get("bytes_per_conn"), uv.get("bytes_per_conn"))],
            1.0,
        )
    return lines


def machine_line() -> str:
    try:
        import machine  # benches/machine.py

        return f"{machine.describe()}; {machine.python_version()}"
    except Exception:  # noqa: BLE001 - the header is best effort
        return f"{platform.machine()} {platform.system()}; Python {platform.python_version()}"


def render(res: Results, args: argparse.Namespace, bench: Bench) -> str:
    out = []
    versions = ", ".join(f"{k} {v}" for k, v in sorted(res.versions.items()))
    mode = "quick" if args.quick else "full"
    params = (
        f"{mode} run: {args.warmup:g} s warm-up + {args.duration:g} s per cell, "
        f"{args.repeat} repetition(s); {bench.pinning}"
    )
    if args.markdown:
        out += [
            "## Networking (echo over loopback)",
            "",
            f"Machine: {machine_line()}  ",
            f"Loops: {versions or '-'}  ",
            f"{params}.",
            "",
        ]
    else:
        out += [f"Machine: {machine_line()}", f"Loops: {versions or '-'}", params, ""]
    for title, head, rows in tables(res, args):
        if args.markdown:
            out += [
                f"**{title}**",
                "",
                "| " + " | ".join(head) + " |",
                "|" + "|".join("---" for _ in head) + "|",
            ]
            out += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in rows]
        else:
            ok_rows = [r for r in rows if not any(c.startswith("error:") for c in r)]
            widths = [max([len(h)] + [len(r[i]) for r in ok_rows]) for i, h in enumerate(head)]
            out += [title, "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
            for row in rows:
                cells = []
                for cell, width in zip(row, widths, strict=True):
                    if cell.startswith("error:"):
                        cells.append(cell)
                        break
                    cells.append(cell.ljust(width))
                out.append("  ".join(cells).rstrip())
        out.append("")
    out.append("Targets (oxloop, issue 3):")
    out += [("- " if args.markdown else "  ") + line for line in targets(res, args)]
    return "\n".join(out)


# --------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run (< 60 s)")
    p.add_argument("--markdown", action="store_true", help="print Markdown for BENCHMARKS.md")
    p.add_argument("--loops", default=",".join(LOOPS), help="comma-separated (default: all)")
    p.add_argument("--styles", default=None, help="comma-separated of " + ",".join(STYLES))
    p.add_argument("--sizes", default=None, help="message sizes in bytes (default 1k,10k,100k)")
    p.add_argument("--conns", default=None, help="connection counts (default 10,100)")
    p.add_argument("--duration", type=float, default=None, help="measured seconds per cell")
    p.add_argument("--warmup", type=float, default=None, help="warm-up seconds per cell")
    p.add_argument("--repeat", type=int, default=1, help="repetitions (median by CPU/req)")
    p.add_argument("--hold", type=int, default=None, help="idle connections for RSS (10000)")
    p.add_argument("--no-udp", dest="udp", action="store_false", help="skip the UDP rows")
    p.add_argument("--no-build", action="store_true", help="do not run cargo build")
    p.add_argument("--json", type=Path, default=None, help="also write raw results here")
    p.add_argument("--start-timeout", type=float, default=20.0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    q = args.quick
    args.loops = [x for x in args.loops.split(",") if x]
    bad = [x for x in args.loops if x not in LOOPS]
    if bad:
        p.error(f"unknown loop(s) {bad}; choose from {LOOPS}")
    args.styles = args.styles.split(",") if args.styles else list(STYLES)
    if any(s not in STYLES for s in args.styles):
        p.error(f"styles must be among {STYLES}")
    args.sizes = [parse_size(s) for s in (args.sizes or ("1k" if q else "1k,10k,100k")).split(",")]
    args.conns = [int(c) for c in (args.conns or ("10" if q else "10,100")).split(",")]
    args.duration = args.duration if args.duration is not None else (0.6 if q else 3.0)
    args.warmup = args.warmup if args.warmup is not None else (0.2 if q else 1.0)
    args.hold = args.hold if args.hold is not None else (1000 if q else 10000)
    args.rss_styles = [
        s for s in (("protocol",) if q else ("protocol", "streams")) if s in args.styles
    ]
    args.udp_conns = 10
    args.warm_session = 0.3 if q else 0.5
    args.repeat = max(1, args.repeat)
    return args


def parse_size(text: str) -> int:
    text = text.strip().lower()
    if text.endswith("k"):
        return int(text[:-1]) * KIB
    return int(text)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bins = build(args.no_build)
    raise_fd_limit()
    bench = Bench(args, bins)
    started = time.monotonic()
    try:
        res = run_all(bench, args)
    finally:
        bench.close()
    progress("total", f"{time.monotonic() - started:.0f} s")
    print(render(res, args, bench))
    if args.json:
        raw = {
            "tcp": [
                {"server": k[0], "size": k[1], "conns": k[2], "runs": v} for k, v in res.tcp.items()
            ],
            "udp": res.udp,
            "rss": res.rss,
            "versions": res.versions,
            "hold": res.hold,
            "median_cpu_us_per_req": {
                f"{k[0]} {k[1]} {k[2]}": pick(v).get("cpu_us_per_req") for k, v in res.tcp.items()
            },
        }
        args.json.write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
