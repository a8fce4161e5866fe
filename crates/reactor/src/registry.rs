//! The fd table: which handler reads and which writes each watched fd, kept
//! in step with the kernel's epoll interest list.

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
///
/// The table is a vector indexed by fd, as the kernel's own fd table is: fds
/// are small, dense integers, and the lookup runs for every event (a hashed
/// map spent more on hashing the fd than the rest of the dispatch). A slot
/// is only made after epoll accepted the fd, so the table never grows past
/// the highest open fd.
pub struct IoRegistry<H> {
    slots: Vec<Option<Slot<H>>>,
    /// Number of `Some` slots.
    used: usize,
}

impl<H> Default for IoRegistry<H> {
    fn default() -> Self {
        IoRegistry {
            slots: Vec::new(),
            used: 0,
        }
    }
}

/// The table index of `fd`; `None` for a negative fd.
fn index(fd: RawFd) -> Option<usize> {
    usize::try_from(fd).ok()
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
        self.used
    }

    /// Whether no fd is watched.
    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    fn slot(&self, fd: RawFd) -> Option<&Slot<H>> {
        self.slots.get(index(fd)?)?.as_ref()
    }

    fn slot_mut(&mut self, fd: RawFd) -> Option<&mut Slot<H>> {
        self.slots.get_mut(index(fd)?)?.as_mut()
    }

    /// Stores a new slot for `fd` (which has none).
    fn insert(&mut self, fd: RawFd, slot: Slot<H>) {
        let Some(i) = index(fd) else { return };
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, || None);
        }
        if let Some(place) = self.slots.get_mut(i) {
            if place.replace(slot).is_none() {
                self.used += 1;
            }
        }
    }

    /// Forgets the slot of `fd`.
    fn forget(&mut self, fd: RawFd) {
        if let Some(place) = index(fd).and_then(|i| self.slots.get_mut(i)) {
            if place.take().is_some() {
                self.used -= 1;
            }
        }
    }

    /// The handler on `side` of `fd`, if any.
    pub fn get(&self, fd: RawFd, side: Side) -> Option<&H> {
        let slot = self.slot(fd)?;
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
        match self.slot_mut(fd) {
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
                self.insert(fd, slot);
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
        let Some(slot) = self.slot_mut(fd) else {
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
            self.forget(fd);
        }
        Ok(Some(old))
    }

    /// Calls `f` with each handler that `event` makes runnable.
    pub fn for_each_ready(&self, event: Event, mut f: impl FnMut(RawFd, Side, &H)) {
        let Ok(fd) = RawFd::try_from(event.token) else {
            return;
        };
        let Some(slot) = self.slot(fd) else {
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
            .iter()
            .flatten()
            .flat_map(|slot| slot.reader.iter().chain(slot.writer.iter()))
    }

    /// Removes every handler, unregistering each fd, and returns them.
    pub fn drain(&mut self, epoll: &Epoll) -> Vec<H> {
        let mut out = Vec::new();
        for (i, slot) in std::mem::take(&mut self.slots).into_iter().enumerate() {
            let Some(slot) = slot else { continue };
            if let Ok(fd) = RawFd::try_from(i) {
                let _ = epoll.delete(fd);
            }
            out.extend(slot.reader);
            out.extend(slot.writer);
        }
        self.used = 0;
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
