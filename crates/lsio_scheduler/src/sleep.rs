//! How idle workers fall asleep and how new work (or a finished latch) wakes them.
//!
//! The protocol, modelled with loom in `tests/loom.rs`:
//!
//! - A worker that found no work (after a short bounded spin in the caller) calls [`Sleep::sleep`]:
//!   under the mutex it puts itself on the idle list and publishes the list's length in
//!   `sleepers`, then a `SeqCst` fence, then it checks once more (`ready`: is there work, is my latch
//!   set, is the pool terminating?). If so it takes itself off the list and returns; otherwise it
//!   waits on its own condition variable until a waker hands it a token.
//! - A producer that made work available (pushed a job) calls [`Sleep::notify_one`]: a `SeqCst`
//!   fence, then a load of `sleepers`; only if it is non-zero does it take the mutex, pop one
//!   sleeper and give it a token. With nobody asleep, announcing work costs one fence and one load.
//! - The two fences order "push work; read sleepers" against "publish sleeper; check for work":
//!   either the producer sees the sleeper (and wakes it), or the sleeper's re-check sees the work.
//! - [`Sleep::wake_specific`] wakes one given worker (the owner of a scope or the joiner of a
//!   task whose latch was just set). The setter sets its latch *before* calling it and it always
//!   takes the mutex, so either it finds the worker on the list, or the worker's re-check, made
//!   under the same mutex later, sees the latch set.
//!
//! Tokens (`woken`) make the wait immune to spurious condition-variable wake-ups, and a worker is
//! handed at most one token per sleep, because the waker takes it off the list under the mutex.

// `pub` (not `pub(crate)`) so that `--cfg loom` builds can re-export these to the model tests.
#![cfg_attr(not(loom), allow(unreachable_pub))]

use crate::loom::{AtomicUsize, Condvar, Mutex, MutexGuard, Ordering, fence, lock, wait};

/// The sleep/wake state of one pool's workers.
pub struct Sleep {
    /// Length of `State::idle`, readable without the lock.
    sleepers: AtomicUsize,
    state: Mutex<State>,
    /// One per worker, each used with `state`'s mutex.
    condvars: Box<[Condvar]>,
}

struct State {
    /// Workers waiting for a token, most recent last (woken first: its caches are warmest).
    idle: Vec<usize>,
    /// `asleep[i]`: worker `i` is on `idle`.
    asleep: Box<[bool]>,
    /// `woken[i]`: worker `i` was handed a token it has not consumed yet.
    woken: Box<[bool]>,
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep").field("sleepers", &self.sleepers.load(Ordering::Relaxed)).finish()
    }
}

impl Sleep {
    /// Sleep state for `workers` workers, numbered `0..workers`.
    pub fn new(workers: usize) -> Self {
        Sleep {
            sleepers: AtomicUsize::new(0),
            state: Mutex::new(State {
                idle: Vec::with_capacity(workers),
                asleep: vec![false; workers].into_boxed_slice(),
                woken: vec![false; workers].into_boxed_slice(),
            }),
            condvars: (0..workers).map(|_| Condvar::new()).collect(),
        }
    }

    /// Puts worker `index` to sleep unless `ready()` says there is something to do; returns once
    /// woken (by [`notify_one`](Self::notify_one), [`wake_specific`](Self::wake_specific) or
    /// [`wake_all`](Self::wake_all)) or at once if `ready()` was true. `ready` runs under the lock
    /// and must neither block nor take it.
    pub fn sleep(&self, index: usize, ready: impl FnOnce() -> bool) {
        let mut s = lock(&self.state);
        s.idle.push(index);
        s.asleep[index] = true;
        self.sleepers.store(s.idle.len(), Ordering::Relaxed);
        // Pairs with the fence in `notify_one`: either the producer sees us in `sleepers`, or we
        // see its work in `ready()`.
        fence(Ordering::SeqCst);
        if ready() {
            self.unlist(&mut s, index);
            return;
        }
        while !s.woken[index] {
            s = wait(&self.condvars[index], s);
        }
        s.woken[index] = false;
    }

    /// Announces new work: wakes one sleeping worker, if any. Call after making the work visible.
    #[inline]
    pub fn notify_one(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut s = lock(&self.state);
        if let Some(index) = s.idle.pop() {
            self.hand_token(s, index);
        }
    }

    /// Wakes worker `index` if it is asleep. Call after setting the latch it waits for.
    pub fn wake_specific(&self, index: usize) {
        let mut s = lock(&self.state);
        if s.asleep[index] {
            if let Some(pos) = s.idle.iter().rposition(|&i| i == index) {
                s.idle.swap_remove(pos);
            }
            self.hand_token(s, index);
        }
    }

    /// Wakes every sleeping worker (the pool is terminating).
    pub fn wake_all(&self) {
        let mut s = lock(&self.state);
        let idle = std::mem::take(&mut s.idle);
        self.sleepers.store(0, Ordering::Relaxed);
        for &i in &idle {
            s.asleep[i] = false;
            s.woken[i] = true;
        }
        drop(s);
        for i in idle {
            self.condvars[i].notify_one();
        }
    }

    /// Workers asleep now (a snapshot).
    pub fn sleepers(&self) -> usize {
        self.sleepers.load(Ordering::Relaxed)
    }

    fn unlist(&self, s: &mut State, index: usize) {
        if let Some(pos) = s.idle.iter().rposition(|&i| i == index) {
            s.idle.swap_remove(pos);
        }
        s.asleep[index] = false;
        self.sleepers.store(s.idle.len(), Ordering::Relaxed);
    }

    /// `index` is already off `idle`: marks it awake, hands it a token and signals it.
    fn hand_token(&self, mut s: MutexGuard<'_, State>, index: usize) {
        s.asleep[index] = false;
        s.woken[index] = true;
        self.sleepers.store(s.idle.len(), Ordering::Relaxed);
        drop(s);
        self.condvars[index].notify_one();
    }
}
