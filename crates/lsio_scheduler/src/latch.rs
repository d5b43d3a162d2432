//! Latches: what a scope owner, a task joiner or an `install` caller waits for, whether it is a worker of the pool
//! (which keeps running other jobs while it waits, and sleeps in [`Sleep`] when there are none) or
//! any other thread (which blocks on a condition variable).
//!
//! The protocol, modelled with loom in `tests/loom.rs`: under the latch's mutex the setter writes
//! the value (if any), marks the latch set and takes the registered worker waiter; then it stores
//! the `set` flag (release), signals the condition variable if a thread outside the pool blocks
//! on it, and finally calls [`Sleep::wake_specific`] on the waiter's pool. A worker waiter
//! registers itself under the same mutex only while the latch is not set, and its sleep re-checks
//! the flag (see [`Sleep::sleep`]), so the wake cannot be lost; whoever sees the flag finds the
//! value.

// `pub` (not `pub(crate)`) so that `--cfg loom` builds can re-export these to the model tests.
#![cfg_attr(not(loom), allow(unreachable_pub))]

use crate::loom::{Arc, AtomicBool, Condvar, Mutex, Ordering, lock, wait};
use crate::sleep::Sleep;

/// A one-shot signal, optionally carrying a value (a spawned task's closure, then its result)
/// under the same lock.
pub struct Latch<V = ()> {
    set: AtomicBool,
    waiters: Mutex<Waiters<V>>,
    cv: Condvar,
}

struct Waiters<V> {
    set: bool,
    /// Threads blocked on the condition variable (signalling one costs a system call, so it is
    /// done only when someone waits).
    blocked: u32,
    /// The worker that waits, if any: its pool's sleep state and its index there.
    worker: Option<(Arc<Sleep>, usize)>,
    value: V,
}

impl<V> std::fmt::Debug for Latch<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Latch").field("set", &self.probe()).finish()
    }
}

impl Default for Latch {
    fn default() -> Self {
        Self::with_value(())
    }
}

impl Latch {
    pub fn new() -> Self {
        Self::default()
    }
}

impl<V> Latch<V> {
    /// An unset latch holding `value`.
    pub fn with_value(value: V) -> Self {
        Latch {
            set: AtomicBool::new(false),
            waiters: Mutex::new(Waiters { set: false, blocked: 0, worker: None, value }),
            cv: Condvar::new(),
        }
    }

    /// Whether the latch is set; once true, what the setter wrote before setting is visible.
    #[inline]
    pub fn probe(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    /// Sets the latch and wakes its waiter.
    pub fn set(&self) {
        self.set_with(|_| ());
    }

    /// Sets the latch, updating its value under the lock first, and wakes its waiter.
    pub fn set_with(&self, update: impl FnOnce(&mut V)) {
        let (worker, blocked) = {
            let mut w = lock(&self.waiters);
            update(&mut w.value);
            w.set = true;
            (w.worker.take(), w.blocked > 0)
        };
        // After the value is in place: whoever sees the flag finds the value.
        self.set.store(true, Ordering::Release);
        if blocked {
            self.cv.notify_all();
        }
        if let Some((sleep, index)) = worker {
            sleep.wake_specific(index);
        }
    }

    /// The value, through exclusive access (no lock taken).
    pub fn value_mut(&mut self) -> &mut V {
        &mut self.waiters.get_mut().unwrap_or_else(|p| p.into_inner()).value
    }

    /// Runs `f` on the value under the lock.
    pub fn with_value_locked<R>(&self, f: impl FnOnce(&mut V) -> R) -> R {
        f(&mut lock(&self.waiters).value)
    }

    /// Registers worker `index` of the pool that `sleep` belongs to as the waiter; `false` if the
    /// latch is already set (then there is nothing to wait for). One worker waiter at a time.
    pub fn register_worker(&self, sleep: Arc<Sleep>, index: usize) -> bool {
        let mut w = lock(&self.waiters);
        if w.set {
            return false;
        }
        w.worker = Some((sleep, index));
        true
    }

    /// Blocks the calling thread (not a worker of the pool) until the latch is set.
    pub fn wait_blocking(&self) {
        let mut w = lock(&self.waiters);
        w.blocked += 1;
        while !w.set {
            w = wait(&self.cv, w);
        }
        w.blocked -= 1;
    }
}
