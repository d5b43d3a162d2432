//! The ring threads: each owns one `io_uring` and runs an event loop that turns commands into
//! SQEs, submits them in batches (one `io_uring_enter` per loop turn), and turns CQEs back into
//! results.
//!
//! Every piece of memory the kernel reads or writes for an operation — read buffers, iovecs and
//! the buffers they point into, `statx` buffers, path strings — is owned by the ring thread's
//! tables (`ops`, `reads`, `writes`, `setups`, `probes`) from before the SQE is pushed until its
//! CQE is reaped, and lives on the heap, so moving the table entries never moves it. Dropping a
//! batch or the backend never frees it early: the thread keeps reaping until nothing is in
//! flight, and if it cannot (a panic, a broken ring), it leaks that memory rather than free it.

use std::collections::VecDeque;
use std::ffi::CString;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use crossbeam_channel::{Receiver, Sender};
use io_uring::types::{DestinationSlot, FsyncFlags};
use io_uring::{IoUring, opcode, squeue, types};
use lsio_aligned::{AlignedBytes, AlignedBytesMut, BufferPool, PoolConfig};
pub(crate) use lsio_io::group_by_location;
use lsio_io::{Chunk, CompletionSender, Error, Location, ReadRequest, WriteDone, WriteOp, WriteRequest, copy_io, plan};

use crate::config::UringConfig;
use crate::file::{
    FileHandle, Target, close_now, closes_pending, install_close_sink, remove_close_sink, take_pending_closes,
};
use crate::fixed::FixedBuffers;
use crate::probe::classify_setup_error;
use crate::read::{
    ChargeSplit, Piece, PieceEnd, PieceStep, ReadBatchShared, ReadJob, member_result, outcome, split_pieces,
};
use crate::slab::Slab;
use crate::stats::{Counters, bump};
use crate::statx::{STATX_MASK, StatInfo};
use crate::write::{Phase, VecWrite, WriteFile};

/// A file's reads are shared between the rings when its batch has at least this many planned reads.
pub(crate) const SHARE_MIN_JOBS: usize = 8;

/// Longest single read operation (Linux transfers at most about 2 GiB per call anyway).
const MAX_PIECE: u64 = 1 << 30;

/// Slots of each ring's registered-file table (capped by `RLIMIT_NOFILE`).
const FIXED_FILES: u32 = 1024;

/// Read buffers up to this size come from the ring's [`BufferPool`] (powers of two from 4 KiB):
/// buffers are allocated by the ring and freed by the consumer, and recycling them avoids the
/// allocator's cross-thread frees (measured in the README).
const POOLED_MAX: usize = 4 << 20;
/// Idle bytes each ring's read-buffer pool may keep.
const POOL_IDLE_BYTES: usize = 32 << 20;

/// The read-buffer pool of one ring.
fn read_pool(alignment: usize) -> BufferPool {
    let config = PoolConfig {
        alignment,
        size_classes: (12..=POOLED_MAX.trailing_zeros()).map(|s| 1usize << s).collect(),
        max_bytes: POOL_IDLE_BYTES,
    };
    BufferPool::new(config).unwrap_or_default()
}

/// Bytes a read of `len` bytes allocates: a pool size class, or `len` itself when too large.
fn alloc_len(len: u64) -> u64 {
    if len <= POOLED_MAX as u64 { len.next_power_of_two().max(4096) } else { len }
}

/// What a ring thread is asked to do.
pub(crate) enum Cmd {
    /// Open a file, plan its reads and serve them (sharing them with other rings if many).
    Read { batch: Arc<ReadBatchShared>, location: Location, reqs: Vec<ReadRequest> },
    /// This ring has (new, or un-parked) jobs in `batch`'s queue.
    Pull(Arc<ReadBatchShared>),
    /// Open a file and run its writes.
    Write { tx: CompletionSender<WriteDone>, location: Location, reqs: Vec<WriteRequest> },
    /// Cancel what has not started, finish what is in flight, and end the thread.
    Stop,
}

/// An eventfd that wakes a ring thread blocked in `io_uring_enter` (the ring always has a
/// `POLL_ADD` armed on it). `pending` makes many notifications cost one `write(2)`.
#[derive(Debug)]
pub(crate) struct WakeFd {
    fd: OwnedFd,
    pending: AtomicBool,
}

impl WakeFd {
    pub(crate) fn new() -> io::Result<Self> {
        // SAFETY: `eventfd` takes no pointers.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        Ok(WakeFd { fd: unsafe { OwnedFd::from_raw_fd(fd) }, pending: AtomicBool::new(false) })
    }

    /// Wakes the ring (after the caller queued a command).
    pub(crate) fn notify(&self) {
        // The release half of this swap publishes the command sent before it to the ring's
        // acquire swap in `consume`.
        if !self.pending.swap(true, Ordering::AcqRel) {
            let one: u64 = 1;
            // SAFETY: writes the 8 bytes of a live `u64` to an eventfd we own.
            let _ = unsafe { libc::write(self.fd.as_raw_fd(), (&raw const one).cast(), 8) };
        }
    }

    /// Resets the eventfd after its poll fired; the ring drains its channel right after.
    fn consume(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live `u64`; the eventfd is non-blocking.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), (&raw mut v).cast(), 8) };
        self.pending.swap(false, Ordering::AcqRel);
    }
}

/// A ring as the other threads see it.
#[derive(Debug)]
pub(crate) struct WorkerLink {
    pub(crate) tx: Sender<Cmd>,
    pub(crate) wake: WakeFd,
}

/// What the backend and its ring threads share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: UringConfig,
    pub(crate) workers: Vec<WorkerLink>,
    pub(crate) counters: Vec<Arc<Counters>>,
    pub(crate) shutdown: AtomicBool,
    /// Where registered buffers come from (with `register_buffers`).
    pub(crate) pool: Option<BufferPool>,
    /// How ring threads wait for completions.
    pub(crate) wait: WaitMode,
    /// Tests only: `O_DIRECT` alignments to use instead of the filesystem's (to make the first
    /// direct read fail and exercise the fallback).
    pub(crate) dio_align_override: Option<(usize, u64)>,
}

/// How a ring thread sleeps until a completion arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitMode {
    /// In `io_uring_enter` itself (submit and wait in one system call), on a ring with deferred
    /// task work. The default.
    Enter,
    /// In `poll(2)` on the ring's descriptor, after a non-blocking submit, on a ring without
    /// deferred task work (whose completions `poll` would not see). Used under valgrind, which
    /// does not know that `io_uring_enter` may block and so would stop every other thread of the
    /// process while a ring waits; or with `LSIO_URING_WAIT=poll`.
    Poll,
}

impl WaitMode {
    /// `LSIO_URING_WAIT=poll|enter`, else `Poll` under valgrind, else `Enter`.
    pub(crate) fn from_env() -> WaitMode {
        match std::env::var("LSIO_URING_WAIT").as_deref() {
            Ok("poll") => WaitMode::Poll,
            Ok("enter") => WaitMode::Enter,
            _ if std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("vgpreload")) => WaitMode::Poll,
            _ => WaitMode::Enter,
        }
    }
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cmd::Read { location, reqs, .. } => write!(f, "Read({location}, {} requests)", reqs.len()),
            Cmd::Pull(_) => f.write_str("Pull"),
            Cmd::Write { location, reqs, .. } => write!(f, "Write({location}, {} requests)", reqs.len()),
            Cmd::Stop => f.write_str("Stop"),
        }
    }
}

impl Shared {
    /// Queues a command for ring `w` and wakes it; gives the command back if the ring is gone.
    pub(crate) fn send(&self, w: usize, cmd: Cmd) -> Result<(), Cmd> {
        let link = &self.workers[w];
        link.tx.send(cmd).map_err(|e| e.0)?;
        link.wake.notify();
        Ok(())
    }
}

/// Starts ring thread `id`; `Ok` once its ring is set up.
pub(crate) fn spawn(id: usize, shared: Arc<Shared>, rx: Receiver<Cmd>) -> io::Result<std::thread::JoinHandle<()>> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let handle = std::thread::Builder::new().name(format!("lsio-uring-{id}")).spawn(move || {
        match Worker::new(id, shared, rx) {
            Ok(w) => {
                let _ = ready_tx.send(Ok(()));
                w.run();
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e));
            }
        }
    })?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => {
            let _ = handle.join();
            Err(io::Error::other(format!("ring thread {id} ended while setting up its ring")))
        }
    }
}

/// Creates a ring: single issuer with deferred task work (completions are run when the thread
/// waits, not by interrupting it) unless SQPOLL or the poll wait mode is asked for; plain if the
/// kernel refuses flags.
fn build_ring(config: &UringConfig, wait: WaitMode) -> io::Result<IoUring> {
    let entries = config.queue_depth;
    let mut b = IoUring::builder();
    match (config.sqpoll, wait) {
        (Some(idle), _) => {
            b.setup_sqpoll(idle);
        }
        (None, WaitMode::Enter) => {
            b.setup_single_issuer().setup_defer_taskrun();
        }
        (None, WaitMode::Poll) => {
            b.setup_single_issuer().setup_coop_taskrun();
        }
    }
    b.setup_submit_all();
    let ring = match b.build(entries) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            // Perhaps an older kernel without these flags: try a plain ring.
            let mut b = IoUring::builder();
            if let Some(idle) = config.sqpoll {
                b.setup_sqpoll(idle);
            }
            b.build(entries)
        }
        other => other,
    };
    ring.map_err(|e| io::Error::from(classify_setup_error(&e, entries)))
}

/// One queue-able operation; its index in `Worker::ops` is the SQE's `user_data`.
#[derive(Debug)]
enum Op {
    /// The poll on the wake eventfd.
    Wake,
    Open {
        owner: OpenFor,
        flags: i32,
        slot: Option<u32>,
    },
    /// The kernel writes into `buf`.
    Statx {
        setup: usize,
        buf: Box<MaybeUninit<libc::statx>>,
    },
    Read {
        read: usize,
        piece: usize,
    },
    Close {
        target: Target,
        counters: Arc<Counters>,
    },
    Write {
        write: usize,
        req: usize,
    },
    Sync {
        write: usize,
        req: usize,
    },
}

/// Who asked for an open (and owns the path string the kernel reads).
#[derive(Clone, Copy, Debug)]
enum OpenFor {
    Read(usize),
    Reopen(usize),
    Write(usize),
}

/// The first steps of one file's reads in one batch: open and statx (in flight together).
#[derive(Debug)]
struct ReadSetup {
    batch: Arc<ReadBatchShared>,
    location: Location,
    path: CString,
    reqs: Vec<ReadRequest>,
    /// The open asked for `O_DIRECT`.
    direct: bool,
    opened: Option<io::Result<FileHandle>>,
    stat: Option<io::Result<StatInfo>>,
    /// Open or statx operations in flight.
    pending: u8,
}

/// The other reads of an `O_DIRECT` file, held back until its first read shows whether the
/// filesystem really does `O_DIRECT`.
#[derive(Debug)]
struct Probe {
    batch: Arc<ReadBatchShared>,
    location: Location,
    path: CString,
    held: Vec<ReadJob>,
    /// The first read, to run again once the file is reopened buffered.
    retry: Option<ReadJob>,
}

/// A job whose pieces are in flight.
#[derive(Debug)]
struct ActiveRead {
    batch: Arc<ReadBatchShared>,
    job: ReadJob,
    /// The kernel writes into its spare capacity; nobody else touches it until the last piece's
    /// CQE.
    buf: AlignedBytesMut,
    fixed: Option<u16>,
    pieces: Vec<Piece>,
    outstanding: usize,
    charge: u64,
}

#[derive(Debug)]
struct LocalBatch {
    shared: Arc<ReadBatchShared>,
    /// Not parked on the budget.
    runnable: bool,
}

enum Take {
    Job(ReadJob, u64),
    Parked,
    Empty,
    Cancelled,
}

enum Pushed {
    Yes,
    Later,
    Broken,
}

struct Worker {
    id: usize,
    ring: IoUring,
    shared: Arc<Shared>,
    counters: Arc<Counters>,
    rx: Receiver<Cmd>,
    depth: usize,
    ops: Slab<Op>,
    /// Operations waiting for room in the queue.
    ready: VecDeque<usize>,
    /// Operations pushed and not yet reaped (the wake poll not counted).
    in_flight: usize,
    batches: Vec<LocalBatch>,
    rr: usize,
    setups: Slab<ReadSetup>,
    reads: Slab<ActiveRead>,
    probes: Slab<Probe>,
    writes: Slab<WriteFile>,
    /// Free registered-file slots.
    fixed_files: Option<Vec<u32>>,
    fixed_bufs: Option<FixedBuffers>,
    /// Where ordinary read buffers come from.
    pool: BufferPool,
    stopping: bool,
    broken: Option<io::Error>,
    cqes: Vec<(u64, i32)>,
    /// Read results of this reap round, sent together at its end (see [`Worker::reap`]).
    outbox: Vec<(Arc<ReadBatchShared>, Result<Chunk, Error>, u64)>,
}

macro_rules! on_target {
    ($target:expr, |$t:ident| $body:expr) => {
        match $target {
            Target::Fd(fd) => {
                let $t = types::Fd(fd);
                $body
            }
            Target::Fixed(slot) => {
                let $t = types::Fixed(slot);
                $body
            }
        }
    };
}

fn read_flags(direct: bool) -> i32 {
    libc::O_RDONLY | libc::O_CLOEXEC | if direct { libc::O_DIRECT } else { 0 }
}

fn cancelled<T>(tag: u64) -> Result<T, Error> {
    Err(Error::Cancelled { tag: Some(tag) })
}

fn io_err(errno: i32) -> io::Error {
    io::Error::from_raw_os_error(errno)
}

/// Rounds the planner's split length to the file's alignment, within [`MAX_PIECE`].
fn piece_len(split_len: u64, off_align: u64) -> u64 {
    let l = if split_len == 0 { MAX_PIECE } else { split_len.min(MAX_PIECE) };
    l.div_ceil(off_align) * off_align
}

/// The closure a parked batch leaves with its budget: tells every ring holding jobs of the
/// batch to look again. It takes no lock (the budget may call it while a queue lock is held).
fn waker(shared: Weak<Shared>, batch: Weak<ReadBatchShared>) -> impl FnOnce() + Send + 'static {
    move || {
        let (Some(shared), Some(batch)) = (shared.upgrade(), batch.upgrade()) else { return };
        let bits = batch.interested();
        for w in 0..shared.workers.len() {
            if bits & (1 << w) != 0 {
                let _ = shared.send(w, Cmd::Pull(batch.clone()));
            }
        }
    }
}

impl Worker {
    fn new(id: usize, shared: Arc<Shared>, rx: Receiver<Cmd>) -> io::Result<Worker> {
        let config = &shared.config;
        let ring = build_ring(config, shared.wait)?;
        let fixed_files = if config.register_files {
            let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            // SAFETY: `getrlimit` writes one `rlimit` into a live local.
            let nofile = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
                u32::try_from(limit.rlim_cur).unwrap_or(u32::MAX)
            } else {
                FIXED_FILES
            };
            let n = FIXED_FILES.min(nofile).max(1);
            ring.submitter().register_files_sparse(n).map_err(|e| {
                io::Error::new(e.kind(), format!("registering a table of {n} files with ring {id} failed: {e}"))
            })?;
            Some((0..n).rev().collect())
        } else {
            None
        };
        let fixed_bufs = match (&shared.pool, config.register_buffers) {
            (Some(pool), true) => {
                let (bufs, iovecs) = FixedBuffers::new(pool, config.queue_depth as usize);
                // SAFETY: every iovec describes a live allocation owned by `bufs`, which the
                // worker keeps until after the ring is dropped (see `teardown`), so the memory
                // stays allocated for as long as it is registered.
                unsafe { ring.submitter().register_buffers(&iovecs) }.map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "registering {} buffers of {} KiB with ring {id} failed (RLIMIT_MEMLOCK?): {e}",
                            iovecs.len(),
                            crate::FIXED_BUFFER_LEN >> 10
                        ),
                    )
                })?;
                Some(bufs)
            }
            _ => None,
        };
        let pool = read_pool(shared.config.alignment);
        Ok(Worker {
            id,
            ring,
            counters: shared.counters[id].clone(),
            depth: shared.config.queue_depth as usize,
            shared,
            rx,
            ops: Slab::default(),
            ready: VecDeque::new(),
            in_flight: 0,
            batches: Vec::new(),
            rr: 0,
            setups: Slab::default(),
            reads: Slab::default(),
            probes: Slab::default(),
            writes: Slab::default(),
            fixed_files,
            fixed_bufs,
            pool,
            stopping: false,
            broken: None,
            cqes: Vec::new(),
            outbox: Vec::new(),
        })
    }

    fn run(mut self) {
        install_close_sink(self.id);
        let clean = std::panic::catch_unwind(AssertUnwindSafe(|| self.event_loop())).is_ok();
        if !clean {
            // A bug. The kernel may still write into buffers of operations in flight: wait for
            // them, or leak them if the ring cannot be waited on.
            if !self.wait_in_flight() {
                self.leak_in_flight();
            }
            self.broken.get_or_insert_with(|| io::Error::other("the ring thread panicked"));
        }
        if self.broken.is_some() {
            self.serve_broken();
        }
        self.teardown();
    }

    fn event_loop(&mut self) {
        self.arm_wake();
        loop {
            self.drain_commands();
            self.fill();
            // Handles dropped by the steps above (cancelled jobs, finished reads) close in this
            // same submission: nothing may stay queued while the thread sleeps.
            self.flush_closes();
            self.push_ready();
            self.flush_outbox();
            if self.broken.is_some() {
                // A failed submission: `serve_broken` answers from here on.
                return;
            }
            if self.stopping && self.quiescent() {
                // Commands that raced with `Stop` are answered before the thread ends.
                self.drain_commands();
                self.flush_closes();
                if self.quiescent() {
                    return;
                }
                continue;
            }
            if !self.enter() {
                return;
            }
            self.reap();
        }
    }

    fn quiescent(&self) -> bool {
        self.in_flight == 0
            && self.ready.is_empty()
            && self.setups.is_empty()
            && self.reads.is_empty()
            && self.probes.is_empty()
            && self.writes.is_empty()
            && !closes_pending()
    }

    // ----- submission -----

    fn arm_wake(&mut self) {
        let i = self.ops.insert(Op::Wake);
        let fd = self.shared.workers[self.id].wake.fd.as_raw_fd();
        let entry = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32).build().user_data(i as u64);
        // A full queue here is submitted by `push_sqe`; a broken ring ends the loop anyway.
        let _ = self.push_sqe(&entry);
    }

    fn submit_op(&mut self, op: Op) {
        let i = self.ops.insert(op);
        self.ready.push_back(i);
    }

    /// Pushes ready operations while fewer than `depth` are in flight.
    fn push_ready(&mut self) {
        while self.in_flight < self.depth {
            let Some(&i) = self.ready.front() else { break };
            let Some(entry) = self.sqe_for(i) else {
                // Its owner is gone (cannot happen while the owner waits for it); drop it.
                self.ready.pop_front();
                self.ops.remove(i);
                continue;
            };
            match self.push_sqe(&entry.user_data(i as u64)) {
                Pushed::Yes => {
                    self.ready.pop_front();
                    self.in_flight += 1;
                }
                Pushed::Later | Pushed::Broken => break,
            }
        }
    }

    fn push_sqe(&mut self, entry: &squeue::Entry) -> Pushed {
        for _ in 0..2 {
            // SAFETY: every pointer in `entry` (buffer, iovecs, path, statx buffer) points into
            // memory owned by this worker's tables, on the heap, that stays allocated and
            // unmoved until the operation's CQE is reaped (see the module documentation).
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                bump(&self.counters.sqes, 1);
                return Pushed::Yes;
            }
            // The submission queue is full: submit what it holds, then push again.
            bump(&self.counters.submits, 1);
            match self.ring.submit() {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)) => {
                    return Pushed::Later;
                }
                Err(e) => {
                    self.fatal(e);
                    return Pushed::Broken;
                }
            }
        }
        Pushed::Later
    }

    /// Builds the SQE of operation `i` from the state it refers to.
    fn sqe_for(&mut self, i: usize) -> Option<squeue::Entry> {
        let op = self.ops.get_mut(i)?;
        let entry = match op {
            Op::Wake => return None,
            Op::Open { owner, flags, slot } => {
                let path = match *owner {
                    OpenFor::Read(s) => &self.setups.get(s)?.path,
                    OpenFor::Reopen(p) => &self.probes.get(p)?.path,
                    OpenFor::Write(w) => &self.writes.get(w)?.path,
                };
                let mut o = opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), path.as_ptr()).flags(*flags).mode(0o666);
                if let Some(s) = *slot {
                    // A registered slot is no descriptor: the kernel refuses O_CLOEXEC with it.
                    o = o.flags(*flags & !libc::O_CLOEXEC).file_index(DestinationSlot::try_from_slot_target(s).ok());
                }
                o.build()
            }
            Op::Statx { setup, buf } => {
                let path = &self.setups.get(*setup)?.path;
                opcode::Statx::new(types::Fd(libc::AT_FDCWD), path.as_ptr(), buf.as_mut_ptr().cast())
                    .mask(STATX_MASK)
                    .build()
            }
            Op::Read { read, piece } => {
                let r = self.reads.get_mut(*read)?;
                let p = &r.pieces[*piece];
                let at = (p.start - r.job.physical.start + p.done) as usize;
                let len = u32::try_from(p.len - p.done).unwrap_or(u32::MAX);
                let offset = p.start + p.done;
                debug_assert!(at + len as usize <= r.buf.capacity());
                // `at` lies inside the buffer's capacity (pieces cover `physical`, whose length
                // is the capacity asked for), so the pointer stays in the allocation.
                let ptr = r.buf.as_mut_ptr().wrapping_add(at);
                bump(&self.counters.reads, 1);
                match r.fixed {
                    Some(index) => {
                        bump(&self.counters.fixed_buffer_reads, 1);
                        on_target!(r.job.file.target, |t| opcode::ReadFixed::new(t, ptr, len, index)
                            .offset(offset)
                            .build())
                    }
                    None => on_target!(r.job.file.target, |t| opcode::Read::new(t, ptr, len).offset(offset).build()),
                }
            }
            Op::Close { target, .. } => on_target!(*target, |t| opcode::Close::new(t).build()),
            Op::Write { write, req } => {
                let w = self.writes.get(*write)?;
                let (iov, n, offset) = w.writes[*req].next_op();
                bump(&self.counters.writes, 1);
                on_target!(w.file.as_ref()?.target, |t| opcode::Writev::new(t, iov, n).offset(offset).build())
            }
            Op::Sync { write, req } => {
                let w = self.writes.get(*write)?;
                let flags = if w.syncs[*req].1 { FsyncFlags::DATASYNC } else { FsyncFlags::empty() };
                bump(&self.counters.syncs, 1);
                on_target!(w.file.as_ref()?.target, |t| opcode::Fsync::new(t).flags(flags).build())
            }
        };
        Some(entry)
    }

    /// Submits everything queued and waits for at least one completion (none if some are
    /// already waiting): the one `io_uring_enter` of a loop turn. `false` if the ring broke.
    fn enter(&mut self) -> bool {
        let want = usize::from(self.ring.completion().is_empty());
        match self.submit_and_wait(want) {
            Ok(()) => true,
            // Interrupted, or completions must be reaped first: the loop reaps and comes back.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)) => true,
            Err(e) => {
                self.fatal(e);
                false
            }
        }
    }

    /// One `io_uring_enter` that submits the queue, and waits for `want` (0 or 1) completions:
    /// inside that call, or in `poll(2)` on the ring (see [`WaitMode`]).
    fn submit_and_wait(&mut self, want: usize) -> io::Result<()> {
        bump(&self.counters.submits, 1);
        if self.shared.wait == WaitMode::Enter {
            return self.ring.submit_and_wait(want).map(drop);
        }
        self.ring.submit().map(drop)?;
        if want > 0 && self.ring.completion().is_empty() {
            let mut pfd = libc::pollfd { fd: self.ring.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: `pfd` is one live `pollfd`, and the count says one.
            if unsafe { libc::poll(&mut pfd, 1, -1) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// Handles every completion waiting in the CQ. Read results are built first and sent
    /// together afterwards: sent one by one between the other work, a consumer that takes them
    /// faster than they come would go to sleep and be woken for every result (a futex wake and
    /// two context switches each, measured at about a fifth of the CPU time of cached 4 KiB
    /// reads); sent back to back, it wakes about once per round.
    fn reap(&mut self) {
        let mut cqes = std::mem::take(&mut self.cqes);
        cqes.extend(self.ring.completion().map(|c| (c.user_data(), c.result())));
        for (user_data, res) in cqes.drain(..) {
            self.complete(user_data as usize, res);
        }
        self.cqes = cqes;
        self.flush_outbox();
    }

    fn flush_outbox(&mut self) {
        for (batch, result, charge) in self.outbox.drain(..) {
            batch.tx.send(result, charge);
        }
    }

    fn complete(&mut self, i: usize, res: i32) {
        let Some(op) = self.ops.remove(i) else { return };
        if !matches!(op, Op::Wake) {
            self.in_flight -= 1;
        }
        match op {
            Op::Wake => {
                self.shared.workers[self.id].wake.consume();
                self.arm_wake();
            }
            Op::Open { owner, flags, slot } => self.on_open(owner, flags, slot, res),
            Op::Statx { setup, buf } => {
                let stat = if res < 0 {
                    Err(io_err(-res))
                } else {
                    // SAFETY: the statx operation succeeded, so the kernel filled `buf`.
                    Ok(unsafe { StatInfo::from_kernel(&buf) })
                };
                if let Some(s) = self.setups.get_mut(setup) {
                    s.stat = Some(stat);
                    s.pending -= 1;
                }
                self.maybe_finish_setup(setup);
            }
            Op::Read { read, piece } => self.on_read(read, piece, res),
            Op::Close { target, counters } => {
                bump(&counters.files_closed, 1);
                if let (Target::Fixed(slot), Some(free)) = (target, self.fixed_files.as_mut()) {
                    free.push(slot);
                }
            }
            Op::Write { write, req } => self.on_write(write, req, res),
            Op::Sync { write, req } => self.on_sync(write, req, res),
        }
    }

    // ----- commands -----

    fn drain_commands(&mut self) {
        while let Ok(cmd) = self.rx.try_recv() {
            self.handle(cmd);
        }
    }

    fn handle(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Read { batch, location, reqs } => self.start_setup(batch, location, reqs),
            Cmd::Pull(batch) => self.register_batch(&batch),
            Cmd::Write { tx, location, reqs } => self.start_write(tx, location, reqs),
            Cmd::Stop => {
                self.stopping = true;
                for b in std::mem::take(&mut self.batches) {
                    self.cancel_queue(&b.shared);
                }
            }
        }
    }

    fn flush_closes(&mut self) {
        for (target, counters) in take_pending_closes() {
            self.submit_op(Op::Close { target, counters });
        }
    }

    fn local_path(location: &Location, what: &str) -> Result<CString, String> {
        let path = location.as_path().ok_or_else(|| format!("the io_uring backend {what} local paths only"))?;
        CString::new(path.as_os_str().as_bytes()).map_err(|_| "the path contains a NUL byte".to_owned())
    }

    fn start_open(&mut self, owner: OpenFor, flags: i32) {
        let slot = self.fixed_files.as_mut().and_then(Vec::pop);
        self.submit_op(Op::Open { owner, flags, slot });
    }

    fn on_open(&mut self, owner: OpenFor, flags: i32, slot: Option<u32>, res: i32) {
        let opened = if res < 0 {
            if let (Some(s), Some(free)) = (slot, self.fixed_files.as_mut()) {
                free.push(s);
            }
            Err(-res)
        } else {
            bump(&self.counters.files_opened, 1);
            Ok(match slot {
                Some(s) => {
                    bump(&self.counters.fixed_file_opens, 1);
                    Target::Fixed(s)
                }
                None => Target::Fd(res),
            })
        };
        match owner {
            OpenFor::Read(s) => self.on_read_open(s, flags, opened),
            OpenFor::Reopen(p) => self.on_reopen(p, opened),
            OpenFor::Write(w) => self.on_write_open(w, opened),
        }
    }

    /// A handle for a file this ring opened; it closes the file when dropped.
    fn handle_for(&self, target: Target, location: &Location, direct: bool) -> FileHandle {
        let config = &self.shared.config;
        FileHandle {
            target,
            ring: self.id,
            location: location.clone(),
            direct,
            mem_align: config.alignment,
            off_align: 1,
            piece_len: piece_len(config.planner.split_len, 1),
            counters: self.counters.clone(),
        }
    }

    // ----- reads: setup -----

    fn start_setup(&mut self, batch: Arc<ReadBatchShared>, location: Location, reqs: Vec<ReadRequest>) {
        if self.stopping || batch.tx.is_cancelled() {
            for r in reqs {
                batch.tx.send(cancelled(r.tag), 0);
            }
            return;
        }
        let path = match Self::local_path(&location, "reads") {
            Ok(p) => p,
            Err(reason) => {
                for r in reqs {
                    let e =
                        Error::InvalidRequest { location: location.clone(), reason: reason.clone(), tag: Some(r.tag) };
                    batch.tx.send(Err(e), 0);
                }
                return;
            }
        };
        let direct = self.shared.config.direct_io;
        let setup =
            self.setups.insert(ReadSetup { batch, location, path, reqs, direct, opened: None, stat: None, pending: 2 });
        // Open and statx go in the same submission: the size comes by path, without waiting for
        // the descriptor (a file replaced in between is read as far as it goes).
        self.start_open(OpenFor::Read(setup), read_flags(direct));
        self.submit_op(Op::Statx { setup, buf: Box::new_uninit() });
    }

    fn on_read_open(&mut self, s: usize, flags: i32, opened: Result<Target, i32>) {
        let Some(setup) = self.setups.get_mut(s) else {
            if let Ok(t) = opened {
                drop(self.handle_for(t, &Location::local(""), false));
            }
            return;
        };
        match opened {
            Err(libc::EINVAL) if flags & libc::O_DIRECT != 0 => {
                // The filesystem refuses O_DIRECT: read this file buffered.
                setup.direct = false;
                bump(&self.counters.direct_io_fallbacks, 1);
                self.start_open(OpenFor::Read(s), read_flags(false));
                return;
            }
            Err(errno) => {
                setup.opened = Some(Err(io_err(errno)));
            }
            Ok(target) => {
                let (location, direct) = (setup.location.clone(), setup.direct);
                let handle = self.handle_for(target, &location, direct);
                if let Some(setup) = self.setups.get_mut(s) {
                    setup.opened = Some(Ok(handle));
                }
            }
        }
        if let Some(setup) = self.setups.get_mut(s) {
            setup.pending -= 1;
        }
        self.maybe_finish_setup(s);
    }

    fn maybe_finish_setup(&mut self, s: usize) {
        if self.setups.get(s).is_some_and(|setup| setup.pending == 0)
            && let Some(setup) = self.setups.remove(s)
        {
            self.finish_setup(setup);
        }
    }

    /// Open and statx are done: resolve the ranges, plan the reads, queue them.
    fn finish_setup(&mut self, setup: ReadSetup) {
        let ReadSetup { batch, location, path, reqs, opened, stat, .. } = setup;
        let tx = &batch.tx;
        let opened = match (opened, stat) {
            (Some(Ok(file)), Some(Ok(stat))) => Ok((file, stat)),
            (Some(Err(e)), _) | (_, Some(Err(e))) => Err(e),
            _ => Err(io::Error::other("open or statx did not complete")),
        };
        let (mut file, stat) = match opened {
            Ok(x) => x,
            Err(e) => {
                for r in reqs {
                    let err = Error::from_io(copy_io(&e), &location, r.range.as_bounded(), Some(r.tag));
                    tx.send(Err(err), 0);
                }
                return;
            }
        };
        if self.stopping || tx.is_cancelled() {
            for r in reqs {
                tx.send(cancelled(r.tag), 0);
            }
            return;
        }
        let config = &self.shared.config;
        if file.direct {
            (file.mem_align, file.off_align) = self
                .shared
                .dio_align_override
                .unwrap_or_else(|| (stat.mem_align().max(config.alignment), stat.offset_align()));
        }
        file.piece_len = piece_len(config.planner.split_len, file.off_align);
        let object_len = stat.size;

        let (ranges, tags) = lsio_io::resolve_requests(reqs, object_len, &location, |e| {
            tx.send(Err(e), 0);
        });
        let plan = plan(&ranges, &config.planner);
        let align = file.off_align;
        let file = Arc::new(file);
        let mut jobs = Vec::with_capacity(plan.reads.len());
        for read in &plan.reads {
            let members: Vec<(u64, std::ops::Range<u64>)> =
                plan.members_of(read).iter().map(|m| (tags[m.index], m.range.clone())).collect();
            if read.is_empty() {
                for (tag, range) in members {
                    tx.send(Ok(Chunk { tag, range, bytes: AlignedBytes::new() }), 0);
                }
                continue;
            }
            let start = read.range.start / align * align;
            let end = read.range.end.div_ceil(align) * align;
            jobs.push(ReadJob {
                file: file.clone(),
                physical: start..end,
                needed_end: read.range.end,
                members,
                probe: None,
            });
        }
        if jobs.is_empty() {
            return;
        }
        if file.direct {
            // Run the first read alone: if the filesystem accepted O_DIRECT on open but refuses
            // it on read, the file is reopened buffered before the others start.
            let mut jobs = jobs.into_iter();
            let Some(mut first) = jobs.next() else { return };
            let probe =
                self.probes.insert(Probe { batch: batch.clone(), location, path, held: jobs.collect(), retry: None });
            first.probe = Some(probe);
            batch.push_jobs(self.id, [first]);
            self.register_batch(&batch);
        } else {
            self.distribute(&batch, jobs);
        }
    }

    /// Queues a file's jobs: on this ring, or, when there are many and the file is an ordinary
    /// descriptor, in contiguous parts over every ring.
    fn distribute(&mut self, batch: &Arc<ReadBatchShared>, jobs: Vec<ReadJob>) {
        if jobs.is_empty() {
            return;
        }
        let n = self.shared.workers.len();
        let shareable = n > 1
            && jobs.len() >= SHARE_MIN_JOBS
            && !self.stopping
            && !self.shared.shutdown.load(Ordering::Acquire)
            && jobs.iter().all(|j| matches!(j.file.target, Target::Fd(_)));
        if !shareable {
            batch.push_jobs(self.id, jobs);
            self.register_batch(batch);
            return;
        }
        let per = jobs.len().div_ceil(n);
        let mut rest = jobs;
        let mut k = 0;
        while !rest.is_empty() {
            let tail = rest.split_off(per.min(rest.len()));
            let part = std::mem::replace(&mut rest, tail);
            let w = (self.id + k) % n;
            k += 1;
            batch.push_jobs(w, part);
            if w == self.id {
                self.register_batch(batch);
            } else if self.shared.send(w, Cmd::Pull(batch.clone())).is_err() {
                // That ring has stopped: answer its part here.
                let orphans: Vec<ReadJob> = batch.queue(w).drain(..).collect();
                for job in orphans {
                    self.cancel_job(&batch.tx, job);
                }
            }
        }
    }

    fn register_batch(&mut self, batch: &Arc<ReadBatchShared>) {
        match self.batches.iter_mut().find(|b| Arc::ptr_eq(&b.shared, batch)) {
            Some(b) => b.runnable = true,
            None => self.batches.push(LocalBatch { shared: batch.clone(), runnable: true }),
        }
    }

    // ----- reads: running -----

    /// Starts reads from the batches with work for this ring while the queue has room.
    fn fill(&mut self) {
        self.push_ready();
        let mut idle_scans = 0;
        while self.in_flight + self.ready.len() < self.depth && idle_scans < self.batches.len() {
            let i = self.rr % self.batches.len();
            if !self.batches[i].runnable {
                self.rr = self.rr.wrapping_add(1);
                idle_scans += 1;
                continue;
            }
            let batch = self.batches[i].shared.clone();
            match self.take_job(&batch) {
                Take::Job(job, charge) => {
                    self.start_read(batch, job, charge);
                    self.rr = self.rr.wrapping_add(1);
                    idle_scans = 0;
                    self.push_ready();
                }
                Take::Parked => {
                    self.batches[i].runnable = false;
                    self.rr = self.rr.wrapping_add(1);
                    idle_scans += 1;
                }
                Take::Empty => {
                    self.batches.swap_remove(i);
                    idle_scans = 0;
                }
                Take::Cancelled => {
                    self.batches.swap_remove(i);
                    self.cancel_queue(&batch);
                    idle_scans = 0;
                }
            }
        }
        self.push_ready();
    }

    /// Takes the next job of this ring's queue in `batch` if the budget has room for it;
    /// otherwise parks the batch, leaving a waker with the budget. Never blocks.
    fn take_job(&self, batch: &Arc<ReadBatchShared>) -> Take {
        if self.stopping || batch.tx.is_cancelled() {
            return Take::Cancelled;
        }
        let mut queue = batch.queue(self.id);
        let Some(front) = queue.front() else { return Take::Empty };
        let charge = alloc_len(front.charge());
        let budget = batch.tx.budget();
        // Under the queue lock, and the budget checks and parks atomically: a release between
        // "no room" and "parked" still calls the waker.
        if !budget.try_acquire(charge)
            && !budget.acquire_or_notify(charge, waker(Arc::downgrade(&self.shared), Arc::downgrade(batch)))
        {
            return Take::Parked;
        }
        match queue.pop_front() {
            Some(job) => Take::Job(job, charge),
            None => {
                budget.release(charge);
                Take::Empty
            }
        }
    }

    fn start_read(&mut self, batch: Arc<ReadBatchShared>, job: ReadJob, charge: u64) {
        let len = usize::try_from(job.charge()).unwrap_or(usize::MAX);
        let mem_align = job.file.mem_align;
        let fixed = self.fixed_bufs.as_mut().and_then(|f| {
            let (i, buf) = f.take(len)?;
            if buf.alignment() >= mem_align {
                Some((i, buf))
            } else {
                f.put_back(i, buf);
                None
            }
        });
        let (buf, fixed) = match fixed {
            Some((i, buf)) => (buf, Some(i)),
            None if len <= POOLED_MAX && mem_align <= self.pool.config().alignment => (self.pool.get(len), None),
            None => match AlignedBytesMut::with_capacity_aligned(len, mem_align) {
                Ok(buf) => (buf, None),
                Err(e) => {
                    let location = job.file.location.clone();
                    job.fail(&batch.tx, charge, |tag, range| {
                        let src = io::Error::new(io::ErrorKind::OutOfMemory, e.to_string());
                        Error::from_io(src, &location, Some(range.clone()), Some(tag))
                    });
                    return;
                }
            },
        };
        let pieces = split_pieces(&job.physical, job.file.piece_len);
        let n = pieces.len();
        let read = self.reads.insert(ActiveRead { batch, job, buf, fixed, pieces, outstanding: n, charge });
        if n == 0 {
            self.finish_read(read);
            return;
        }
        for piece in 0..n {
            self.submit_op(Op::Read { read, piece });
        }
    }

    fn on_read(&mut self, read: usize, piece: usize, res: i32) {
        let Some(r) = self.reads.get_mut(read) else { return };
        if res > 0 {
            bump(&self.counters.bytes_read, res as u64);
        }
        match r.pieces[piece].apply(res, r.job.needed_end) {
            PieceStep::Short => {
                bump(&self.counters.short_read_resubmits, 1);
                self.submit_op(Op::Read { read, piece });
            }
            PieceStep::Retry => {
                bump(&self.counters.retries, 1);
                self.submit_op(Op::Read { read, piece });
            }
            PieceStep::Done => {
                r.outstanding -= 1;
                if r.outstanding == 0 {
                    self.finish_read(read);
                }
            }
        }
    }

    /// Every piece of a read has its CQE: hand out the results (or, for a failed `O_DIRECT`
    /// probe, reopen the file buffered).
    fn finish_read(&mut self, read: usize) {
        let Some(ActiveRead { batch, job, mut buf, fixed, pieces, charge, .. }) = self.reads.remove(read) else {
            return;
        };
        if let Some(p) = job.probe {
            let refused = pieces.iter().any(|p| p.end == PieceEnd::Failed(libc::EINVAL));
            if refused && job.file.direct && !self.stopping && !batch.tx.is_cancelled() {
                if let (Some(i), Some(f)) = (fixed, self.fixed_bufs.as_mut()) {
                    f.put_back(i, buf);
                }
                batch.tx.budget().release(charge);
                bump(&self.counters.direct_io_fallbacks, 1);
                if let Some(probe) = self.probes.get_mut(p) {
                    probe.retry = Some(ReadJob { probe: None, ..job });
                    self.start_open(OpenFor::Reopen(p), read_flags(false));
                }
                return;
            }
            // O_DIRECT works for this file (or failed for another reason): the rest goes ahead.
            if let Some(probe) = self.probes.remove(p) {
                self.release_probe(probe);
            }
        }
        let out = outcome(&pieces);
        // SAFETY: `outcome` counts only bytes the kernel wrote: every piece before the first
        // unfinished one was read whole, that one up to `done`, and pieces are contiguous from the
        // buffer's start; `valid` is at most the length asked for, hence within the capacity.
        unsafe { buf.set_len(out.valid as usize) };
        let bytes = if buf.is_empty() {
            if let (Some(i), Some(f)) = (fixed, self.fixed_bufs.as_mut()) {
                f.put_back(i, buf);
            }
            AlignedBytes::new()
        } else {
            let bytes = buf.freeze();
            if let (Some(i), Some(f)) = (fixed, self.fixed_bufs.as_mut()) {
                f.lend(i, bytes.clone());
            }
            bytes
        };
        let mut split = ChargeSplit::new(charge, job.members.len());
        let last = job.members.len().saturating_sub(1);
        let mut batch = Some(batch);
        for (i, (tag, range)) in job.members.iter().enumerate() {
            let result = member_result(&job.file, &job.physical, &bytes, out, *tag, range);
            let to = if i == last { batch.take() } else { batch.clone() };
            if let Some(to) = to {
                self.outbox.push((to, result, split.next(range)));
            }
        }
    }

    fn release_probe(&mut self, probe: Probe) {
        let Probe { batch, held, retry, .. } = probe;
        let jobs: Vec<ReadJob> = retry.into_iter().chain(held).collect();
        if self.stopping || batch.tx.is_cancelled() {
            for job in jobs {
                self.cancel_job(&batch.tx, job);
            }
        } else {
            self.distribute(&batch, jobs);
        }
    }

    fn on_reopen(&mut self, p: usize, opened: Result<Target, i32>) {
        let Some(probe) = self.probes.remove(p) else {
            if let Ok(t) = opened {
                drop(self.handle_for(t, &Location::local(""), false));
            }
            return;
        };
        match opened {
            Err(errno) => {
                let Probe { batch, location, held, retry, .. } = probe;
                for job in retry.into_iter().chain(held) {
                    job.fail(&batch.tx, 0, |tag, range| {
                        Error::from_io(io_err(errno), &location, Some(range.clone()), Some(tag))
                    });
                }
            }
            Ok(target) => {
                let mut probe = probe;
                let mut handle = self.handle_for(target, &probe.location, false);
                if let Some(old) = probe.retry.as_ref().or(probe.held.first()) {
                    handle.mem_align = old.file.mem_align;
                    handle.piece_len = old.file.piece_len;
                }
                let handle = Arc::new(handle);
                // The O_DIRECT descriptor closes when the last job lets go of it.
                for job in probe.retry.iter_mut().chain(probe.held.iter_mut()) {
                    job.file = handle.clone();
                }
                self.release_probe(probe);
            }
        }
    }

    fn cancel_job(&mut self, tx: &CompletionSender<Chunk>, job: ReadJob) {
        if let Some(p) = job.probe
            && let Some(probe) = self.probes.remove(p)
        {
            for held in probe.retry.into_iter().chain(probe.held) {
                for (tag, _) in held.members {
                    tx.send(cancelled(tag), 0);
                }
            }
        }
        for (tag, _) in job.members {
            tx.send(cancelled(tag), 0);
        }
    }

    fn cancel_queue(&mut self, batch: &Arc<ReadBatchShared>) {
        let jobs: Vec<ReadJob> = batch.queue(self.id).drain(..).collect();
        for job in jobs {
            self.cancel_job(&batch.tx, job);
        }
    }

    // ----- writes -----

    fn start_write(&mut self, tx: CompletionSender<WriteDone>, location: Location, reqs: Vec<WriteRequest>) {
        if self.stopping || tx.is_cancelled() {
            for r in reqs {
                tx.send(cancelled(r.tag), 0);
            }
            return;
        }
        let path = match Self::local_path(&location, "writes") {
            Ok(p) => p,
            Err(reason) => {
                for r in reqs {
                    let e =
                        Error::InvalidRequest { location: location.clone(), reason: reason.clone(), tag: Some(r.tag) };
                    tx.send(Err(e), 0);
                }
                return;
            }
        };
        let (mut creates, mut writes, mut syncs) = (Vec::new(), Vec::new(), Vec::new());
        let mut truncate = false;
        for r in reqs {
            match r.op {
                WriteOp::Create { truncate: t } => {
                    truncate |= t;
                    creates.push(r.tag);
                }
                WriteOp::WriteAt { offset, bufs } => writes.push(VecWrite::new(r.tag, offset, bufs)),
                WriteOp::Sync { data_only } => syncs.push((r.tag, data_only)),
            }
        }
        let mut flags = libc::O_WRONLY | libc::O_CLOEXEC;
        if !creates.is_empty() {
            flags |= libc::O_CREAT;
        }
        if truncate {
            flags |= libc::O_TRUNC;
        }
        let w = self.writes.insert(WriteFile {
            tx,
            location,
            path,
            file: None,
            creates,
            writes,
            syncs,
            phase: Phase::Opening,
            outstanding: 0,
        });
        self.start_open(OpenFor::Write(w), flags);
    }

    fn on_write_open(&mut self, w: usize, opened: Result<Target, i32>) {
        let Some(wf) = self.writes.get(w) else {
            if let Ok(t) = opened {
                drop(self.handle_for(t, &Location::local(""), false));
            }
            return;
        };
        match opened {
            Err(errno) => {
                let Some(wf) = self.writes.remove(w) else { return };
                let e = |tag, range| Err(Error::from_io(io_err(errno), &wf.location, range, Some(tag)));
                for &tag in &wf.creates {
                    wf.tx.send(e(tag, None), 0);
                }
                for v in &wf.writes {
                    wf.tx.send(e(v.tag, Some(v.range())), 0);
                }
                for &(tag, _) in &wf.syncs {
                    wf.tx.send(e(tag, None), 0);
                }
            }
            Ok(target) => {
                let handle = self.handle_for(target, &wf.location, false);
                let Some(wf) = self.writes.get_mut(w) else { return };
                wf.file = Some(handle);
                for &tag in &wf.creates {
                    wf.tx.send(Ok(WriteDone { tag, bytes_written: 0 }), 0);
                }
                self.start_writes(w);
            }
        }
    }

    fn start_writes(&mut self, w: usize) {
        let stop = self.stopping;
        let Some(wf) = self.writes.get_mut(w) else { return };
        wf.phase = Phase::Writing;
        let mut ops = Vec::new();
        if stop || wf.tx.is_cancelled() {
            for v in &wf.writes {
                wf.tx.send(cancelled(v.tag), 0);
            }
        } else {
            for (i, v) in wf.writes.iter().enumerate() {
                if v.total == 0 {
                    wf.tx.send(Ok(WriteDone { tag: v.tag, bytes_written: 0 }), 0);
                } else {
                    ops.push(i);
                }
            }
        }
        wf.outstanding = ops.len();
        if ops.is_empty() {
            self.start_syncs(w);
        }
        for req in ops {
            self.submit_op(Op::Write { write: w, req });
        }
    }

    fn on_write(&mut self, w: usize, req: usize, res: i32) {
        let Some(wf) = self.writes.get_mut(w) else { return };
        let v = &mut wf.writes[req];
        let result = if res < 0 {
            match -res {
                libc::EINTR | libc::EAGAIN => {
                    bump(&self.counters.retries, 1);
                    self.submit_op(Op::Write { write: w, req });
                    return;
                }
                errno => Err(io_err(errno)),
            }
        } else if res == 0 {
            Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("the kernel wrote nothing at byte {}", v.offset + v.written),
            ))
        } else {
            bump(&self.counters.bytes_written, res as u64);
            if !v.advance(res as u64) {
                // A short write: the rest goes again. Reported done only once all of it is written.
                bump(&self.counters.short_write_resubmits, 1);
                self.submit_op(Op::Write { write: w, req });
                return;
            }
            Ok(v.total)
        };
        let (tag, range) = (v.tag, v.range());
        let result = result
            .map(|bytes_written| WriteDone { tag, bytes_written })
            .map_err(|e| Error::from_io(e, &wf.location, Some(range), Some(tag)));
        wf.tx.send(result, 0);
        wf.outstanding -= 1;
        if wf.outstanding == 0 {
            self.start_syncs(w);
        }
    }

    fn start_syncs(&mut self, w: usize) {
        let stop = self.stopping;
        let Some(wf) = self.writes.get_mut(w) else { return };
        wf.phase = Phase::Syncing;
        if stop || wf.tx.is_cancelled() {
            for &(tag, _) in &wf.syncs {
                wf.tx.send(cancelled(tag), 0);
            }
            wf.syncs.clear();
        }
        let n = wf.syncs.len();
        wf.outstanding = n;
        if n == 0 {
            // Done: dropping the file handle closes it through the ring.
            self.writes.remove(w);
            return;
        }
        for req in 0..n {
            self.submit_op(Op::Sync { write: w, req });
        }
    }

    fn on_sync(&mut self, w: usize, req: usize, res: i32) {
        let Some(wf) = self.writes.get_mut(w) else { return };
        debug_assert_eq!(wf.phase, Phase::Syncing);
        let tag = wf.syncs[req].0;
        let result = if res < 0 {
            match -res {
                libc::EINTR | libc::EAGAIN => {
                    bump(&self.counters.retries, 1);
                    self.submit_op(Op::Sync { write: w, req });
                    return;
                }
                errno => Err(Error::from_io(io_err(errno), &wf.location, None, Some(tag))),
            }
        } else {
            Ok(WriteDone { tag, bytes_written: 0 })
        };
        wf.tx.send(result, 0);
        wf.outstanding -= 1;
        if wf.outstanding == 0 {
            self.writes.remove(w);
        }
    }

    // ----- failure and shutdown -----

    /// The ring cannot be entered any more. Operations in flight may still be written by the
    /// kernel, so their memory is leaked; everything else is answered with the error.
    fn fatal(&mut self, e: io::Error) {
        if self.broken.is_none() {
            self.broken = Some(e);
        }
        self.leak_in_flight();
    }

    /// Leaks the memory that operations in flight point into (buffers, iovecs, paths, `statx`
    /// buffers): the kernel may still write or read it. Their requests are answered with an
    /// error, so no consumer waits for them.
    fn leak_in_flight(&mut self) {
        let why = self.broken.as_ref().map_or_else(|| "the ring thread panicked".to_owned(), |e| e.to_string());
        let fail = |location: &Location, range: Option<std::ops::Range<u64>>, tag: u64| Error::Io {
            location: location.clone(),
            range,
            tag: Some(tag),
            source: io::Error::other(format!("io_uring ring failed with the operation in flight: {why}")),
        };
        // The statx buffers live in the operations.
        std::mem::forget(std::mem::take(&mut self.ops));
        for r in self.reads.drain() {
            let ActiveRead { batch, job, buf, charge, .. } = r;
            std::mem::forget(buf);
            let location = job.file.location.clone();
            job.fail(&batch.tx, charge, |tag, range| fail(&location, Some(range.clone()), tag));
        }
        for w in self.writes.drain() {
            let WriteFile { tx, location, path, writes, creates, syncs, phase, .. } = w;
            if phase == Phase::Opening {
                for tag in creates.into_iter().chain(syncs.iter().map(|s| s.0)) {
                    tx.send(Err(fail(&location, None, tag)), 0);
                }
                for v in &writes {
                    tx.send(Err(fail(&location, Some(v.range()), v.tag)), 0);
                }
            }
            // Requests not answered yet end in `Closed` for the consumer once `tx` drops.
            std::mem::forget(path);
            std::mem::forget(writes);
        }
        for s in self.setups.drain() {
            let ReadSetup { batch, location, path, reqs, .. } = s;
            std::mem::forget(path);
            for r in reqs {
                batch.tx.send(Err(fail(&location, r.range.as_bounded(), r.tag)), 0);
            }
        }
        for p in self.probes.drain() {
            let Probe { batch, location, path, held, retry } = p;
            std::mem::forget(path);
            for job in retry.into_iter().chain(held) {
                job.fail(&batch.tx, 0, |tag, range| fail(&location, Some(range.clone()), tag));
            }
        }
        self.ready.clear();
        self.in_flight = 0;
    }

    /// After a panic: reaps until nothing is in flight. `false` if the ring cannot be waited on.
    fn wait_in_flight(&mut self) -> bool {
        if self.broken.is_some() {
            return self.in_flight == 0;
        }
        self.ready.clear();
        while self.in_flight > 0 {
            let want = usize::from(self.ring.completion().is_empty());
            match self.submit_and_wait(want) {
                Ok(()) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)) => {}
                Err(_) => return false,
            }
            let done: Vec<u64> = self.ring.completion().map(|c| c.user_data()).collect();
            for user_data in done {
                if let Some(op) = self.ops.remove(user_data as usize)
                    && !matches!(op, Op::Wake)
                {
                    self.in_flight -= 1;
                }
            }
        }
        true
    }

    /// A broken ring answers every request with the error until it is stopped.
    fn serve_broken(&mut self) {
        let why = self.broken.as_ref().map_or_else(|| "the ring failed".to_owned(), |e| e.to_string());
        let fail = |location: &Location, range: Option<std::ops::Range<u64>>, tag: u64| Error::Io {
            location: location.clone(),
            range,
            tag: Some(tag),
            source: io::Error::other(format!("io_uring ring failed: {why}")),
        };
        for b in std::mem::take(&mut self.batches) {
            self.cancel_queue(&b.shared);
        }
        while let Ok(cmd) = self.rx.recv() {
            match cmd {
                Cmd::Stop => break,
                Cmd::Read { batch, location, reqs } => {
                    for r in reqs {
                        batch.tx.send(Err(fail(&location, r.range.as_bounded(), r.tag)), 0);
                    }
                }
                Cmd::Write { tx, location, reqs } => {
                    for r in reqs {
                        tx.send(Err(fail(&location, None, r.tag)), 0);
                    }
                }
                Cmd::Pull(batch) => self.cancel_queue(&batch),
            }
        }
    }

    fn teardown(mut self) {
        self.flush_outbox();
        // Commands still queued (they raced with Stop) are answered, not dropped.
        while let Ok(cmd) = self.rx.try_recv() {
            match cmd {
                Cmd::Read { batch, reqs, .. } => {
                    for r in reqs {
                        batch.tx.send(cancelled(r.tag), 0);
                    }
                }
                Cmd::Write { tx, reqs, .. } => {
                    for r in reqs {
                        tx.send(cancelled(r.tag), 0);
                    }
                }
                Cmd::Pull(batch) => self.cancel_queue(&batch),
                Cmd::Stop => {}
            }
        }
        // Descriptors released since the last loop turn are closed directly; from here on,
        // handles dropped on this thread close with close(2).
        for (target, counters) in remove_close_sink() {
            close_now(target, &counters);
        }
        let Worker { ring, fixed_bufs, batches, .. } = self;
        drop(batches);
        // The ring goes first (with it the buffer registration), then the registered buffers.
        drop(ring);
        drop(fixed_bufs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_reads_are_charged_what_they_allocate() {
        assert_eq!(alloc_len(1), 4096);
        assert_eq!(alloc_len(5000), 8192);
        assert_eq!(alloc_len(4 << 20), 4 << 20);
        assert_eq!(alloc_len((4 << 20) + 1), (4 << 20) + 1);
        let pool = read_pool(64);
        assert_eq!(pool.get(5000).capacity() as u64, alloc_len(5000));
    }

    #[test]
    fn piece_len_respects_alignment_and_cap() {
        assert_eq!(piece_len(0, 1), MAX_PIECE);
        assert_eq!(piece_len(1000, 4096), 4096);
        assert_eq!(piece_len(4 << 20, 4096), 4 << 20);
        assert_eq!(piece_len(u64::MAX, 512), MAX_PIECE);
    }

    #[test]
    fn groups_keep_order() {
        let a = Location::local("/a");
        let b = Location::local("/b");
        let g = group_by_location(vec![(a.clone(), 1), (b.clone(), 2), (a.clone(), 3)], |r| &r.0);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].1.iter().map(|r| r.1).collect::<Vec<_>>(), vec![1, 3]);
    }
}
