//! The closed-loop clients: one thread per connection.

use std::io::{self, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

fn parse<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> io::Result<T> {
    args.get(i)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("bad {what}")))
}

/// Latencies (µs) of the requests completed after `warm_until`, until `stop`.
/// What one connection did: latencies (µs) of the requests started after
/// the warm-up, and the number of all requests, warm-up included.
type Outcome = (Vec<u32>, u64);

fn tcp_conn(
    addr: &str,
    size: usize,
    warm_until: Instant,
    stop: &AtomicBool,
) -> io::Result<Outcome> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let msg = vec![b'x'; size];
    let mut buf = vec![0u8; size];
    let mut lat = Vec::with_capacity(1 << 16);
    let mut total = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        s.write_all(&msg)?;
        s.read_exact(&mut buf)?;
        total += 1;
        if t0 >= warm_until {
            lat.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
        }
    }
    Ok((lat, total))
}

fn udp_conn(
    addr: &str,
    size: usize,
    warm_until: Instant,
    stop: &AtomicBool,
) -> io::Result<Outcome> {
    let s = UdpSocket::bind("127.0.0.1:0")?;
    s.connect(addr)?;
    s.set_read_timeout(Some(Duration::from_millis(100)))?;
    let msg = vec![b'x'; size];
    let mut buf = vec![0u8; size + 1];
    let mut lat = Vec::with_capacity(1 << 16);
    let mut total = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        s.send(&msg)?;
        match s.recv(&mut buf) {
            Ok(_) => {
                total += 1;
                if t0 >= warm_until {
                    lat.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok((lat, total))
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted.get(idx).copied().unwrap_or(0)
}

pub fn main(args: &[String]) -> io::Result<()> {
    let udp = args.first().map(String::as_str) == Some("udp");
    let addr: String = parse(args, 1, "HOST:PORT")?;
    let conns: usize = parse(args, 2, "CONNS")?;
    let size: usize = parse(args, 3, "SIZE")?;
    let secs: f64 = parse(args, 4, "SECS")?;
    let warmup: f64 = if args.len() > 5 {
        parse(args, 5, "WARMUP")?
    } else {
        0.5
    };

    let start = Instant::now();
    let warm_until = start + Duration::from_secs_f64(warmup);
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::with_capacity(conns);
    for _ in 0..conns {
        let (addr, stop) = (addr.clone(), Arc::clone(&stop));
        threads.push(thread::spawn(move || {
            if udp {
                udp_conn(&addr, size, warm_until, &stop)
            } else {
                tcp_conn(&addr, size, warm_until, &stop)
            }
        }));
    }
    thread::sleep(Duration::from_secs_f64(warmup + secs));
    stop.store(true, Ordering::Relaxed);
    let measured = start.elapsed().as_secs_f64() - warmup;
    let mut all = Vec::new();
    let mut errors = 0usize;
    let mut total = 0u64;
    for t in threads {
        match t.join() {
            Ok(Ok((lat, n))) => {
                all.extend(lat);
                total += n;
            }
            Ok(Err(e)) => {
                errors += 1;
                eprintln!("loadgen: connection failed: {e}");
            }
            Err(_) => errors += 1,
        }
    }
    all.sort_unstable();
    println!(
        "{{\"requests\": {}, \"rps\": {:.1}, \"p50_us\": {}, \"p90_us\": {}, \"p99_us\": {}, \"p999_us\": {}, \"seconds\": {:.3}, \"errors\": {}, \"total_requests\": {}}}",
        all.len(),
        all.len() as f64 / measured,
        percentile(&all, 0.50),
        percentile(&all, 0.90),
        percentile(&all, 0.99),
        percentile(&all, 0.999),
        measured,
        errors,
        total
    );
    Ok(())
}
