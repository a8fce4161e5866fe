//! oxloop-rust-echo: a minimal single-threaded epoll echo server on 127.0.0.1, the floor that
//! no Python event loop can beat by much.
//!
//! usage: oxloop-rust-echo [--port P] [--udp] [--timeout S]
//!
//! Port 0 picks a free port. Prints "ready PORT" once listening, then serves until killed or
//! until the timeout (default 3600 s) passes. TCP: level-triggered epoll, one 64 KiB read
//! buffer shared by all connections, TCP_NODELAY, unsent bytes queued per connection (reading
//! goes on, as in an asyncio transport). UDP: blocking recv_from / send_to.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::io::AsRawFd;
use std::time::{Duration, Instant};

use oxloop_loadgen::{
    event_buffer, parse_value, raise_nofile, Epoll, EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT,
    EPOLLRDHUP,
};

const LISTENER: u64 = u64::MAX;

struct Conn {
    stream: TcpStream,
    pending: Vec<u8>,
    want_out: bool,
}

/// Write as much of `data` as the socket takes; returns the number of bytes written.
fn write_some(stream: &TcpStream, data: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < data.len() {
        match (&*stream).write(&data[done..]) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "write returned 0")),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Serve one ready connection. Ok(false) means: close it.
///
/// Level-triggered, as libuv does it: read until a short read (no EAGAIN round trip), echo at
/// once, and queue what the socket does not take in `pending` while reading goes on (as an
/// asyncio transport does); EPOLLOUT is asked for only while `pending` is not empty.
fn drive(ep: &Epoll, token: u64, c: &mut Conn, events: u32, buf: &mut [u8]) -> io::Result<bool> {
    if events & EPOLLOUT != 0 && !c.pending.is_empty() {
        let n = write_some(&c.stream, &c.pending)?;
        c.pending.drain(..n);
    }
    if events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR) != 0 {
        loop {
            match (&c.stream).read(buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    let w = if c.pending.is_empty() {
                        write_some(&c.stream, &buf[..n])?
                    } else {
                        0
                    };
                    c.pending.extend_from_slice(&buf[w..n]);
                    if n < buf.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    let want_out = !c.pending.is_empty();
    if want_out != c.want_out {
        let flags = if want_out {
            EPOLLIN | EPOLLRDHUP | EPOLLOUT
        } else {
            EPOLLIN | EPOLLRDHUP
        };
        ep.modify(c.stream.as_raw_fd(), flags, token)?;
        c.want_out = want_out;
    }
    Ok(true)
}

fn serve_tcp(port: u16, deadline: Instant) -> Result<(), String> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .map_err(|e| format!("bind: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("set_nonblocking: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let ep = Epoll::new().map_err(|e| format!("epoll_create: {e}"))?;
    ep.add(listener.as_raw_fd(), EPOLLIN, LISTENER)
        .map_err(|e| format!("epoll_ctl: {e}"))?;
    println!("ready {port}");
    io::stdout().flush().map_err(|e| e.to_string())?;

    let mut conns: HashMap<u64, Conn> = HashMap::new();
    let mut next_token = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    let mut evbuf = event_buffer(1024);
    let mut ready = Vec::with_capacity(1024);
    while Instant::now() < deadline {
        ep.wait(&mut evbuf, &mut ready, Duration::from_secs(1))
            .map_err(|e| format!("epoll_wait: {e}"))?;
        for &(token, events) in &ready {
            if token == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            // Per-connection failures only drop that connection.
                            if stream.set_nonblocking(true).is_err()
                                || stream.set_nodelay(true).is_err()
                            {
                                continue;
                            }
                            let flags = EPOLLIN | EPOLLRDHUP;
                            if ep.add(stream.as_raw_fd(), flags, next_token).is_err() {
                                continue;
                            }
                            let pending = Vec::new();
                            let conn = Conn {
                                stream,
                                pending,
                                want_out: false,
                            };
                            conns.insert(next_token, conn);
                            next_token += 1;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        // EMFILE and friends: stop accepting for this round.
                        Err(e) => {
                            eprintln!("oxloop-rust-echo: accept: {e}");
                            break;
                        }
                    }
                }
                continue;
            }
            let keep = match conns.get_mut(&token) {
                Some(c) => drive(&ep, token, c, events, &mut buf).unwrap_or(false),
                None => continue,
            };
            if !keep {
                if let Some(c) = conns.remove(&token) {
                    let _ = ep.delete(c.stream.as_raw_fd());
                }
            }
        }
    }
    Ok(())
}

fn serve_udp(port: u16, deadline: Instant) -> Result<(), String> {
    let sock = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .map_err(|e| format!("bind: {e}"))?;
    sock.set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    let port = sock.local_addr().map_err(|e| e.to_string())?.port();
    println!("ready {port}");
    io::stdout().flush().map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65536];
    while Instant::now() < deadline {
        match sock.recv_from(&mut buf) {
            Ok((n, peer)) => {
                // A send that fails (buffer full, peer gone) drops the datagram, as UDP does.
                let _ = sock.send_to(&buf[..n], peer);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(format!("recv_from: {e}")),
        }
    }
    Ok(())
}

fn main() {
    let mut port = 0u16;
    let mut udp = false;
    let mut timeout = 3600.0f64;
    let mut it = std::env::args().skip(1);
    let parsed: Result<(), String> = (|| {
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--port" | "-p" => port = parse_value("--port", it.next())?,
                "--udp" => udp = true,
                "--timeout" => timeout = parse_value("--timeout", it.next())?,
                other => {
                    return Err(format!(
                        "unknown argument {other:?}\nusage: oxloop-rust-echo [--port P] [--udp] \
[--timeout S]"
                    ))
                }
            }
        }
        Ok(())
    })();
    let result = parsed.and_then(|()| {
        raise_nofile().map_err(|e| format!("raising RLIMIT_NOFILE: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs_f64(timeout.clamp(0.0, 86400.0));
        if udp {
            serve_udp(port, deadline)
        } else {
            serve_tcp(port, deadline)
        }
    });
    if let Err(msg) = result {
        eprintln!("oxloop-rust-echo: {msg}");
        std::process::exit(1);
    }
}
