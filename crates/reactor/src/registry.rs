//! The fd table: which handler reads and which writes each watched fd, kept
//! in step with the kernel's epoll interest list.

use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;

use crate::interest::Interest;
use crate::sys::epoll::{Epoll, Event};

struct Slot<H> {
    reader: Option<H>,
    writer: Option<H>,
}

impl<H> Slot<H> {
    fn interest(&self) -> Interest {
        let mut i = Interest::NONE;
        if self.reader.is_some() {
            i = i.with(Interest::READABLE);
        }
        if self.writer.is_some() {
            i = i.with(Interest::WRITABLE);
        }
        i
    }
}

/// Readers and writers by fd. The epoll token of a user fd is the fd itself.
pub struct IoRegistry<H> {
    slots: HashMap<RawFd, Slot<H>>,
}

impl<H> Default for IoRegistry<H> {
    fn default() -> Self {
        IoRegistry {
            slots: HashMap::new(),
        }
    }
}

/// Which side of an fd a handler serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Called when the fd is readable.
    Read,
    /// Called when the fd is writable.
    Write,
}

impl<H> IoRegistry<H> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of fds with a reader or a writer.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no fd is watched.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The handler on `side` of `fd`, if any.
    pub fn get(&self, fd: RawFd, side: Side) -> Option<&H> {
        let slot = self.slots.get(&fd)?;
        match side {
            Side::Read => slot.reader.as_ref(),
            Side::Write => slot.writer.as_ref(),
        }
    }

    /// Installs `handler` on `side` of `fd` and updates epoll. Returns the
    /// handler it replaced. On a kernel error nothing changes and the new
    /// handler is handed back in the error's place by dropping it here.
    pub fn set(
        &mut self,
        epoll: &Epoll,
        fd: RawFd,
        side: Side,
        handler: H,
    ) -> Result<Option<H>, (io::Error, H)> {
        let token = fd as u64;
        match self.slots.get_mut(&fd) {
            None => {
                let slot = match side {
                    Side::Read => Slot {
                        reader: Some(handler),
                        writer: None,
                    },
                    Side::Write => Slot {
                        reader: None,
                        writer: Some(handler),
                    },
                };
                if let Err(e) = epoll.add_or_modify(fd, slot.interest(), token) {
                    let h = match side {
                        Side::Read => slot.reader,
                        Side::Write => slot.writer,
                    };
                    return match h {
                        Some(h) => Err((e, h)),
                        None => Ok(None),
                    };
                }
                self.slots.insert(fd, slot);
                Ok(None)
            }
            Some(slot) => {
                let before = slot.interest();
                let place = match side {
                    Side::Read => &mut slot.reader,
                    Side::Write => &mut slot.writer,
                };
                let old = place.replace(handler);
                let after = slot.interest();
                if after != before {
                    if let Err(e) = epoll.modify_or_add(fd, after, token) {
                        let place = match side {
                            Side::Read => &mut slot.reader,
                            Side::Write => &mut slot.writer,
                        };
                        let new = std::mem::replace(place, old);
                        return match new {
                            Some(h) => Err((e, h)),
                            None => Ok(None),
                        };
                    }
                }
                Ok(old)
            }
        }
    }

    /// Removes the handler on `side` of `fd` and updates epoll. Returns it.
    /// On a kernel error nothing changes (the handler stays installed), so
    /// no handler is ever dropped in here.
    pub fn remove(&mut self, epoll: &Epoll, fd: RawFd, side: Side) -> io::Result<Option<H>> {
        let Some(slot) = self.slots.get_mut(&fd) else {
            return Ok(None);
        };
        let place = match side {
            Side::Read => &mut slot.reader,
            Side::Write => &mut slot.writer,
        };
        let Some(old) = place.take() else {
            return Ok(None);
        };
        let after = slot.interest();
        let res = if after.is_empty() {
            epoll.delete(fd)
        } else {
            // The fd may already be closed; the kernel then forgot it, which is fine.
            match epoll.modify(fd, after, fd as u64) {
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::EBADF)) => {
                    Ok(())
                }
                other => other,
            }
        };
        if let Err(e) = res {
            let place = match side {
                Side::Read => &mut slot.reader,
                Side::Write => &mut slot.writer,
            };
            *place = Some(old);
            return Err(e);
        }
        if after.is_empty() {
            self.slots.remove(&fd);
        }
        Ok(Some(old))
    }

    /// Calls `f` with each handler that `event` makes runnable.
    pub fn for_each_ready(&self, event: Event, mut f: impl FnMut(RawFd, Side, &H)) {
        let Ok(fd) = RawFd::try_from(event.token) else {
            return;
        };
        let Some(slot) = self.slots.get(&fd) else {
            return;
        };
        if event.readable {
            if let Some(h) = &slot.reader {
                f(fd, Side::Read, h);
            }
        }
        if event.writable {
            if let Some(h) = &slot.writer {
                f(fd, Side::Write, h);
            }
        }
    }

    /// Every registered handler, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &H> {
        self.slots
            .values()
            .flat_map(|slot| slot.reader.iter().chain(slot.writer.iter()))
    }

    /// Removes every handler, unregistering each fd, and returns them.
    pub fn drain(&mut self, epoll: &Epoll) -> Vec<H> {
        let mut out = Vec::new();
        for (fd, slot) in self.slots.drain() {
            let _ = epoll.delete(fd);
            out.extend(slot.reader);
            out.extend(slot.writer);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::epoll::Events;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn reader_and_writer_share_one_registration() {
        let ep = Epoll::new().unwrap();
        let (a, b) = UnixStream::pair().unwrap();
        let fd = a.as_raw_fd();
        let mut reg = IoRegistry::new();
        assert!(reg.set(&ep, fd, Side::Read, "r").unwrap().is_none());
        assert!(reg.set(&ep, fd, Side::Write, "w").unwrap().is_none());
        assert_eq!(reg.len(), 1);

        let mut events = Events::with_capacity(8);
        ep.wait(&mut events, Some(0)).unwrap();
        let mut seen = vec![];
        for ev in events.iter() {
            reg.for_each_ready(ev, |_, side, h| seen.push((side, *h)));
        }
        assert_eq!(seen, vec![(Side::Write, "w")]);

        use std::io::Write;
        (&b).write_all(b"x").unwrap();
        ep.wait(&mut events, Some(100)).unwrap();
        let mut seen = vec![];
        for ev in events.iter() {
            reg.for_each_ready(ev, |_, side, h| seen.push((side, *h)));
        }
        assert_eq!(seen, vec![(Side::Read, "r"), (Side::Write, "w")]);

        assert_eq!(reg.remove(&ep, fd, Side::Write).unwrap(), Some("w"));
        assert_eq!(reg.remove(&ep, fd, Side::Write).unwrap(), None);
        assert_eq!(reg.set(&ep, fd, Side::Read, "r2").unwrap(), Some("r"));
        assert_eq!(reg.remove(&ep, fd, Side::Read).unwrap(), Some("r2"));
        assert!(reg.is_empty());
    }

    #[test]
    fn bad_fd_is_an_error_and_leaves_no_slot() {
        let ep = Epoll::new().unwrap();
        let mut reg = IoRegistry::new();
        let err = reg.set(&ep, 999_999, Side::Read, "r").unwrap_err();
        assert_eq!(err.0.raw_os_error(), Some(libc::EBADF));
        assert_eq!(err.1, "r");
        assert!(reg.is_empty());
    }
}
