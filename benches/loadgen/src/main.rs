//! oxloop-loadgen: a closed-loop echo load generator over loopback.
//!
//! TCP mode: N connections, each sends a message of S bytes and waits for all S bytes of the
//! echo before sending the next. UDP mode: the same with one datagram per request. Both run
//! a warm-up, then measure for D seconds and print one JSON line on stdout with the request
//! count, req/s and latency percentiles (and the server's CPU time over the measured window
//! when `--server-pid` is given). Hold mode (`--hold N`) opens N idle connections, prints
//! "ready N" and keeps them open until stdin closes or the timeout passes.
//!
//! Single-threaded, one epoll instance over all sockets. Every run is bounded by
//! `--timeout`; errors are reported on stderr and as {"error": ...} on stdout, exit status 1.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::os::unix::io::AsRawFd;
use std::time::{Duration, Instant};

use oxloop_loadgen::{
    event_buffer, loopback_host, parse_value, proc_cpu_sched, proc_cpu_stat, raise_nofile,
    CpuTimes, Epoll, EPOLLERR, EPOLLET, EPOLLIN, EPOLLOUT, EPOLLRDHUP,
};

const USAGE: &str = "usage: oxloop-loadgen --port P [--host 127.0.0.1] [--udp] [--conns N] \
[--size BYTES] [--duration S] [--warmup S] [--timeout S] [--server-pid PID]
       oxloop-loadgen --port P --hold N [--timeout S]";

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Tcp,
    Udp,
    Hold,
}

struct Args {
    addr: SocketAddr,
    mode: Mode,
    conns: usize,
    size: usize,
    duration: f64,
    warmup: f64,
    timeout: Option<f64>,
    server_pid: Option<u32>,
}

fn parse_args() -> Result<Args, String> {
    let mut host: IpAddr = IpAddr::from([127, 0, 0, 1]);
    let mut port: Option<u16> = None;
    let mut mode = Mode::Tcp;
    let mut conns = 10usize;
    let mut size = 1024usize;
    let mut duration = 5.0f64;
    let mut warmup = 1.0f64;
    let mut timeout = None;
    let mut server_pid = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--host" => host = loopback_host(&parse_value::<String>("--host", it.next())?)?,
            "--port" | "-p" => port = Some(parse_value("--port", it.next())?),
            "--udp" => mode = Mode::Udp,
            "--hold" => {
                mode = Mode::Hold;
                conns = parse_value("--hold", it.next())?;
            }
            "--conns" | "-c" => conns = parse_value("--conns", it.next())?,
            "--size" | "-s" => size = parse_value("--size", it.next())?,
            "--duration" | "-d" => duration = parse_value("--duration", it.next())?,
            "--warmup" | "-w" => warmup = parse_value("--warmup", it.next())?,
            "--timeout" => timeout = Some(parse_value("--timeout", it.next())?),
            "--server-pid" => server_pid = Some(parse_value("--server-pid", it.next())?),
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let port = port.ok_or_else(|| format!("--port is required\n{USAGE}"))?;
    if port == 0 {
        return Err("--port must not be 0".into());
    }
    if conns == 0 {
        return Err("need at least one connection".into());
    }
    if mode != Mode::Hold && size == 0 {
        return Err("--size must be > 0".into());
    }
    if mode == Mode::Udp && !(8..=65507).contains(&size) {
        return Err("UDP --size must be in 8..=65507".into());
    }
    if !(0.001..3600.0).contains(&duration) || !(0.0..3600.0).contains(&warmup) {
        return Err("--duration must be in [0.001, 3600) and --warmup in [0, 3600)".into());
    }
    Ok(Args {
        addr: SocketAddr::new(host, port),
        mode,
        conns,
        size,
        duration,
        warmup,
        timeout,
        server_pid,
    })
}

fn is_would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// Latencies and counts of the measured window.
struct Stats {
    lat_ns: Vec<u64>,
    bytes: u64,
}

impl Stats {
    fn record(&mut self, lat: Duration, bytes: usize) {
        self.lat_ns
            .push(lat.as_nanos().min(u64::MAX as u128) as u64);
        self.bytes += bytes as u64;
    }
}

/// The time windows of a run.
struct Clock {
    measure_start: Instant,
    measure_end: Instant,
    hard_deadline: Instant,
}

impl Clock {
    fn new(args: &Args) -> Clock {
        let now = Instant::now();
        let measure_start = now + Duration::from_secs_f64(args.warmup);
        let measure_end = measure_start + Duration::from_secs_f64(args.duration);
        let timeout = args.timeout.unwrap_or(args.warmup + args.duration + 30.0);
        Clock {
            measure_start,
            measure_end,
            hard_deadline: now + Duration::from_secs_f64(timeout),
        }
    }

    fn in_window(&self, t: Instant) -> bool {
        t >= self.measure_start && t < self.measure_end
    }
}

struct ServerCpu {
    pid: u32,
    stat: CpuTimes,
    sched: Option<f64>,
}

impl ServerCpu {
    fn read(pid: u32) -> Result<ServerCpu, String> {
        let stat = proc_cpu_stat(pid).map_err(|e| format!("reading /proc/{pid}/stat: {e}"))?;
        Ok(ServerCpu {
            pid,
            stat,
            sched: proc_cpu_sched(pid),
        })
    }
}

struct TcpConn {
    stream: TcpStream,
    written: usize,
    read: usize,
    started: Instant,
}

/// Advance one TCP connection as far as it goes without blocking: write the rest of the
/// message, read the echo, and on completion record it and start the next request.
fn drive_tcp(
    c: &mut TcpConn,
    msg: &[u8],
    buf: &mut [u8],
    clock: &Clock,
    stats: &mut Stats,
    completed: &mut u64,
) -> Result<(), String> {
    let size = msg.len();
    loop {
        while c.written < size {
            match (&c.stream).write(&msg[c.written..]) {
                Ok(0) => return Err("write returned 0".into()),
                Ok(n) => c.written += n,
                Err(e) if is_would_block(&e) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("write: {e}")),
            }
        }
        while c.read < size {
            let want = (size - c.read).min(buf.len());
            match (&c.stream).read(&mut buf[..want]) {
                Ok(0) => return Err("server closed the connection".into()),
                Ok(n) => c.read += n,
                Err(e) if is_would_block(&e) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        if c.read < size {
            return Ok(());
        }
        if c.written < size {
            return Err("server echoed more bytes than were sent".into());
        }
        let now = Instant::now();
        *completed += 1;
        if clock.in_window(now) {
            stats.record(now - c.started, size);
        }
        c.written = 0;
        c.read = 0;
        c.started = now;
        if now >= clock.measure_end {
            return Ok(());
        }
    }
}

fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    s.set_nodelay(true)
        .map_err(|e| format!("TCP_NODELAY: {e}"))?;
    Ok(s)
}

/// Run the measured loop shared by TCP and UDP: `step` handles one ready token.
fn event_loop<F, P>(
    ep: &Epoll,
    clock: &Clock,
    server_pid: Option<u32>,
    mut step: F,
    mut poll_idle: P,
) -> Result<(Option<ServerCpu>, Option<ServerCpu>, Instant, Instant), String>
where
    F: FnMut(u64, u32) -> Result<(), String>,
    P: FnMut(Instant) -> Result<(), String>,
{
    let mut evbuf = event_buffer(1024);
    let mut ready = Vec::with_capacity(1024);
    let mut cpu_start = None;
    let mut started_at = None;
    loop {
        let now = Instant::now();
        if started_at.is_none() && now >= clock.measure_start {
            if let Some(pid) = server_pid {
                cpu_start = Some(ServerCpu::read(pid)?);
            }
            started_at = Some(Instant::now());
        }
        if now >= clock.measure_end {
            let cpu_end = match server_pid {
                Some(pid) => Some(ServerCpu::read(pid)?),
                None => None,
            };
            let ended_at = Instant::now();
            return Ok((cpu_start, cpu_end, started_at.unwrap_or(ended_at), ended_at));
        }
        if now >= clock.hard_deadline {
            return Err("hard timeout reached".into());
        }
        poll_idle(now)?;
        let next = if started_at.is_none() {
            clock.measure_start
        } else {
            clock.measure_end
        };
        let wait = next
            .saturating_duration_since(now)
            .min(Duration::from_millis(100));
        // Round up so that we do not spin on sub-millisecond remainders.
        let wait = wait.max(Duration::from_millis(1));
        ep.wait(&mut evbuf, &mut ready, wait)
            .map_err(|e| format!("epoll_wait: {e}"))?;
        for &(token, events) in &ready {
            step(token, events)?;
        }
    }
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn report(
    mode: &str,
    args: &Args,
    mut stats: Stats,
    start: Instant,
    end: Instant,
    cpu: (Option<ServerCpu>, Option<ServerCpu>),
    extra: &str,
) {
    let elapsed = (end - start).as_secs_f64().max(1e-9);
    let requests = stats.lat_ns.len() as u64;
    stats.lat_ns.sort_unstable();
    let l = &stats.lat_ns;
    let mut line = format!(
        "{{\"mode\":\"{mode}\",\"conns\":{},\"size\":{},\"duration\":{:.4},\"requests\":{},\
\"rps\":{:.1},\"bytes\":{},\"p50_us\":{:.1},\"p90_us\":{:.1},\"p99_us\":{:.1},\"max_us\":{:.1}",
        args.conns,
        args.size,
        elapsed,
        requests,
        requests as f64 / elapsed,
        stats.bytes,
        percentile(l, 0.50),
        percentile(l, 0.90),
        percentile(l, 0.99),
        percentile(l, 1.0),
    );
    if let (Some(a), Some(b)) = cpu {
        line += &format!(
            ",\"server_pid\":{},\"server_cpu_s\":{:.4},\"server_user_s\":{:.4},\"server_sys_s\":{:.4}",
            a.pid,
            b.stat.total() - a.stat.total(),
            b.stat.user - a.stat.user,
            b.stat.sys - a.stat.sys,
        );
        if let (Some(x), Some(y)) = (a.sched, b.sched) {
            line += &format!(",\"server_cpu_sched_s\":{:.6}", y - x);
        }
    }
    line += extra;
    line.push('}');
    println!("{line}");
}

fn run_tcp(args: &Args) -> Result<(), String> {
    let ep = Epoll::new().map_err(|e| format!("epoll_create: {e}"))?;
    let msg: Vec<u8> = (0..args.size).map(|i| b'a' + (i % 26) as u8).collect();
    let mut buf = vec![0u8; args.size.min(256 * 1024)];
    let mut conns = Vec::with_capacity(args.conns);
    for i in 0..args.conns {
        let s = connect(args.addr)?;
        s.set_nonblocking(true)
            .map_err(|e| format!("set_nonblocking: {e}"))?;
        ep.add(
            s.as_raw_fd(),
            EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP,
            i as u64,
        )
        .map_err(|e| format!("epoll_ctl: {e}"))?;
        conns.push(TcpConn {
            stream: s,
            written: 0,
            read: 0,
            started: Instant::now(),
        });
    }
    // The clock starts once every connection is up.
    let clock = Clock::new(args);
    let mut stats = Stats {
        lat_ns: Vec::with_capacity(1 << 20),
        bytes: 0,
    };
    let completed_ref = std::cell::Cell::new(0u64);
    for c in conns.iter_mut() {
        c.started = Instant::now();
        let mut done = 0;
        drive_tcp(c, &msg, &mut buf, &clock, &mut stats, &mut done)?;
        completed_ref.set(completed_ref.get() + done);
    }
    let mut last_progress = (Instant::now(), 0u64);
    let (cpu_a, cpu_b, start, end) = {
        let step = |token: u64, events: u32| -> Result<(), String> {
            let c = conns.get_mut(token as usize).ok_or("bad epoll token")?;
            if events & EPOLLERR != 0 {
                if let Ok(Some(e)) = c.stream.take_error() {
                    return Err(format!("socket error: {e}"));
                }
            }
            let mut done = completed_ref.get();
            let r = drive_tcp(c, &msg, &mut buf, &clock, &mut stats, &mut done);
            completed_ref.set(done);
            r
        };
        let idle = |now: Instant| -> Result<(), String> {
            let completed_seen = completed_ref.get();
            if completed_seen != last_progress.1 {
                last_progress = (now, completed_seen);
            } else if now - last_progress.0 > Duration::from_secs(10) {
                return Err("no request completed for 10 s (server stalled?)".into());
            }
            Ok(())
        };
        event_loop(&ep, &clock, args.server_pid, step, idle)?
    };
    drop(conns);
    report("tcp", args, stats, start, end, (cpu_a, cpu_b), "");
    Ok(())
}

struct UdpConn {
    sock: UdpSocket,
    seq: u64,
    started: Instant,
    sent: bool,
}

fn udp_send(c: &mut UdpConn, msg: &mut [u8]) -> Result<(), String> {
    msg[..8].copy_from_slice(&c.seq.to_le_bytes());
    match c.sock.send(msg) {
        Ok(_) => c.sent = true,
        // The datagram is retried by the idle check.
        Err(e) if is_would_block(&e) => c.sent = false,
        Err(e) => return Err(format!("send: {e}")),
    }
    Ok(())
}

fn run_udp(args: &Args) -> Result<(), String> {
    let ep = Epoll::new().map_err(|e| format!("epoll_create: {e}"))?;
    let mut msg: Vec<u8> = (0..args.size).map(|i| b'a' + (i % 26) as u8).collect();
    let mut buf = vec![0u8; 65536];
    let mut conns = Vec::with_capacity(args.conns);
    let local = SocketAddr::new(args.addr.ip(), 0);
    for i in 0..args.conns {
        let s = UdpSocket::bind(local).map_err(|e| format!("bind: {e}"))?;
        s.connect(args.addr).map_err(|e| format!("connect: {e}"))?;
        s.set_nonblocking(true)
            .map_err(|e| format!("set_nonblocking: {e}"))?;
        ep.add(s.as_raw_fd(), EPOLLIN | EPOLLET, i as u64)
            .map_err(|e| format!("epoll_ctl: {e}"))?;
        conns.push(UdpConn {
            sock: s,
            seq: 0,
            started: Instant::now(),
            sent: false,
        });
    }
    let clock = Clock::new(args);
    let mut stats = Stats {
        lat_ns: Vec::with_capacity(1 << 20),
        bytes: 0,
    };
    for c in conns.iter_mut() {
        c.started = Instant::now();
        udp_send(c, &mut msg)?;
    }
    let lost = std::cell::Cell::new(0u64);
    let shared = std::cell::RefCell::new((conns, msg));
    let size = args.size;
    let (cpu_a, cpu_b, start, end) = {
        let step = |token: u64, _events: u32| -> Result<(), String> {
            let mut guard = shared.borrow_mut();
            let (conns, msg) = &mut *guard;
            let c = conns.get_mut(token as usize).ok_or("bad epoll token")?;
            loop {
                match c.sock.recv(&mut buf) {
                    Ok(n) => {
                        if n < 8 || buf[..8] != c.seq.to_le_bytes() {
                            continue; // a late echo of a datagram we already gave up on
                        }
                        if n != size {
                            return Err(format!("echo of {n} bytes for a {size}-byte datagram"));
                        }
                        let now = Instant::now();
                        if clock.in_window(now) {
                            stats.record(now - c.started, size);
                        }
                        c.seq += 1;
                        c.started = now;
                        udp_send(c, msg)?;
                    }
                    Err(e) if is_would_block(&e) => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("recv: {e}")),
                }
            }
        };
        let idle = |now: Instant| -> Result<(), String> {
            // Datagrams can be dropped: resend after 500 ms without an answer.
            let mut guard = shared.borrow_mut();
            let (conns, msg) = &mut *guard;
            for c in conns.iter_mut() {
                if !c.sent || now - c.started > Duration::from_millis(500) {
                    if c.sent {
                        lost.set(lost.get() + 1);
                    }
                    c.seq += 1;
                    c.started = now;
                    udp_send(c, msg)?;
                }
            }
            Ok(())
        };
        event_loop(&ep, &clock, args.server_pid, step, idle)?
    };
    let extra = format!(",\"lost\":{}", lost.get());
    report("udp", args, stats, start, end, (cpu_a, cpu_b), &extra);
    Ok(())
}

fn run_hold(args: &Args) -> Result<(), String> {
    let timeout = Duration::from_secs_f64(args.timeout.unwrap_or(300.0));
    let deadline = Instant::now() + timeout;
    let mut conns = Vec::with_capacity(args.conns);
    for _ in 0..args.conns {
        if Instant::now() >= deadline {
            return Err(format!("hard timeout after {} connections", conns.len()));
        }
        conns.push(connect(args.addr).map_err(|e| format!("{e} (after {} ok)", conns.len()))?);
    }
    let mut out = io::stdout();
    writeln!(out, "ready {}", conns.len())
        .and_then(|_| out.flush())
        .map_err(|e| e.to_string())?;
    // Hold until stdin reaches EOF (or errors) or the deadline passes.
    let mut buf = [0u8; 4096];
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let ms = (deadline - now).as_millis().min(1000) as libc::c_int;
        let mut pfd = libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("poll: {e}"));
        }
        if rc > 0 {
            match io::stdin().read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
    let n = conns.len();
    drop(conns);
    println!("{{\"mode\":\"hold\",\"conns\":{n}}}");
    Ok(())
}

fn main() {
    let result = parse_args().and_then(|args| {
        raise_nofile().map_err(|e| format!("raising RLIMIT_NOFILE: {e}"))?;
        match args.mode {
            Mode::Tcp => run_tcp(&args),
            Mode::Udp => run_udp(&args),
            Mode::Hold => run_hold(&args),
        }
    });
    if let Err(msg) = result {
        eprintln!("oxloop-loadgen: {msg}");
        let escaped = msg
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        println!("{{\"error\":\"{escaped}\"}}");
        std::process::exit(1);
    }
}
