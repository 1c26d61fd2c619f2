//! `--max-connections`: how many connections may be open at once, queued
//! ones included. Each admitted connection holds a [`Slot`]; dropping it
//! (when the connection ends, whatever ends it) frees the place.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Slots {
    open: AtomicUsize,
    limit: usize,
}

/// Proof that a connection was admitted; dropping it frees its place.
pub struct Slot(Arc<Slots>);

impl Slots {
    pub fn new(limit: usize) -> Arc<Slots> {
        Arc::new(Slots {
            open: AtomicUsize::new(0),
            limit,
        })
    }

    /// A place for one more connection, unless `limit` are open already.
    pub fn take(self: &Arc<Self>) -> Option<Slot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.limit).then_some(open + 1)
            })
            .ok()
            .map(|_| Slot(Arc::clone(self)))
    }

    /// Connections open now, queued ones included.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::Slots;

    #[test]
    fn a_slot_is_given_up_to_the_limit_and_freed_on_drop() {
        let slots = Slots::new(2);
        let first = slots.take().expect("first");
        let _second = slots.take().expect("second");
        assert!(slots.take().is_none(), "a third past a limit of 2");
        assert_eq!(slots.open(), 2);
        drop(first);
        assert_eq!(slots.open(), 1);
        assert!(slots.take().is_some(), "a place again once one left");
    }
}
