//! A minimal single-threaded epoll echo server: the floor for the benches.
//! Level-triggered; what a write cannot take yet waits for EPOLLOUT, and
//! reading from that connection pauses meanwhile.

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};

struct Conn {
    stream: TcpStream,
    pending: Vec<u8>,
}

fn ctl(ep: RawFd, op: libc::c_int, fd: RawFd, events: u32) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events,
        u64: fd as u64,
    };
    // SAFETY: `ev` is a valid epoll_event for the duration of the call.
    if unsafe { libc::epoll_ctl(ep, op, fd, &mut ev) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub fn main(args: &[String]) -> io::Result<()> {
    let port: u16 = args
        .get(1)
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| io::Error::new(ErrorKind::InvalidInput, "bad PORT"))?;
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    listener.set_nonblocking(true)?;
    // SAFETY: epoll_create1 takes a flag and returns a new fd or -1.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(io::Error::last_os_error());
    }
    let lfd = listener.as_raw_fd();
    ctl(ep, libc::EPOLL_CTL_ADD, lfd, libc::EPOLLIN as u32)?;
    println!("ready");
    let mut conns: HashMap<RawFd, Conn> = HashMap::new();
    let mut buf = vec![0u8; 128 * 1024];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    loop {
        // SAFETY: `events` has room for `events.len()` entries.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in events.iter().take(n as usize) {
            let fd = ev.u64 as RawFd;
            if fd == lfd {
                loop {
                    match listener.accept() {
                        Ok((s, _)) => {
                            s.set_nonblocking(true)?;
                            s.set_nodelay(true)?;
                            let cfd = s.as_raw_fd();
                            ctl(ep, libc::EPOLL_CTL_ADD, cfd, libc::EPOLLIN as u32)?;
                            conns.insert(
                                cfd,
                                Conn {
                                    stream: s,
                                    pending: Vec::new(),
                                },
                            );
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                continue;
            }
            let mut close = false;
            if let Some(c) = conns.get_mut(&fd) {
                if !c.pending.is_empty() {
                    match c.stream.write(&c.pending) {
                        Ok(k) => {
                            c.pending.drain(..k);
                            if c.pending.is_empty() {
                                ctl(ep, libc::EPOLL_CTL_MOD, fd, libc::EPOLLIN as u32)?;
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(_) => close = true,
                    }
                } else {
                    match c.stream.read(&mut buf) {
                        Ok(0) => close = true,
                        Ok(k) => {
                            let data = buf.get(..k).unwrap_or_default();
                            let sent = match c.stream.write(data) {
                                Ok(s) => s,
                                Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
                                Err(_) => {
                                    close = true;
                                    0
                                }
                            };
                            if !close && sent < k {
                                c.pending
                                    .extend_from_slice(data.get(sent..).unwrap_or_default());
                                ctl(ep, libc::EPOLL_CTL_MOD, fd, libc::EPOLLOUT as u32)?;
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(_) => close = true,
                    }
                }
            }
            if close {
                // Dropping the stream closes the fd, which leaves the epoll set.
                conns.remove(&fd);
            }
        }
    }
}
