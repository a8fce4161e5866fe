//! What a registered fd is watched for.

/// A set of readiness kinds: readable, writable, both, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Interest(u8);

impl Interest {
    /// Watch nothing.
    pub const NONE: Interest = Interest(0);
    /// Watch for readability.
    pub const READABLE: Interest = Interest(1);
    /// Watch for writability.
    pub const WRITABLE: Interest = Interest(2);
    /// Watch for both.
    pub const BOTH: Interest = Interest(3);

    /// Whether readability is in the set.
    pub fn is_readable(self) -> bool {
        self.0 & 1 != 0
    }

    /// Whether writability is in the set.
    pub fn is_writable(self) -> bool {
        self.0 & 2 != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The set with `other` added.
    pub fn with(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }

    /// The set with `other` removed.
    pub fn without(self, other: Interest) -> Interest {
        Interest(self.0 & !other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations() {
        let both = Interest::READABLE.with(Interest::WRITABLE);
        assert_eq!(both, Interest::BOTH);
        assert!(both.is_readable() && both.is_writable());
        assert_eq!(both.without(Interest::READABLE), Interest::WRITABLE);
        assert!(Interest::NONE.is_empty());
        assert!(!Interest::WRITABLE.is_readable());
    }
}
