"""Echo benchmarks: server CPU per request and req/s for each loop, closed-loop load.

    python benches/echo_bench.py                    # every loop, style, size and conns
    python benches/echo_bench.py --quick            # 1 KiB, 10 connections, 2 s
    python benches/echo_bench.py --loops oxloop,uvloop --styles protocol --sizes 1024
    python benches/echo_bench.py --markdown         # tables for BENCHMARKS.md

Each measurement is a fresh server process (`echo_server.py`, or `loadgen serve` for the
minimal Rust epoll server "rust-floor") pinned to CPU 0, and the Rust closed-loop load
generator (`loadgen/`, built here with cargo) pinned to CPU 1. Server CPU time comes from
/proc/PID/stat around the load run (the server's start-up is not counted); it is divided by
every request the load generator completed, warm-up included. Also measured: RSS per idle
connection (server VmRSS growth over --idle-conns open connections, Protocol style).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LOOPS = ("oxloop", "asyncio", "uvloop", "rloop", "rust-floor")
STYLES = ("protocol", "buffered", "streams")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def build_loadgen() -> str:
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    subprocess.run(
        ["cargo", "build", "--quiet", "--release", "-p", "loadgen"],
        cwd=ROOT,
        check=True,
    )
    return os.path.join(target, "release", "loadgen")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpus() -> tuple[set[int] | None, set[int] | None]:
    """(server CPUs, client CPUs): two different CPUs when there are two."""
    avail = sorted(os.sched_getaffinity(0))
    if len(avail) < 2:
        return None, None
    return {avail[0]}, {avail[1]}


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Server:
    def __init__(self, loadgen: str, loop: str, style: str, port: int, cpu: set[int] | None):
        if loop == "rust-floor":
            cmd = [loadgen, "serve", str(port)]
        else:
            cmd = [sys.executable, os.path.join(HERE, "echo_server.py"), loop, style, str(port)]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpu)) if cpu else None,
        )
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            err = self.proc.stderr.read()
            self.stop()
            raise RuntimeError(f"{loop}/{style} server did not start: {line!r} {err[-500:]}")

    def stop(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def measure(loadgen, loop, style, size, conns, secs, cpus_):
    server_cpu, client_cpu = cpus_
    port = free_port()
    server = Server(loadgen, loop, "udp" if style == "udp" else style, port, server_cpu)
    try:
        kind = "udp" if style == "udp" else "tcp"
        cmd = [loadgen, kind, f"127.0.0.1:{port}", str(conns), str(size), str(secs), "0.5"]
        c0 = cpu_seconds(server.proc.pid)
        out = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=secs + 60,
            preexec_fn=(lambda: os.sched_setaffinity(0, client_cpu)) if client_cpu else None,
        )
        c1 = cpu_seconds(server.proc.pid)
    finally:
        server.stop()
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip()[-500:])
    res = json.loads(out.stdout)
    total = max(res["total_requests"], 1)
    res["server_cpu_us_per_req"] = (c1 - c0) / total * 1e6
    return res


def idle_rss(loadgen, loop, n, cpus_):
    port = free_port()
    server = Server(loadgen, loop, "protocol", port, cpus_[0])
    socks = []
    try:
        time.sleep(0.2)
        before = rss_kib(server.proc.pid)
        for _ in range(n):
            socks.append(socket.create_connection(("127.0.0.1", port)))
        time.sleep(1.0)  # let the server accept and set up every connection
        after = rss_kib(server.proc.pid)
    finally:
        for s in socks:
            s.close()
        server.stop()
    return (after - before) * 1024 / n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--loops", default=",".join(LOOPS))
    ap.add_argument("--styles", default=",".join(STYLES) + ",udp")
    ap.add_argument("--sizes", default="1024,10240,102400")
    ap.add_argument("--conns", default="10,100")
    ap.add_argument("--secs", type=float, default=3.0)
    ap.add_argument("--idle-conns", type=int, default=10000, help="0 skips the RSS measurement")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--markdown", action="store_true")
    opts = ap.parse_args()
    if opts.quick:
        opts.sizes, opts.conns, opts.secs, opts.idle_conns = "1024", "10", 2.0, 1000
    loops = [x for x in opts.loops.split(",") if x]
    styles = [x for x in opts.styles.split(",") if x]
    sizes = [int(x) for x in opts.sizes.split(",") if x]
    conns = [int(x) for x in opts.conns.split(",") if x]

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if shutil.which("cargo") is None:
        raise SystemExit("cargo is needed to build the load generator")
    loadgen = build_loadgen()
    cpus_ = cpus()

    rows = []
    for style in styles:
        for size in sizes if style != "udp" else [s for s in sizes if s <= 10240]:
            for nconn in conns:
                for loop in loops:
                    if loop == "rust-floor" and style not in ("protocol", "udp"):
                        continue
                    if loop == "rust-floor" and style == "udp":
                        continue
                    try:
                        r = measure(loadgen, loop, style, size, nconn, opts.secs, cpus_)
                        row = (style, size, nconn, loop, r)
                    except Exception as exc:  # noqa: BLE001 - one failure must not stop the run
                        row = (style, size, nconn, loop, {"error": str(exc)[:200]})
                    rows.append(row)
                    print(format_row(row), flush=True)
    rss = {}
    if opts.idle_conns:
        for loop in loops:
            try:
                rss[loop] = idle_rss(loadgen, loop, opts.idle_conns, cpus_)
            except Exception as exc:  # noqa: BLE001
                rss[loop] = f"error: {exc}"
            print(f"idle RSS per connection {loop:10s} {rss[loop]}", flush=True)
    if opts.markdown:
        print(markdown(rows, rss, opts.idle_conns))


def format_row(row):
    style, size, nconn, loop, r = row
    if "error" in r:
        return f"{style:9s} {size:7d} B {nconn:4d} conns {loop:10s} error: {r['error']}"
    return (
        f"{style:9s} {size:7d} B {nconn:4d} conns {loop:10s} "
        f"{r['rps']:10.0f} req/s  server CPU {r['server_cpu_us_per_req']:7.2f} us/req  "
        f"p50 {r['p50_us']} us  p99 {r['p99_us']} us"
    )


def markdown(rows, rss, idle_conns):
    base = {}
    for style, size, nconn, loop, r in rows:
        if loop == "uvloop" and "error" not in r:
            base[(style, size, nconn)] = r["server_cpu_us_per_req"]
    out = [
        "| style | size | conns | loop | req/s | server CPU us/req | x uvloop | p50 us | p99 us |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for style, size, nconn, loop, r in rows:
        if "error" in r:
            out.append(f"| {style} | {size} | {nconn} | {loop} | error | | | | |")
            continue
        b = base.get((style, size, nconn))
        ratio = f"{r['server_cpu_us_per_req'] / b:.2f}" if b else ""
        out.append(
            f"| {style} | {size} | {nconn} | {loop} | {r['rps']:.0f} | "
            f"{r['server_cpu_us_per_req']:.2f} | {ratio} | {r['p50_us']} | {r['p99_us']} |"
        )
    if rss:
        out += ["", f"| loop | RSS per idle connection ({idle_conns} open) |", "|---|---|"]
        for loop, v in rss.items():
            out.append(f"| {loop} | {v if isinstance(v, str) else f'{v:.0f} B'} |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
