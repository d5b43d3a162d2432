//! Scoped tasks, which may borrow from the caller's stack, and `join`.
//!
//! [`ThreadPool::scope`] does not return before every task spawned in the scope has finished (or
//! was dropped unrun), even when the scope's body or a task panics: that is what makes borrowing
//! sound. Panics are caught and come back as [`Error::Panicked`].

use std::fmt;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use crate::error::{Error, panic_message};
use crate::latch::Latch;
use crate::pool::{Job, Registry, ThreadPool, WorkerThread, push_local};

/// The handle given to a scope's body and to each of its tasks, to spawn more tasks.
pub struct Scope<'scope> {
    state: Arc<ScopeState>,
    /// The address of `state.registry`: spawning from one of its workers then never reads the
    /// shared state, whose cache line the other workers keep taking (they count completions).
    registry: usize,
    /// Invariant in `'scope`, like rayon's and std's scopes.
    _marker: PhantomData<&'scope mut &'scope ()>,
}

/// What a scope's body and tasks share. Its reference count *is* the scope's count of unfinished
/// work: the body holds one reference and each task one more, dropped only after the task's
/// closure is gone. When the last one goes, `Drop` sets `done`, which the owner waits for. One
/// atomic increment per spawn and one decrement per completion, like rayon's counter, without a
/// second counter and without `unsafe` lifetime tricks for the state itself.
struct ScopeState {
    registry: Arc<Registry>,
    /// Set when the last reference is dropped, with the panics that happened.
    done: Arc<Latch<Outcome>>,
    first_panic: Mutex<Option<String>>,
    panics: std::sync::atomic::AtomicUsize,
}

#[derive(Default)]
struct Outcome {
    first_panic: Option<String>,
    panics: usize,
}

impl ScopeState {
    fn record_panic(&self, message: String) {
        self.panics.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut first = self.first_panic.lock().unwrap_or_else(|p| p.into_inner());
        first.get_or_insert(message);
    }
}

impl Drop for ScopeState {
    fn drop(&mut self) {
        let first_panic = self.first_panic.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        let panics = *self.panics.get_mut();
        self.done.set_with(|o| *o = Outcome { first_panic, panics });
    }
}

impl fmt::Debug for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope").field("done", &self.state.done).finish()
    }
}

impl<'scope> Scope<'scope> {
    /// Spawns a task that may borrow anything that outlives the scope. It gets the scope again,
    /// to spawn more tasks. A panic in it makes the whole [`ThreadPool::scope`] call return
    /// [`Error::Panicked`] (after every other task has finished).
    pub fn spawn<F>(&self, f: F)
    where
        F: FnOnce(&Scope<'scope>) + Send + 'scope,
    {
        let scope = Scope { state: self.state.clone(), registry: self.registry, _marker: PhantomData };
        let job = ScopeJob { f: Some(f), scope };
        let job: Box<dyn FnOnce() + Send + 'scope> = Box::new(move || job.run());
        // SAFETY: only the lifetime bound of the trait object changes (same layout). The job may
        // borrow data that lives for `'scope`, a lifetime that outlasts the `ThreadPool::scope`
        // call, and that call does not return until every reference to the scope's state is
        // gone. `ScopeJob` drops its reference only after `f` has been called (and so consumed)
        // or dropped unrun, so no borrow held by the job is used after the scope returns, whether
        // the job runs, panics or is dropped from a queue.
        let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + 'scope>, Job>(job) };
        if let Err(job) = push_local(self.registry, job) {
            self.state.registry.inject(job);
        }
    }
}

/// A scoped task. Whatever happens to it — run, panicked, dropped unrun — its reference to the
/// scope's state is dropped exactly once, and only after its closure is gone.
struct ScopeJob<'scope, F> {
    f: Option<F>,
    scope: Scope<'scope>,
}

impl<'scope, F: FnOnce(&Scope<'scope>)> ScopeJob<'scope, F> {
    fn run(mut self) {
        if let Some(f) = self.f.take() {
            let scope = &self.scope;
            if let Err(payload) = catch_unwind(AssertUnwindSafe(move || f(scope))) {
                self.scope.state.record_panic(panic_message(&*payload));
            }
        }
        // `self` drops here, and with it the reference to the scope's state.
    }
}

impl<F> Drop for ScopeJob<'_, F> {
    fn drop(&mut self) {
        if let Some(f) = self.f.take() {
            // Never ran (its pool is shutting down): free what it captured first.
            drop(f);
            self.scope.state.record_panic("scoped task was dropped before it ran".to_owned());
        }
        // The `scope` field (the reference to the state) is dropped after this, so after `f`.
    }
}

impl ThreadPool {
    /// Runs `op` with a [`Scope`] in which it may spawn tasks that borrow from the caller; returns
    /// once every task has finished. `Err(Error::Panicked)` (the first panic's message) if `op` or
    /// any task panicked.
    ///
    /// Called on a worker thread (of any pool), `op` runs right there and the worker runs other
    /// jobs while it waits for the tasks. Called from any other thread, `op` runs on a worker of
    /// this pool (as with [`ThreadPool::install`]), so that its spawns go to that worker's deque
    /// rather than through the shared injector, and the caller blocks.
    pub fn scope<'scope, OP, R>(&self, op: OP) -> Result<R, Error>
    where
        OP: FnOnce(&Scope<'scope>) -> R + Send,
        R: Send,
    {
        if WorkerThread::current().is_some() {
            self.scope_here(op)
        } else {
            self.install(|| self.scope_here(op)).and_then(|r| r)
        }
    }

    fn scope_here<'scope, OP, R>(&self, op: OP) -> Result<R, Error>
    where
        OP: FnOnce(&Scope<'scope>) -> R,
    {
        let done = Arc::new(Latch::with_value(Outcome::default()));
        let worker = WorkerThread::current();
        if let Some(w) = &worker {
            // Registered before anything can complete, so the last task knows whom to wake.
            let _ = done.register_worker(w.registry().sleep.clone(), w.index());
        }
        let state = Arc::new(ScopeState {
            registry: self.registry().clone(),
            done: done.clone(),
            first_panic: Mutex::new(None),
            panics: std::sync::atomic::AtomicUsize::new(0),
        });
        let scope = Scope { state, registry: self.registry().addr(), _marker: PhantomData };
        let result = catch_unwind(AssertUnwindSafe(|| op(&scope)));
        // The body's reference: the state goes (and sets `done`) once the tasks' are gone too.
        drop(scope);
        match &worker {
            Some(w) => w.wait_until(&*done),
            None => done.wait_blocking(),
        }
        let Outcome { first_panic, panics } = done.with_value_locked(std::mem::take);
        match result {
            Err(payload) => Err(Error::Panicked { message: panic_message(&*payload), tag: None }),
            Ok(_) if first_panic.is_some() => {
                let message = first_panic.unwrap_or_default();
                let message = if panics > 1 { format!("{message} (and {} more panics)", panics - 1) } else { message };
                Err(Error::Panicked { message, tag: None })
            }
            Ok(r) => Ok(r),
        }
    }

    /// Runs `a` and `b`, potentially in parallel, and returns both results;
    /// `Err(Error::Panicked)` if either panicked. `a` runs on the current thread if it is a worker
    /// (else on a worker of this pool); `b` is offered to the other workers and run by this one if
    /// nobody took it meanwhile.
    pub fn join<A, B, RA, RB>(&self, a: A, b: B) -> Result<(RA, RB), Error>
    where
        A: FnOnce() -> RA + Send,
        B: FnOnce() -> RB + Send,
        RA: Send,
        RB: Send,
    {
        let mut rb = None;
        let ra = self.scope(|s| {
            s.spawn(|_| rb = Some(b()));
            a()
        })?;
        match rb {
            Some(rb) => Ok((ra, rb)),
            None => Err(Error::Cancelled { tag: None }),
        }
    }
}
