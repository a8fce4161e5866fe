//! Shared pieces of the load generator and the Rust echo server: a thin epoll wrapper,
//! command-line helpers, the fd-limit bump and reading a process's CPU time from /proc.

use std::io;
use std::net::IpAddr;
use std::os::unix::io::RawFd;
use std::time::Duration;

pub const EPOLLIN: u32 = libc::EPOLLIN as u32;
pub const EPOLLOUT: u32 = libc::EPOLLOUT as u32;
pub const EPOLLET: u32 = libc::EPOLLET as u32;
pub const EPOLLERR: u32 = libc::EPOLLERR as u32;
pub const EPOLLHUP: u32 = libc::EPOLLHUP as u32;
pub const EPOLLRDHUP: u32 = libc::EPOLLRDHUP as u32;

/// An epoll instance, closed on drop.
pub struct Epoll {
    fd: RawFd,
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall, no pointers.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Epoll { fd })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        let rc = unsafe { libc::epoll_ctl(self.fd, op, fd, &mut ev) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn add(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, token)
    }

    pub fn modify(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, events, token)
    }

    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// Wait up to `timeout`; returns the ready (token, events) pairs in `out` (cleared first).
    /// EINTR is reported as zero events.
    pub fn wait(
        &self,
        buf: &mut [libc::epoll_event],
        out: &mut Vec<(u64, u32)>,
        timeout: Duration,
    ) -> io::Result<()> {
        out.clear();
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        let cap = buf.len().min(i32::MAX as usize) as libc::c_int;
        // SAFETY: `buf` has room for `cap` events.
        let n = unsafe { libc::epoll_wait(self.fd, buf.as_mut_ptr(), cap, ms) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                return Ok(());
            }
            return Err(err);
        }
        for ev in &buf[..n as usize] {
            // Copy out of the (packed on x86-64) struct before use.
            let token = ev.u64;
            let events = ev.events;
            out.push((token, events));
        }
        Ok(())
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: we own the fd.
        unsafe {
            libc::close(self.fd);
        }
    }
}

/// A zeroed event buffer for `Epoll::wait`.
pub fn event_buffer(n: usize) -> Vec<libc::epoll_event> {
    vec![libc::epoll_event { events: 0, u64: 0 }; n]
}

/// Raise the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
pub fn raise_nofile() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit out-parameter.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: `lim` is a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur)
}

/// Parse a host and insist that it is a loopback address.
pub fn loopback_host(s: &str) -> Result<IpAddr, String> {
    let ip: IpAddr = if s == "localhost" {
        IpAddr::from([127, 0, 0, 1])
    } else {
        s.parse()
            .map_err(|_| format!("bad host {s:?}: give an IP address"))?
    };
    if !ip.is_loopback() {
        return Err(format!(
            "host {ip} is not a loopback address; only loopback is allowed"
        ));
    }
    Ok(ip)
}

/// Parse the value of option `name`.
pub fn parse_value<T: std::str::FromStr>(name: &str, value: Option<String>) -> Result<T, String> {
    let v = value.ok_or_else(|| format!("{name} needs a value"))?;
    v.parse()
        .map_err(|_| format!("bad value for {name}: {v:?}"))
}

/// CPU time of process `pid`, all threads, from /proc/PID/stat (clock-tick resolution).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuTimes {
    /// Seconds in user space (utime).
    pub user: f64,
    /// Seconds in the kernel on the process's behalf (stime).
    pub sys: f64,
}

impl CpuTimes {
    /// user + sys.
    pub fn total(&self) -> f64 {
        self.user + self.sys
    }
}

/// Reads process `pid`'s [`CpuTimes`].
pub fn proc_cpu_stat(pid: u32) -> io::Result<CpuTimes> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_proc_stat(&text)
}

/// Parses the text of /proc/PID/stat into [`CpuTimes`].
pub fn parse_proc_stat(text: &str) -> io::Result<CpuTimes> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "unexpected /proc/PID/stat format",
        )
    };
    let rest = &text[text.rfind(')').ok_or_else(bad)? + 1..];
    // After the command name come fields 3 (state) onwards; utime is field 14, stime 15.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let stime: u64 = fields.get(12).ok_or_else(bad)?.parse().map_err(|_| bad())?;
    // SAFETY: plain sysconf query.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as f64 } else { 100.0 };
    Ok(CpuTimes {
        user: utime as f64 / hz,
        sys: stime as f64 / hz,
    })
}

/// CPU time of process `pid` in seconds with nanosecond resolution: the sum of the
/// run times in /proc/PID/task/*/schedstat. None when schedstat is not available.
pub fn proc_cpu_sched(pid: u32) -> Option<f64> {
    let mut total: u64 = 0;
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = entry.ok()?.path().join("schedstat");
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            // A thread that exited between read_dir and here.
            Err(_) => continue,
        };
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_splits_user_and_sys() {
        // A command name with spaces and a parenthesis, as /proc allows.
        let text = "42 (py (x) y) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0";
        let t = parse_proc_stat(text).unwrap();
        // SAFETY: plain sysconf query.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        assert_eq!(t.user, 250.0 / hz);
        assert_eq!(t.sys, 50.0 / hz);
        assert_eq!(t.total(), 300.0 / hz);
        assert!(parse_proc_stat("no parenthesis").is_err());
    }
}
