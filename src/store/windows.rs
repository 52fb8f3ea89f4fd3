//! Fixed-window hit counters in memory, for the abuse limits of a database
//! that one process uses (SQLite). PostgreSQL keeps them in a table instead,
//! shared by every node.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Windows are swept when the map grows past this many keys (and then past
/// twice what is left), so a flood of new keys costs amortised O(1) a hit.
const SWEEP_AT: usize = 10_000;

#[derive(Default)]
pub struct Windows {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// key -> (hits, when the window ends, unix ms)
    counts: HashMap<String, (i64, i64)>,
    sweep_at: usize,
}

impl Windows {
    /// Counts a hit on `key`; returns the hits in its window and when it ends.
    pub fn hit(&self, key: &str, now: i64, window_ms: i64) -> (i64, i64) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.counts.len() >= inner.sweep_at.max(SWEEP_AT) {
            inner.counts.retain(|_, (_, ends)| *ends > now);
            inner.sweep_at = inner.counts.len() * 2;
        }
        let window = match inner.counts.get_mut(key) {
            Some(window) => window,
            None => inner.counts.entry(key.to_owned()).or_insert((0, now + window_ms)),
        };
        if window.1 <= now {
            *window = (0, now + window_ms);
        }
        window.0 += 1;
        *window
    }

    /// Forgets the windows that ended by `now`; returns how many.
    pub fn purge(&self, now: i64) -> u64 {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let before = inner.counts.len();
        inner.counts.retain(|_, (_, ends)| *ends > now);
        (before - inner.counts.len()) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_and_starts_over_when_the_window_ends() {
        let windows = Windows::default();
        assert_eq!(windows.hit("a", 1000, 60), (1, 1060));
        assert_eq!(windows.hit("a", 1059, 60), (2, 1060));
        assert_eq!(windows.hit("b", 1059, 60), (1, 1119));
        assert_eq!(windows.hit("a", 1060, 60), (1, 1120), "a window that has ended starts over");
        assert_eq!(windows.purge(1119), 1);
        assert_eq!(windows.purge(1119), 0);
        assert_eq!(windows.hit("a", 1119, 60), (2, 1120), "an open window is kept");
    }

    #[test]
    fn a_flood_of_keys_is_swept() {
        let windows = Windows::default();
        for i in 0..SWEEP_AT * 3 {
            windows.hit(&i.to_string(), i as i64, 10);
        }
        let kept = windows.inner.lock().unwrap().counts.len();
        assert!(kept < SWEEP_AT * 2, "{kept} windows kept");
        assert_eq!(windows.hit("0", 0, 10).0, 1, "the ended window of key 0 was swept, or started over");
    }
}
