//! Ingest slots: how many ingest bodies are read and stored at once, in all
//! and per key. A request that finds no slot is refused at once (429 with
//! `Retry-After`) rather than queued, and one key cannot take every slot:
//! a sender that floods, or sends slowly, leaves the others room.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::error::ApiError;

/// The slots, shared by every request.
#[derive(Debug)]
pub(crate) struct IngestSlots {
    all: Arc<Semaphore>,
    per_key: usize,
    held: Mutex<HashMap<Uuid, usize>>,
}

/// A slot taken: given back when dropped (the batch stored, or the request gone).
#[derive(Debug)]
pub(crate) struct Slot {
    _all: OwnedSemaphorePermit,
    key: Uuid,
    slots: Arc<IngestSlots>,
}

impl IngestSlots {
    /// `all` slots in all, at most `per_key` of them held by one key.
    pub(crate) fn new(all: usize, per_key: usize) -> Arc<Self> {
        Arc::new(Self {
            all: Arc::new(Semaphore::new(all.max(1))),
            per_key: per_key.max(1),
            held: Mutex::new(HashMap::new()),
        })
    }

    /// Slots free in all (for the metrics).
    pub(crate) fn available(&self) -> usize {
        self.all.available_permits()
    }

    /// Takes a slot for `key`, or says why not.
    pub(crate) fn try_take(self: &Arc<Self>, key: Uuid) -> Result<Slot, ApiError> {
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mine = held.get(&key).copied().unwrap_or(0);
        if mine >= self.per_key {
            return Err(ApiError::Overloaded(format!(
                "this key already has {mine} ingest request(s) in flight, its most \
                 (ingest.max_concurrent_per_key); retry after one finishes"
            )));
        }
        let permit = self
            .all
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::Overloaded("ingest is saturated; retry after a short wait".into()))?;
        held.insert(key, mine + 1);
        Ok(Slot { _all: permit, key, slots: self.clone() })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.slots.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_cannot_take_every_slot() {
        let slots = IngestSlots::new(3, 2);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let first = slots.try_take(a).unwrap();
        let _second = slots.try_take(a).unwrap();
        let refused = slots.try_take(a).unwrap_err();
        assert!(refused.to_string().contains("ingest.max_concurrent_per_key"), "{refused}");
        let other = slots.try_take(b).unwrap();
        assert!(slots.try_take(b).unwrap_err().to_string().contains("saturated"), "all three are held");
        drop(first);
        assert_eq!(slots.available(), 1);
        let _again = slots.try_take(a).unwrap();
        drop(other);
        assert_eq!(slots.held.lock().unwrap().get(&b), None, "a key with nothing in flight is forgotten");
    }
}
