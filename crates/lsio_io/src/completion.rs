//! Batches of completions: the channel a backend answers through, with a bound on bytes in flight
//! and cancellation when the consumer drops the batch.
//!
//! ```text
//!  backend threads / rings                          consumer
//!  ───────────────────────                          ────────
//!  budget.acquire_or_notify(n) ──┐
//!  read into a fresh buffer      │  CompletionSender ──channel──▶ Completions (Iterator + Stream)
//!  sender.send(chunk, charge n) ─┘                                  │ yields chunk, releases n
//!                                  ◀──────── wake parked work ───────┘
//! ```
//!
//! The budget counts bytes a backend has allocated for a batch and not yet handed to the consumer.
//! A backend asks for budget *before* it allocates, so a batch of a million requests never holds
//! more than the budget at once (one request larger than the whole budget may run alone).

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::error::{Error, Result};

/// Default bound on bytes in flight per batch: 256 MiB.
pub const DEFAULT_BYTES_IN_FLIGHT: u64 = 256 << 20;

type Waker = Box<dyn FnOnce() + Send>;

/// A count of bytes in flight with a limit, shared by a batch's producer and consumer.
pub struct ByteBudget {
    limit: u64,
    state: Mutex<BudgetState>,
    freed: Condvar,
}

struct BudgetState {
    used: u64,
    peak: u64,
    largest: u64,
    closed: bool,
    waiter: Option<Waker>,
}

impl fmt::Debug for ByteBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        f.debug_struct("ByteBudget").field("limit", &self.limit).field("used", &s.used).field("peak", &s.peak).finish()
    }
}

impl ByteBudget {
    pub fn new(limit: u64) -> Self {
        ByteBudget {
            limit,
            state: Mutex::new(BudgetState { used: 0, peak: 0, largest: 0, closed: false, waiter: None }),
            freed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BudgetState> {
        // A panic while holding this lock cannot leave the counters inconsistent (each update is
        // one assignment), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fits(&self, s: &BudgetState, n: u64) -> bool {
        s.used == 0 || s.used.saturating_add(n) <= self.limit
    }

    fn take(s: &mut BudgetState, n: u64) {
        s.used += n;
        s.peak = s.peak.max(s.used);
        s.largest = s.largest.max(n);
    }

    /// Takes `n` bytes if they fit (or nothing else is in flight), without waiting.
    pub fn try_acquire(&self, n: u64) -> bool {
        let mut s = self.lock();
        if s.closed || !self.fits(&s, n) {
            return false;
        }
        Self::take(&mut s, n);
        true
    }

    /// Takes `n` bytes if they fit; otherwise keeps `wake` and calls it once bytes are released
    /// (or the batch is dropped), so the caller can park its work instead of blocking a thread.
    /// A later call replaces an earlier waiter (the earlier one is dropped, not called).
    pub fn acquire_or_notify(&self, n: u64, wake: impl FnOnce() + Send + 'static) -> bool {
        let mut s = self.lock();
        if !s.closed && self.fits(&s, n) {
            Self::take(&mut s, n);
            return true;
        }
        if s.closed {
            drop(s);
            wake();
            return false;
        }
        s.waiter = Some(Box::new(wake));
        false
    }

    /// Waits until `n` bytes fit; `false` if the batch was dropped meanwhile.
    pub fn acquire_blocking(&self, n: u64) -> bool {
        let mut s = self.lock();
        loop {
            if s.closed {
                return false;
            }
            if self.fits(&s, n) {
                Self::take(&mut s, n);
                return true;
            }
            s = self.freed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Gives back `n` bytes and wakes parked work.
    pub fn release(&self, n: u64) {
        if n == 0 {
            return;
        }
        let waiter = {
            let mut s = self.lock();
            s.used = s.used.saturating_sub(n);
            s.waiter.take()
        };
        self.freed.notify_all();
        if let Some(w) = waiter {
            w();
        }
    }

    fn close(&self) {
        let waiter = {
            let mut s = self.lock();
            s.closed = true;
            s.waiter.take()
        };
        self.freed.notify_all();
        if let Some(w) = waiter {
            w();
        }
    }

    /// The limit.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes in flight now.
    pub fn used(&self) -> u64 {
        self.lock().used
    }

    /// The most bytes that were ever in flight at once.
    pub fn peak(&self) -> u64 {
        self.lock().peak
    }

    /// The largest single acquisition (it may exceed the limit only when nothing else was in flight).
    pub fn largest(&self) -> u64 {
        self.lock().largest
    }
}

struct Shared {
    budget: ByteBudget,
    cancelled: AtomicBool,
}

struct Completion<T> {
    result: Result<T>,
    charge: u64,
}

/// Creates a batch: the backend keeps the sender, the caller gets the [`Completions`].
///
/// `expected` is the number of results the backend will send (one per request); if every sender
/// is dropped before that many were sent, the consumer gets one [`Error::Closed`] instead of
/// waiting forever.
pub fn batch<T>(expected: usize, bytes_in_flight: u64) -> (CompletionSender<T>, Completions<T>) {
    let (tx, rx) = async_channel::unbounded();
    let shared = Arc::new(Shared { budget: ByteBudget::new(bytes_in_flight), cancelled: AtomicBool::new(false) });
    (
        CompletionSender { tx, shared: shared.clone() },
        Completions { rx: Box::pin(rx), shared, remaining: expected, closed_reported: false },
    )
}

/// The backend's end of a batch. Cheap to clone; each clone may send from any thread.
pub struct CompletionSender<T> {
    tx: async_channel::Sender<Completion<T>>,
    shared: Arc<Shared>,
}

impl<T> Clone for CompletionSender<T> {
    fn clone(&self) -> Self {
        CompletionSender { tx: self.tx.clone(), shared: self.shared.clone() }
    }
}

impl<T> fmt::Debug for CompletionSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompletionSender").field("budget", &self.shared.budget).finish()
    }
}

impl<T> CompletionSender<T> {
    /// Sends one request's result. `charge` is the budget the backend acquired for it, released
    /// when the consumer takes the result (or at once if the consumer is gone). Returns `false`
    /// when the consumer has dropped the batch.
    pub fn send(&self, result: Result<T>, charge: u64) -> bool {
        match self.tx.try_send(Completion { result, charge }) {
            Ok(()) => true,
            Err(_) => {
                self.shared.budget.release(charge);
                false
            }
        }
    }

    /// Whether the consumer dropped the batch (or cancelled it): skip work not yet started.
    pub fn is_cancelled(&self) -> bool {
        self.shared.cancelled.load(Ordering::Acquire)
    }

    /// The batch's budget of bytes in flight.
    pub fn budget(&self) -> &ByteBudget {
        &self.shared.budget
    }
}

/// The caller's end of a batch: results in completion order, one per request.
///
/// Iterate it to block for each result, or poll it as a [`futures_core::Stream`] from async code.
/// Dropping it cancels the requests that have not started; those in flight finish and are freed.
pub struct Completions<T> {
    // Boxed: the receiver is `!Unpin`, and a pinned box keeps `Completions` easy to poll.
    rx: Pin<Box<async_channel::Receiver<Completion<T>>>>,
    shared: Arc<Shared>,
    remaining: usize,
    closed_reported: bool,
}

impl<T> fmt::Debug for Completions<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completions").field("remaining", &self.remaining).field("budget", &self.shared.budget).finish()
    }
}

impl<T> Completions<T> {
    /// Results not yet received.
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    /// The bound on bytes in flight for this batch.
    pub fn bytes_in_flight_limit(&self) -> u64 {
        self.shared.budget.limit()
    }

    /// The most bytes the backend had allocated and not yet handed over, at any one time.
    pub fn peak_bytes_in_flight(&self) -> u64 {
        self.shared.budget.peak()
    }

    /// The largest single amount the backend charged (a merged read), see [`ByteBudget::largest`].
    pub fn largest_charge(&self) -> u64 {
        self.shared.budget.largest()
    }

    /// Cancels the requests that have not started; their results arrive as [`Error::Cancelled`].
    pub fn cancel(&self) {
        self.shared.cancelled.store(true, Ordering::Release);
        self.shared.budget.close();
    }

    fn accept(&mut self, c: Completion<T>) -> Result<T> {
        self.remaining -= 1;
        self.shared.budget.release(c.charge);
        c.result
    }

    fn closed(&mut self) -> Option<Result<T>> {
        if self.remaining == 0 || self.closed_reported {
            return None;
        }
        self.closed_reported = true;
        let outstanding = std::mem::take(&mut self.remaining);
        Some(Err(Error::Closed { outstanding }))
    }

    /// Collects every result, blocking.
    pub fn collect_all(self) -> Vec<Result<T>> {
        self.collect()
    }
}

impl<T> Iterator for Completions<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        if self.remaining == 0 {
            return None;
        }
        match self.rx.recv_blocking() {
            Ok(c) => Some(self.accept(c)),
            Err(_) => self.closed(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<T> Stream for Completions<T> {
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        let this = &mut *self;
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        match this.rx.as_mut().poll_next(cx) {
            Poll::Ready(Some(c)) => Poll::Ready(Some(this.accept(c))),
            Poll::Ready(None) => Poll::Ready(this.closed()),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<T> Drop for Completions<T> {
    fn drop(&mut self) {
        self.shared.cancelled.store(true, Ordering::Release);
        self.rx.close();
        // Results already queued hold budget; nobody will take them now.
        while let Ok(c) = self.rx.try_recv() {
            self.shared.budget.release(c.charge);
        }
        self.shared.budget.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn budget_parks_and_wakes() {
        let b = ByteBudget::new(100);
        assert!(b.try_acquire(60));
        assert!(!b.try_acquire(60));
        let woke = Arc::new(AtomicUsize::new(0));
        let w = woke.clone();
        assert!(!b.acquire_or_notify(60, move || {
            w.fetch_add(1, Ordering::SeqCst);
        }));
        b.release(60);
        assert_eq!(woke.load(Ordering::SeqCst), 1);
        // One request larger than the whole budget runs when nothing else is in flight.
        assert!(b.try_acquire(1000));
        assert_eq!(b.peak(), 1000);
    }

    #[test]
    fn results_release_budget_and_missing_results_end_in_closed() {
        let (tx, mut rx) = batch::<u32>(3, 10);
        assert!(tx.budget().try_acquire(10));
        assert!(tx.send(Ok(1), 10));
        assert_eq!(rx.next().unwrap().unwrap(), 1);
        assert_eq!(tx.budget().used(), 0);
        assert!(tx.send(Ok(2), 0));
        drop(tx);
        assert_eq!(rx.next().unwrap().unwrap(), 2);
        assert!(matches!(rx.next(), Some(Err(Error::Closed { outstanding: 1 }))));
        assert!(rx.next().is_none());
    }

    #[test]
    fn drop_cancels_and_releases() {
        let (tx, rx) = batch::<u32>(2, 10);
        assert!(tx.budget().try_acquire(10));
        assert!(tx.send(Ok(1), 10));
        drop(rx);
        assert!(tx.is_cancelled());
        assert_eq!(tx.budget().used(), 0);
        assert!(!tx.send(Ok(2), 0));
    }

    #[test]
    fn stream_yields_in_completion_order() {
        let (tx, rx) = batch::<u32>(2, 10);
        let t = std::thread::spawn(move || {
            tx.send(Ok(7), 0);
            tx.send(Ok(8), 0);
        });
        let got: Vec<u32> = futures::executor::block_on(futures::StreamExt::collect::<Vec<_>>(rx))
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        t.join().unwrap();
        assert_eq!(got, vec![7, 8]);
    }
}
