//! The work-stealing thread pool: a global `Injector`, one `Worker` deque per thread, `Stealer`s
//! for the others, idle workers asleep on a condition variable (see [`crate::sleep`]).
//!
//! A job pushed from a worker of the pool goes to that worker's own deque (LIFO for itself, stolen
//! FIFO by the others); a job pushed from any other thread goes to the injector. A worker looks
//! for work in its deque, then steals from the other workers, then takes a batch from the
//! injector; finding none, it spins briefly (a few µs, bounded) and then sleeps.

use std::cell::RefCell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_deque::{Injector, Steal, Stealer, Worker};

use crate::error::{Error, panic_message};
use crate::latch::Latch;
use crate::sleep::Sleep;

/// A unit of work on the deques: a boxed closure, two words like rayon's `JobRef`, so that deque
/// slots stay small. Jobs catch their own panics; one that escapes is counted.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// What a worker found to do: a job from a deque or the injector, or a spawned task.
enum Work {
    Job(Job),
    Task(TaskJob),
}

impl Work {
    fn run(self) {
        match self {
            Work::Job(job) => job(),
            Work::Task(task) => task.run(),
        }
    }
}

/// Rounds of the bounded spin before a worker sleeps: the first rounds pause the CPU for 1, 2, 4 …
/// iterations, the others yield the thread (as rayon does), a few tens of microseconds in all.
/// Staying awake that long spares producers of bursty work most wake-up system calls.
const SPIN_ROUNDS: u32 = 32;
const PAUSE_ROUNDS: u32 = 6;

/// Settings of a [`ThreadPool`].
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Worker threads; `0` means one per available core.
    pub threads: usize,
    /// Thread names are `{name}-{index}`.
    pub name: String,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig { threads: 0, name: "lsio-worker".to_owned() }
    }
}

/// What the pool's threads share.
pub(crate) struct Registry {
    name: String,
    injector: Injector<Job>,
    /// Tasks started with [`ThreadPool::spawn`], from any thread: each is one allocation shared
    /// with its handle, which a boxed closure on the deques could not be.
    tasks: Injector<TaskJob>,
    stealers: Box<[Stealer<Job>]>,
    pub(crate) sleep: crate::loom::Arc<Sleep>,
    terminate: AtomicBool,
    live_workers: AtomicUsize,
    escaped_panics: AtomicU64,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("name", &self.name)
            .field("threads", &self.stealers.len())
            .field("sleeping", &self.sleep.sleepers())
            .finish()
    }
}

thread_local! {
    /// The worker running on this thread, if it is a pool thread.
    static CURRENT: RefCell<Option<Rc<WorkerThread>>> = const { RefCell::new(None) };
}

/// The state a worker thread keeps for itself: its deque is `!Sync`, so it never leaves the thread.
pub(crate) struct WorkerThread {
    index: usize,
    registry: Arc<Registry>,
    deque: Worker<Job>,
    /// Where the next steal attempt starts, rotating so that victims are spread.
    next_victim: std::cell::Cell<usize>,
}

impl Registry {
    /// Makes `job` runnable and wakes a sleeping worker if there is one.
    #[inline]
    pub(crate) fn push(self: &Arc<Self>, job: Job) {
        if let Err(job) = push_local(self.addr(), job) {
            self.inject(job);
        }
    }

    /// The registry's address, to recognise it without touching it.
    pub(crate) fn addr(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as usize
    }

    /// Pushes `job` onto the injector (from a thread that is not one of this pool's workers).
    pub(crate) fn inject(&self, job: Job) {
        self.injector.push(job);
        // `notify_one` starts with a SeqCst fence, which also orders the push before the load of
        // `live_workers`: the last worker to exit drains the injector after its own fence, so a job
        // injected into a pool with no threads left is dropped (its drop guard reports it
        // cancelled) rather than kept forever.
        self.sleep.notify_one();
        if self.live_workers.load(Ordering::Relaxed) == 0 {
            self.drain_injector();
        }
    }

    /// Queues a spawned task (from any thread) and wakes a sleeping worker if there is one.
    fn push_task(&self, task: TaskJob) {
        self.tasks.push(task);
        // See `inject` for the fence in `notify_one` and the drain.
        self.sleep.notify_one();
        if self.live_workers.load(Ordering::Relaxed) == 0 {
            self.drain_injector();
        }
    }

    /// Whether any queue holds a job (a snapshot).
    fn has_work(&self) -> bool {
        !self.injector.is_empty() || !self.tasks.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }

    fn terminating(&self) -> bool {
        self.terminate.load(Ordering::Acquire)
    }

    fn drain_injector(&self) {
        loop {
            match self.injector.steal() {
                Steal::Success(job) => drop(job),
                Steal::Retry => continue,
                Steal::Empty => break,
            }
        }
        loop {
            match self.tasks.steal() {
                Steal::Success(task) => drop(task),
                Steal::Retry => continue,
                Steal::Empty => break,
            }
        }
    }
}

/// Pushes `job` onto the current thread's deque if it is a worker of the registry at address
/// `registry`, and announces it; otherwise gives the job back.
///
/// The announcement (a `SeqCst` fence and a look for sleepers) is made only when the deque was
/// empty or sleepers are seen. Skipping it loses no work: the deque's owner is awake (it is
/// pushing) and empties its own deque before it ever sleeps, and the push that made the deque
/// non-empty did announce, so a woken worker comes to steal, and wakes the next one while
/// there is more (see `WorkerThread::find_work`).
#[inline]
pub(crate) fn push_local(registry: usize, job: Job) -> Result<(), Job> {
    CURRENT.with(|c| match &*c.borrow() {
        Some(w) if Arc::as_ptr(&w.registry) as usize == registry => {
            let was_empty = w.deque.is_empty();
            w.deque.push(job);
            if was_empty || w.registry.sleep.sleepers() > 0 {
                w.registry.sleep.notify_one();
            }
            Ok(())
        }
        _ => Err(job),
    })
}

impl WorkerThread {
    /// The worker of any pool running on this thread.
    pub(crate) fn current() -> Option<Rc<WorkerThread>> {
        CURRENT.with(|c| c.borrow().clone())
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }

    pub(crate) fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    fn find_work(&self) -> Option<Work> {
        if let Some(job) = self.deque.pop() {
            return Some(Work::Job(job));
        }
        let registry = &*self.registry;
        let n = registry.stealers.len();
        loop {
            let mut retry = false;
            let start = self.next_victim.get();
            for k in 0..n {
                let victim = (start + k) % n;
                if victim == self.index {
                    continue;
                }
                match registry.stealers[victim].steal() {
                    Steal::Success(job) => {
                        self.next_victim.set(victim);
                        // More where this came from and workers asleep: wake the next thief.
                        if registry.sleep.sleepers() > 0 && !registry.stealers[victim].is_empty() {
                            registry.sleep.notify_one();
                        }
                        return Some(Work::Job(job));
                    }
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            match registry.injector.steal_batch_and_pop(&self.deque) {
                Steal::Success(job) => return Some(Work::Job(job)),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
            match registry.tasks.steal() {
                Steal::Success(task) => return Some(Work::Task(task)),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
            if !retry {
                self.next_victim.set((start + 1) % n);
                return None;
            }
        }
    }

    /// A short, bounded spin looking for work; gives up early once `done()`.
    fn spin(&self, done: impl Fn() -> bool) -> Option<Work> {
        for round in 0..SPIN_ROUNDS {
            if round < PAUSE_ROUNDS {
                for _ in 0..1u32 << round {
                    std::hint::spin_loop();
                }
            } else {
                std::thread::yield_now();
            }
            if done() {
                return None;
            }
            if let Some(job) = self.find_work() {
                return Some(job);
            }
        }
        None
    }

    #[inline]
    fn execute(&self, work: Work) {
        if catch_unwind(AssertUnwindSafe(|| work.run())).is_err() {
            self.registry.escaped_panics.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Runs one job if there is one (for a worker waiting on something that is not a latch).
    pub(crate) fn run_one(&self) -> bool {
        match self.find_work() {
            Some(work) => {
                self.execute(work);
                true
            }
            None => false,
        }
    }

    /// Runs other jobs until `latch` is set, sleeping when there are none. The caller registered
    /// this worker as the latch's waiter (or the latch was set already).
    pub(crate) fn wait_until<V>(&self, latch: &Latch<V>) {
        let registry = &*self.registry;
        while !latch.probe() {
            if let Some(job) = self.find_work().or_else(|| self.spin(|| latch.probe())) {
                self.execute(job);
                continue;
            }
            if latch.probe() {
                break;
            }
            registry.sleep.sleep(self.index, || latch.probe() || registry.has_work());
        }
    }

    fn main_loop(&self) {
        let registry = &*self.registry;
        loop {
            if let Some(job) = self.find_work().or_else(|| self.spin(|| false)) {
                self.execute(job);
                continue;
            }
            if registry.terminating() {
                break;
            }
            registry.sleep.sleep(self.index, || registry.terminating() || registry.has_work());
        }
    }
}

/// A work-stealing thread pool. Cheap to clone (all clones share the threads); the threads stop
/// when the last clone is dropped, after running every job already queued.
///
/// ```
/// use lsio_scheduler::{PoolConfig, ThreadPool};
///
/// let pool = ThreadPool::new(PoolConfig { threads: 2, ..Default::default() }).unwrap();
/// let task = pool.spawn(|| 6 * 7);
/// assert_eq!(task.join().unwrap(), 42);
///
/// // Scoped tasks may borrow from the caller's stack.
/// let mut parts = vec![0u64; 4];
/// pool.scope(|s| {
///     for (i, p) in parts.iter_mut().enumerate() {
///         s.spawn(move |_| *p = (i as u64 + 1) * 10);
///     }
/// })
/// .unwrap();
/// assert_eq!(parts, [10, 20, 30, 40]);
///
/// let (a, b) = pool.join(|| 1 + 1, || 2 + 2).unwrap();
/// assert_eq!((a, b), (2, 4));
/// ```
#[derive(Clone)]
pub struct ThreadPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    registry: Arc<Registry>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("name", &self.inner.registry.name)
            .field("threads", &self.threads())
            .field("sleeping", &self.inner.registry.sleep.sleepers())
            .finish()
    }
}

impl ThreadPool {
    /// Starts a pool.
    pub fn new(config: PoolConfig) -> Result<Self, Error> {
        let threads = if config.threads == 0 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        } else {
            config.threads
        };
        let deques: Vec<Worker<Job>> = (0..threads).map(|_| Worker::new_lifo()).collect();
        let registry = Arc::new(Registry {
            name: config.name.clone(),
            injector: Injector::new(),
            tasks: Injector::new(),
            stealers: deques.iter().map(Worker::stealer).collect(),
            sleep: crate::loom::Arc::new(Sleep::new(threads)),
            terminate: AtomicBool::new(false),
            live_workers: AtomicUsize::new(threads),
            escaped_panics: AtomicU64::new(0),
        });
        let inner =
            Arc::new(PoolInner { registry: registry.clone(), threads: Mutex::new(Vec::with_capacity(threads)) });
        for (index, deque) in deques.into_iter().enumerate() {
            let worker_registry = registry.clone();
            let spawned = std::thread::Builder::new().name(format!("{}-{index}", config.name)).spawn(move || {
                let worker = Rc::new(WorkerThread {
                    index,
                    registry: worker_registry,
                    deque,
                    next_victim: std::cell::Cell::new(index),
                });
                CURRENT.with(|c| *c.borrow_mut() = Some(worker.clone()));
                worker.main_loop();
                CURRENT.with(|c| *c.borrow_mut() = None);
                let registry = worker.registry.clone();
                drop(worker);
                if registry.live_workers.fetch_sub(1, Ordering::SeqCst) == 1 {
                    std::sync::atomic::fence(Ordering::SeqCst);
                    registry.drain_injector();
                }
            });
            match spawned {
                Ok(handle) => inner.threads.lock().unwrap_or_else(|p| p.into_inner()).push(handle),
                Err(source) => {
                    // The threads never started count as exited; dropping `inner` stops the others.
                    let missing = threads - index;
                    registry.live_workers.fetch_sub(missing, Ordering::SeqCst);
                    drop(inner);
                    return Err(Error::ThreadSpawn { pool: config.name, index, source });
                }
            }
        }
        Ok(ThreadPool { inner })
    }

    /// A pool of `threads` threads (`0`: one per core) with the default name.
    pub fn with_threads(threads: usize) -> Result<Self, Error> {
        Self::new(PoolConfig { threads, ..Default::default() })
    }

    pub(crate) fn registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }

    /// The number of worker threads.
    pub fn threads(&self) -> usize {
        self.inner.registry.stealers.len()
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.inner.registry.name
    }

    /// Worker threads asleep now (a snapshot; mostly for tests and monitoring).
    pub fn sleeping_threads(&self) -> usize {
        self.inner.registry.sleep.sleepers()
    }

    /// The index of the current thread in this pool, if it is one of the pool's workers.
    pub fn current_thread_index(&self) -> Option<usize> {
        WorkerThread::current().filter(|w| Arc::ptr_eq(&w.registry, &self.inner.registry)).map(|w| w.index)
    }

    /// Runs `f` on the pool. The returned handle gives its result, or [`Error::Panicked`] if it
    /// panicked (the pool itself is unaffected); dropping the handle detaches the task.
    pub fn spawn<F, T>(&self, f: F) -> TaskHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let task = Arc::new(SpawnTask { latch: Latch::with_value(Stage::Pending(f)) });
        self.inner.registry.push_task(TaskJob(Some(task.clone())));
        TaskHandle { task }
    }
}

impl ThreadPool {
    /// Runs `op` on a worker of this pool and returns its result (`Err(Error::Panicked)` if it
    /// panicked); runs it right here if the caller already is one of this pool's workers. `op` may
    /// borrow from the caller, who waits for it (a worker of another pool runs its own pool's
    /// jobs meanwhile). Everything `op` spawns goes to that worker's own deque.
    pub fn install<OP, R>(&self, op: OP) -> Result<R, Error>
    where
        OP: FnOnce() -> R + Send,
        R: Send,
    {
        let current = WorkerThread::current();
        if current.as_ref().is_some_and(|w| Arc::ptr_eq(&w.registry, &self.inner.registry)) {
            return catch_unwind(AssertUnwindSafe(op))
                .map_err(|payload| Error::Panicked { message: panic_message(&*payload), tag: None });
        }
        let latch = Arc::new(Latch::new());
        let mut out = None;
        let job = StackJob { f: Some(op), out: &mut out, latch: latch.clone() };
        let job: Box<dyn FnOnce() + Send + '_> = Box::new(move || job.run());
        // SAFETY: only the lifetime bound of the trait object changes (same layout). The job
        // borrows `op`'s captures and `out` from this frame; this function does not return before
        // the latch is set, and `StackJob` sets it only after `op` was called (so consumed) or
        // dropped unrun and `out` was written for the last time. The latch itself is shared
        // through an `Arc`, so setting it never touches this frame.
        let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Job>(job) };
        self.inner.registry.push(job);
        wait_for(&latch);
        out.unwrap_or(Err(Error::Cancelled { tag: None }))
    }
}

/// Waits for `latch`: a worker (of any pool) runs other jobs meanwhile, any other thread blocks.
fn wait_for<V>(latch: &Latch<V>) {
    if latch.probe() {
        return;
    }
    match WorkerThread::current() {
        Some(w) => {
            if latch.register_worker(w.registry.sleep.clone(), w.index) {
                w.wait_until(latch);
            }
        }
        None => latch.wait_blocking(),
    }
}

/// A job that borrows from the stack of a thread waiting for it (see [`ThreadPool::install`]).
struct StackJob<'a, F, R> {
    f: Option<F>,
    out: &'a mut Option<Result<R, Error>>,
    latch: Arc<Latch>,
}

impl<F: FnOnce() -> R, R> StackJob<'_, F, R> {
    fn run(mut self) {
        if let Some(f) = self.f.take() {
            *self.out = Some(
                catch_unwind(AssertUnwindSafe(f))
                    .map_err(|payload| Error::Panicked { message: panic_message(&*payload), tag: None }),
            );
        }
        // `self` drops here and sets the latch.
    }
}

impl<F, R> Drop for StackJob<'_, F, R> {
    fn drop(&mut self) {
        if let Some(f) = self.f.take() {
            drop(f);
            *self.out = Some(Err(Error::Cancelled { tag: None }));
        }
        self.latch.set();
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        self.registry.terminate.store(true, Ordering::Release);
        self.registry.sleep.wake_all();
        let me = std::thread::current().id();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for t in threads {
            // A task may hold the last clone of the pool; its own thread exits after the task.
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
    }
}

/// A spawned task: its closure, then its result, kept in the latch its joiner waits on (one
/// allocation, one lock per step).
struct SpawnTask<F, T> {
    latch: Latch<Stage<F, T>>,
}

enum Stage<F, T> {
    Pending(F),
    Running,
    /// The error is boxed to keep the task small (errors are rare; the allocation is shared
    /// between the threads that spawn, run and join).
    Done(Result<T, Box<Error>>),
    Taken,
}

/// The queue's view of a spawned task.
trait RunTask: Send + Sync {
    fn run(self: Arc<Self>);
    /// The job was dropped unrun (its pool shut down): the result is [`Error::Cancelled`].
    fn cancel(&self);
}

/// The handle's view of a spawned task.
trait TaskOutput<T>: Send + Sync {
    fn is_finished(&self) -> bool;
    fn wait(&self);
    fn take(&self) -> Option<Result<T, Error>>;
}

impl<F, T> SpawnTask<F, T> {
    fn take_stage(&self, next: Stage<F, T>) -> Stage<F, T> {
        self.latch.with_value_locked(|s| std::mem::replace(s, next))
    }
}

impl<F, T> RunTask for SpawnTask<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn run(self: Arc<Self>) {
        let mut this = self;
        if let Some(task) = Arc::get_mut(&mut this) {
            // The handle is gone (detached): nobody will look at the result, and nobody else can
            // touch the task, so no lock and no latch.
            if let Stage::Pending(f) = std::mem::replace(task.latch.value_mut(), Stage::Running) {
                let _ = catch_unwind(AssertUnwindSafe(f));
            }
            return;
        }
        let Stage::Pending(f) = this.take_stage(Stage::Running) else { return };
        let result = catch_unwind(AssertUnwindSafe(f))
            .map_err(|payload| Box::new(Error::Panicked { message: panic_message(&*payload), tag: None }));
        this.latch.set_with(|s| *s = Stage::Done(result));
    }

    fn cancel(&self) {
        if let Stage::Pending(f) = self.take_stage(Stage::Running) {
            drop(f);
            self.latch.set_with(|s| *s = Stage::Done(Err(Box::new(Error::Cancelled { tag: None }))));
        }
    }
}

impl<F, T> TaskOutput<T> for SpawnTask<F, T>
where
    F: Send,
    T: Send,
{
    fn is_finished(&self) -> bool {
        self.latch.probe()
    }

    fn wait(&self) {
        wait_for(&self.latch);
    }

    fn take(&self) -> Option<Result<T, Error>> {
        match self.take_stage(Stage::Taken) {
            Stage::Done(result) => Some(result.map_err(|e| *e)),
            _ => None,
        }
    }
}

/// A spawned task in a queue; dropped unrun, it cancels the task so that its joiner never waits
/// forever.
pub(crate) struct TaskJob(Option<Arc<dyn RunTask>>);

impl TaskJob {
    fn run(mut self) {
        if let Some(task) = self.0.take() {
            task.run();
        }
    }
}

impl Drop for TaskJob {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.cancel();
        }
    }
}

/// The result of a task started with [`ThreadPool::spawn`]. Dropping it detaches the task.
#[must_use = "dropping a TaskHandle detaches the task: its result, and its panic if any, are lost"]
pub struct TaskHandle<T> {
    task: Arc<dyn TaskOutput<T>>,
}

impl<T> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle").field("finished", &self.is_finished()).finish()
    }
}

impl<T> TaskHandle<T> {
    /// Whether the task has finished (or was cancelled).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Waits for the task and returns its result: [`Error::Panicked`] if it panicked,
    /// [`Error::Cancelled`] if its pool shut down before it ran. Called on a pool thread, it runs
    /// other jobs while it waits instead of blocking the thread.
    pub fn join(self) -> Result<T, Error> {
        self.task.wait();
        self.task.take().unwrap_or(Err(Error::Cancelled { tag: None }))
    }
}
