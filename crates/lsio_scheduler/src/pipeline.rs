//! The chunk pipeline: reads from an [`IoBackend`], runs a function on every chunk on the pool,
//! and hands the results out as an `Iterator` or a `futures::Stream`, with reads in flight while
//! the workers compute and a budget of bytes in flight for backpressure.
//!
//! ```text
//!  consumer thread (next / poll_next)         backend threads           pool workers
//!  ──────────────────────────────────         ───────────────           ────────────
//!  pull requests, charge the budget,
//!  backend.read(batch) ─────────────────────▶ read … complete ─ wake ─▶ poll job: take chunks,
//!                                                                          spawn f(chunk) jobs
//!  hand out result, release its charge ◀──── results channel ◀───────── f(chunk) → result
//!  (ordered: via a reorder window)
//! ```
//!
//! Budget: a request is charged when it is submitted (its length if its range is bounded, else
//! [`PipelineConfig::unknown_len_charge`], trued up to the real length when the chunk arrives) and
//! released when its result is handed out, so bytes waiting for compute, being computed on, or
//! held in the reorder window all count. Submission happens on the consumer's thread, in `next`
//! or `poll_next`, whenever the budget and the window allow: when compute or the consumer falls
//! behind, nothing is submitted. A request larger than the whole budget is submitted only when
//! nothing else is in flight.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Wake, Waker};

use futures_core::Stream;
use lsio_io::{ByteRange, Chunk, IoBackend, ReadBatch, ReadRequest};

use crate::error::{Error, panic_message};
use crate::poller::RunFlag;
use crate::pool::{Registry, ThreadPool, WorkerThread};

/// Settings of a [`Pipeline`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelineConfig {
    /// Hand results out in request order (else in completion order).
    pub ordered: bool,
    /// The most requests submitted and not yet handed out. In ordered mode this bounds the results
    /// held back waiting for an earlier one.
    pub reorder_window: usize,
    /// Budget of bytes from submission until the result is handed out.
    pub bytes_in_flight: u64,
    /// End the pipeline after handing out the first error (and cancel what is in flight).
    pub stop_on_error: bool,
    /// The most requests per backend batch. Batches are submitted full, or smaller when the
    /// pipeline runs low (less than half the budget in flight) or the requests run out.
    pub batch_size: usize,
    /// What a request whose length is unknown before it is read (a suffix, open or whole range)
    /// is charged at submission; the charge becomes the real length once the chunk arrives.
    pub unknown_len_charge: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            ordered: false,
            reorder_window: 1024,
            bytes_in_flight: 64 << 20,
            stop_on_error: false,
            batch_size: 32,
            unknown_len_charge: 1 << 20,
        }
    }
}

/// Counters of a [`Pipeline`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// Requests submitted to the backend.
    pub requests_submitted: u64,
    /// Backend batches submitted.
    pub batches_submitted: u64,
    /// Results handed out (including errors).
    pub results: u64,
    /// Errors handed out.
    pub errors: u64,
    /// Bytes charged to the budget now.
    pub bytes_in_flight: u64,
    /// The most bytes ever charged at once.
    pub peak_bytes_in_flight: u64,
    /// The largest single charge (it may exceed the budget only when nothing else was in flight).
    pub largest_charge: u64,
}

/// The budget's counters, shared by the consumer and the poll jobs.
#[derive(Debug, Default)]
struct Budget {
    used: AtomicU64,
    peak: AtomicU64,
    largest: AtomicU64,
    cancelled: AtomicBool,
}

impl Budget {
    fn charge(&self, n: u64) {
        let now = self.used.fetch_add(n, Ordering::AcqRel) + n;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    fn release(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }

    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}

/// One result on its way to the consumer.
struct Done<R> {
    seq: u64,
    charge: u64,
    result: Result<R, Error>,
}

/// What the poll jobs and compute jobs of one pipeline share.
struct Shared<F, R> {
    f: F,
    budget: Arc<Budget>,
    out: async_channel::Sender<Done<R>>,
    registry: Arc<Registry>,
}

/// One request of a submitted batch.
struct Entry {
    /// The caller's tag (the backend sees the sequence number instead).
    tag: u64,
    charge: u64,
    known_len: bool,
    answered: bool,
}

/// A submitted batch, with what is needed to answer every one of its requests exactly once.
struct InFlight<R> {
    batch: ReadBatch,
    base_seq: u64,
    entries: Vec<Entry>,
    unanswered: usize,
    out: async_channel::Sender<Done<R>>,
}

impl<R> InFlight<R> {
    /// Marks the request with sequence number `seq` answered; its index, or `None` for a tag this
    /// batch does not know or already answered (a misbehaving backend: ignored).
    fn answer(&mut self, seq: u64) -> Option<usize> {
        let i = usize::try_from(seq.checked_sub(self.base_seq)?).ok()?;
        let e = self.entries.get_mut(i)?;
        if e.answered {
            return None;
        }
        e.answered = true;
        self.unanswered -= 1;
        Some(i)
    }

    /// Answers every request still unanswered with `error(tag)`.
    fn fail_unanswered(&mut self, error: impl Fn(u64) -> Error) {
        for (i, e) in self.entries.iter_mut().enumerate() {
            if !e.answered {
                e.answered = true;
                let _ = self.out.try_send(Done {
                    seq: self.base_seq + i as u64,
                    charge: e.charge,
                    result: Err(error(e.tag)),
                });
            }
        }
        self.unanswered = 0;
    }
}

impl<R> Drop for InFlight<R> {
    fn drop(&mut self) {
        // Dropped before every request was answered: the pipeline was cancelled (then nobody
        // listens) or the batch was abandoned; either way each request still gets its one result.
        if self.unanswered > 0 {
            self.fail_unanswered(|tag| Error::Cancelled { tag: Some(tag) });
        }
    }
}

/// Polls one batch from the pool whenever the backend wakes it, and spawns the compute jobs.
struct Poller<F, R> {
    flag: RunFlag,
    shared: Arc<Shared<F, R>>,
    batch: Mutex<Option<InFlight<R>>>,
}

/// What the consumer keeps of a submitted batch: a way to cancel it.
trait CancelBatch: Send + Sync {
    fn cancel(&self);
}

impl<F, R> CancelBatch for Poller<F, R>
where
    F: Fn(Chunk) -> R + Send + Sync + 'static,
    R: Send + 'static,
{
    fn cancel(&self) {
        // Dropping the backend's batch cancels its requests not yet started.
        let taken = self.batch.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(taken);
    }
}

impl<F, R> Wake for Poller<F, R>
where
    F: Fn(Chunk) -> R + Send + Sync + 'static,
    R: Send + 'static,
{
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.flag.request() {
            let me = self.clone();
            self.shared.registry.push(Box::new(move || me.poll()));
        }
    }
}

impl<F, R> Poller<F, R>
where
    F: Fn(Chunk) -> R + Send + Sync + 'static,
    R: Send + 'static,
{
    fn poll(self: Arc<Self>) {
        self.flag.begin();
        let waker = Waker::from(self.clone());
        let mut cx = Context::from_waker(&waker);
        let mut guard = self.batch.lock().unwrap_or_else(|p| p.into_inner());
        let Some(fl) = guard.as_mut() else { return };
        if self.shared.budget.cancelled() {
            *guard = None;
            return;
        }
        loop {
            match Pin::new(&mut fl.batch).poll_next(&mut cx) {
                Poll::Ready(Some(Ok(chunk))) => self.dispatch_chunk(fl, chunk),
                Poll::Ready(Some(Err(e))) => match e.tag() {
                    Some(seq) => {
                        if let Some(i) = fl.answer(seq) {
                            let tag = fl.entries[i].tag;
                            let done = Done {
                                seq,
                                charge: fl.entries[i].charge,
                                result: Err(Error::Io { tag, source: retag(e, tag) }),
                            };
                            let _ = fl.out.try_send(done);
                        }
                    }
                    // The backend gave up on the rest of the batch (`Closed`): each request
                    // left gets its own copy of the error.
                    None => fl.fail_unanswered(|tag| Error::Io { tag, source: e.for_tag(tag) }),
                },
                Poll::Ready(None) => {
                    fl.fail_unanswered(|tag| Error::Io { tag, source: lsio_io::Error::Closed { outstanding: 1 } });
                    *guard = None;
                    return;
                }
                Poll::Pending => return,
            }
            if fl.unanswered == 0 {
                *guard = None;
                return;
            }
        }
    }

    fn dispatch_chunk(&self, fl: &mut InFlight<R>, mut chunk: Chunk) {
        let seq = chunk.tag;
        let Some(i) = fl.answer(seq) else { return };
        let entry = &mut fl.entries[i];
        if !entry.known_len {
            let actual = chunk.bytes.len() as u64;
            let budget = &self.shared.budget;
            if actual > entry.charge {
                budget.charge(actual - entry.charge);
            } else {
                budget.release(entry.charge - actual);
            }
            budget.largest.fetch_max(actual, Ordering::Relaxed);
            entry.charge = actual;
        }
        chunk.tag = entry.tag;
        let guard = ResultGuard { shared: self.shared.clone(), seq, charge: entry.charge, tag: entry.tag, sent: false };
        self.shared.registry.push(Box::new(move || guard.compute(chunk)));
    }
}

/// Sends a compute job's result; if the job is dropped unrun, sends [`Error::Cancelled`].
struct ResultGuard<F, R> {
    shared: Arc<Shared<F, R>>,
    seq: u64,
    charge: u64,
    tag: u64,
    sent: bool,
}

impl<F, R> ResultGuard<F, R>
where
    F: Fn(Chunk) -> R,
{
    fn compute(mut self, chunk: Chunk) {
        if self.shared.budget.cancelled() {
            return;
        }
        let f = &self.shared.f;
        let result = catch_unwind(AssertUnwindSafe(|| f(chunk)))
            .map_err(|payload| Error::Panicked { message: panic_message(&*payload), tag: Some(self.tag) });
        self.send(result);
    }

    fn send(&mut self, result: Result<R, Error>) {
        self.sent = true;
        let _ = self.shared.out.try_send(Done { seq: self.seq, charge: self.charge, result });
    }
}

impl<F, R> Drop for ResultGuard<F, R> {
    fn drop(&mut self) {
        if !self.sent {
            self.sent = true;
            let done =
                Done { seq: self.seq, charge: self.charge, result: Err(Error::Cancelled { tag: Some(self.tag) }) };
            let _ = self.shared.out.try_send(done);
        }
    }
}

/// Puts the caller's tag back into a backend error that carries the sequence number.
fn retag(mut e: lsio_io::Error, user_tag: u64) -> lsio_io::Error {
    use lsio_io::Error as E;
    match &mut e {
        E::NotFound { tag, .. }
        | E::PermissionDenied { tag, .. }
        | E::OutOfRange { tag, .. }
        | E::InvalidRequest { tag, .. }
        | E::Io { tag, .. }
        | E::Backend { tag, .. }
        | E::Cancelled { tag }
        | E::Unsupported { tag, .. } => {
            *tag = Some(user_tag);
            e
        }
        _ => e.for_tag(user_tag),
    }
}

/// The backend and function of a pipeline, behind one object-safe call.
trait Submit: Send {
    fn submit(&self, requests: Vec<ReadRequest>, base_seq: u64, entries: Vec<Entry>) -> Weak<dyn CancelBatch>;
}

struct Submitter<B, F, R> {
    backend: B,
    shared: Arc<Shared<F, R>>,
}

impl<B, F, R> Submit for Submitter<B, F, R>
where
    B: IoBackend + 'static,
    F: Fn(Chunk) -> R + Send + Sync + 'static,
    R: Send + 'static,
{
    fn submit(&self, requests: Vec<ReadRequest>, base_seq: u64, entries: Vec<Entry>) -> Weak<dyn CancelBatch> {
        let unanswered = entries.len();
        let batch = self.backend.read(requests);
        let poller = Arc::new(Poller {
            flag: RunFlag::new(),
            shared: self.shared.clone(),
            batch: Mutex::new(Some(InFlight { batch, base_seq, entries, unanswered, out: self.shared.out.clone() })),
        });
        // The first poll; afterwards the backend's completions wake the poller.
        poller.wake_by_ref();
        let weak: Weak<Poller<F, R>> = Arc::downgrade(&poller);
        weak
    }
}

/// Results of running a function on every chunk read for a sequence of requests: an
/// [`Iterator`] (blocking) of `Result<R, Error>`, one per request; [`Pipeline::into_stream`] gives
/// the same results as a [`futures_core::Stream`] for async code.
///
/// Made by [`ThreadPool::pipeline`]. Dropping it cancels what is in flight (the backend batches
/// are dropped, and queued compute jobs skip their work).
#[must_use = "a pipeline submits nothing until it is iterated"]
pub struct Pipeline<R> {
    // Keeps the workers alive while jobs of this pipeline may run.
    _pool: ThreadPool,
    budget: Arc<Budget>,
    rx: Pin<Box<async_channel::Receiver<Done<R>>>>,
    submitter: Box<dyn Submit>,
    requests: Box<dyn Iterator<Item = ReadRequest> + Send>,
    /// Requests pulled from `requests` and not yet submitted, with their charge and whether their
    /// length is known.
    staged: VecDeque<(ReadRequest, u64, bool)>,
    exhausted: bool,
    next_seq: u64,
    /// Ordered mode: the sequence number of `reorder[0]`.
    next_out: u64,
    /// Requests submitted and not yet handed out.
    in_flight: usize,
    /// Ordered mode: slot `k` holds the result of `next_out + k` once it arrived. Unordered: a queue.
    reorder: VecDeque<Option<Done<R>>>,
    pollers: Vec<Weak<dyn CancelBatch>>,
    prune_at: usize,
    config: PipelineConfig,
    stopped: bool,
    stats: PipelineStats,
}

impl<R> fmt::Debug for Pipeline<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline").field("config", &self.config).field("stats", &self.stats()).finish()
    }
}

impl ThreadPool {
    /// Reads every request from `backend` and runs `f` on each chunk on this pool; see
    /// [`Pipeline`]. The backend may be generic or an `Arc<dyn IoBackend>`.
    ///
    /// `f` sees the chunk with the caller's tag; errors carry it too ([`Error::tag`]).
    pub fn pipeline<B, I, F, R>(&self, backend: B, requests: I, f: F, config: PipelineConfig) -> Pipeline<R>
    where
        B: IoBackend + 'static,
        I: IntoIterator<Item = ReadRequest>,
        I::IntoIter: Send + 'static,
        F: Fn(Chunk) -> R + Send + Sync + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = async_channel::unbounded();
        let budget = Arc::new(Budget::default());
        let shared = Arc::new(Shared { f, budget: budget.clone(), out: tx, registry: self.registry().clone() });
        let config = PipelineConfig {
            reorder_window: config.reorder_window.max(1),
            batch_size: config.batch_size.max(1),
            ..config
        };
        Pipeline {
            _pool: self.clone(),
            budget,
            rx: Box::pin(rx),
            submitter: Box::new(Submitter { backend, shared }),
            requests: Box::new(requests.into_iter()),
            staged: VecDeque::new(),
            exhausted: false,
            next_seq: 0,
            next_out: 0,
            in_flight: 0,
            reorder: VecDeque::new(),
            pollers: Vec::new(),
            prune_at: 64,
            config,
            stopped: false,
            stats: PipelineStats::default(),
        }
    }
}

fn charge_of(request: &ReadRequest, unknown: u64) -> (u64, bool) {
    match &request.range {
        ByteRange::Bounded(r) => (r.end.saturating_sub(r.start), true),
        _ => (unknown, false),
    }
}

impl<R> Pipeline<R> {
    /// Counters so far.
    pub fn stats(&self) -> PipelineStats {
        PipelineStats {
            bytes_in_flight: self.budget.used.load(Ordering::Acquire),
            peak_bytes_in_flight: self.budget.peak.load(Ordering::Acquire),
            largest_charge: self.budget.largest.load(Ordering::Relaxed),
            ..self.stats
        }
    }

    /// The most bytes that were charged to the budget at once.
    pub fn peak_bytes_in_flight(&self) -> u64 {
        self.budget.peak.load(Ordering::Acquire)
    }

    /// The settings in force.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// Stops the pipeline: cancels the reads in flight, skips queued compute, and ends the results.
    pub fn cancel(&mut self) {
        if self.stopped && self.budget.cancelled() {
            return;
        }
        self.stopped = true;
        self.budget.cancelled.store(true, Ordering::Release);
        for p in self.pollers.drain(..) {
            if let Some(p) = p.upgrade() {
                p.cancel();
            }
        }
        self.rx.close();
        while let Ok(d) = self.rx.try_recv() {
            self.budget.release(d.charge);
        }
        for d in self.reorder.drain(..).flatten() {
            self.budget.release(d.charge);
        }
        self.staged.clear();
    }

    /// Submits as many batches as the budget and the window allow.
    fn top_up(&mut self) {
        if self.stopped {
            return;
        }
        let limit = self.config.bytes_in_flight;
        loop {
            while self.staged.len() < self.config.batch_size && !self.exhausted {
                match self.requests.next() {
                    Some(r) => {
                        let (charge, known) = charge_of(&r, self.config.unknown_len_charge);
                        self.staged.push_back((r, charge, known));
                    }
                    None => self.exhausted = true,
                }
            }
            if self.staged.is_empty() {
                return;
            }
            let room = self.config.reorder_window.saturating_sub(self.in_flight);
            let used = self.budget.used.load(Ordering::Acquire);
            let (mut n, mut bytes) = (0usize, 0u64);
            for (_, charge, _) in &self.staged {
                if n == room {
                    break;
                }
                let before = used + bytes;
                if before > 0 && before.saturating_add(*charge) > limit {
                    break;
                }
                n += 1;
                bytes += charge;
            }
            if n == 0 {
                return;
            }
            let full = n == self.staged.len() && (n == self.config.batch_size || self.exhausted);
            if !full && self.in_flight > 0 && used > limit / 2 {
                // Enough in flight: wait for room for a fuller batch.
                return;
            }
            self.submit(n, bytes);
        }
    }

    fn submit(&mut self, n: usize, bytes: u64) {
        let base_seq = self.next_seq;
        let mut requests = Vec::with_capacity(n);
        let mut entries = Vec::with_capacity(n);
        let mut largest = 0;
        for (i, (mut r, charge, known_len)) in self.staged.drain(..n).enumerate() {
            entries.push(Entry { tag: r.tag, charge, known_len, answered: false });
            largest = largest.max(charge);
            r.tag = base_seq + i as u64;
            requests.push(r);
        }
        self.budget.charge(bytes);
        self.budget.largest.fetch_max(largest, Ordering::Relaxed);
        self.next_seq += n as u64;
        self.in_flight += n;
        self.stats.requests_submitted += n as u64;
        self.stats.batches_submitted += 1;
        let weak = self.submitter.submit(requests, base_seq, entries);
        self.pollers.push(weak);
        if self.pollers.len() >= self.prune_at {
            self.pollers.retain(|w| w.strong_count() > 0);
            self.prune_at = (self.pollers.len() * 2).max(64);
        }
    }

    /// Files an arrived result.
    fn accept(&mut self, d: Done<R>) {
        if self.config.ordered {
            let k = (d.seq - self.next_out) as usize;
            if self.reorder.len() <= k {
                self.reorder.resize_with(k + 1, || None);
            }
            self.reorder[k] = Some(d);
        } else {
            self.reorder.push_back(Some(d));
        }
    }

    /// The next result that may be handed out, if it has arrived.
    fn take_ready(&mut self) -> Option<Done<R>> {
        match self.reorder.front() {
            Some(Some(_)) => {
                self.next_out += 1;
                self.reorder.pop_front().flatten()
            }
            _ => None,
        }
    }

    fn hand_out(&mut self, d: Done<R>) -> Result<R, Error> {
        self.budget.release(d.charge);
        self.in_flight -= 1;
        self.stats.results += 1;
        if d.result.is_err() {
            self.stats.errors += 1;
            if self.config.stop_on_error {
                self.cancel();
            }
        }
        // Top up before the consumer works on this result, so that reads proceed meanwhile.
        self.top_up();
        d.result
    }

    /// One step of `next`/`poll_next` that needs no waiting: a ready result, the end, or neither.
    fn step(&mut self) -> Option<Option<Result<R, Error>>> {
        if self.stopped {
            return Some(None);
        }
        if let Some(d) = self.take_ready() {
            return Some(Some(self.hand_out(d)));
        }
        self.top_up();
        if self.in_flight == 0 {
            self.stopped = true;
            return Some(None);
        }
        None
    }
}

impl<R> Pipeline<R> {
    /// Waits for the next result on a worker of the pipeline's own pool: blocking there could
    /// starve the very jobs that produce the result (on a one-thread pool, forever), so the worker
    /// runs them, and naps briefly when there are none (results come from backend threads then).
    fn recv_on_worker(&mut self, worker: &WorkerThread) -> Option<Done<R>> {
        loop {
            match self.rx.try_recv() {
                Ok(d) => return Some(d),
                Err(async_channel::TryRecvError::Empty) => {
                    if !worker.run_one() {
                        std::thread::sleep(std::time::Duration::from_micros(50));
                    }
                }
                Err(async_channel::TryRecvError::Closed) => return None,
            }
        }
    }
}

impl<R> Iterator for Pipeline<R> {
    type Item = Result<R, Error>;

    fn next(&mut self) -> Option<Result<R, Error>> {
        let worker = WorkerThread::current().filter(|w| Arc::ptr_eq(w.registry(), self._pool.registry()));
        loop {
            if let Some(out) = self.step() {
                return out;
            }
            let received = match &worker {
                Some(w) => self.recv_on_worker(w),
                None => self.rx.recv_blocking().ok(),
            };
            match received {
                Some(d) => self.accept(d),
                // Every sender is gone with results outstanding: cannot happen while we hold the
                // pool, but never hang on it.
                None => {
                    self.cancel();
                    return None;
                }
            }
        }
    }
}

/// A [`Pipeline`] as a [`futures_core::Stream`] of `Result<R, Error>`, for async code (made by
/// [`Pipeline::into_stream`]). It is `Send`, and `next().await` never blocks the executor's thread
/// waiting for a result.
#[must_use = "a stream submits nothing until it is polled"]
pub struct PipelineStream<R> {
    pipeline: Pipeline<R>,
}

impl<R> fmt::Debug for PipelineStream<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PipelineStream").field(&self.pipeline).finish()
    }
}

impl<R> Pipeline<R> {
    /// The same results as a `Stream` (a separate type, so that `StreamExt::next` and
    /// `Iterator::next` never collide).
    pub fn into_stream(self) -> PipelineStream<R> {
        PipelineStream { pipeline: self }
    }
}

impl<R> PipelineStream<R> {
    /// Counters so far; see [`Pipeline::stats`].
    pub fn stats(&self) -> PipelineStats {
        self.pipeline.stats()
    }

    /// See [`Pipeline::cancel`].
    pub fn cancel(&mut self) {
        self.pipeline.cancel();
    }

    /// The blocking iterator again.
    pub fn into_pipeline(self) -> Pipeline<R> {
        self.pipeline
    }
}

impl<R> Stream for PipelineStream<R> {
    type Item = Result<R, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<R, Error>>> {
        let this = &mut self.get_mut().pipeline;
        loop {
            if let Some(out) = this.step() {
                return Poll::Ready(out);
            }
            match this.rx.as_mut().poll_next(cx) {
                Poll::Ready(Some(d)) => this.accept(d),
                Poll::Ready(None) => {
                    this.cancel();
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

// No field is ever pinned in place (the receiver is boxed), whatever `R` is.
impl<R> Unpin for Pipeline<R> {}

impl<R> Drop for Pipeline<R> {
    fn drop(&mut self) {
        self.cancel();
    }
}
