//! `PreadBackend`: a plain thread pool of `pread`/`pwritev` calls — the portable fallback (non-Linux
//! kernels, io_uring disabled) and the baseline every benchmark compares against.
//!
//! A batch is split per file: one job opens the file once and plans its ranges, then runner jobs
//! take planned reads from the batch's queue. A runner asks the batch's budget for the bytes of a
//! read *before* allocating; when the budget is spent it parks the batch (no thread blocks) and the
//! consumer's next take wakes it again.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;

use lsio_aligned::{AlignedBytes, AlignedBytesMut, BufferPool, DEFAULT_ALIGN, DIRECT_IO_ALIGN, PoolConfig};

use crate::backend::{IoBackend, ReadBatch, WriteBatch};
use crate::completion::{CompletionSender, DEFAULT_BYTES_IN_FLIGHT, batch};
use crate::error::{Error, Result};
use crate::planner::{PlannerConfig, plan};
use crate::types::{Chunk, Location, ReadRequest, WriteDone, WriteOp, WriteRequest};

/// Settings of a [`PreadBackend`].
#[derive(Clone, Debug)]
pub struct PreadConfig {
    /// Worker threads, i.e. the most reads in flight at once.
    pub threads: usize,
    /// Bound on bytes read for a batch and not yet taken by its consumer.
    pub bytes_in_flight: u64,
    /// How ranges of one file are merged and split.
    pub planner: PlannerConfig,
    /// Alignment of read buffers (raised to 4096 with `direct_io`).
    pub alignment: usize,
    /// Open files with `O_DIRECT` (bypassing the page cache); files whose filesystem refuses it
    /// are read buffered, counted in [`PreadStats::direct_io_fallbacks`].
    pub direct_io: bool,
    /// Where read buffers come from. A pool recycles buffers the consumer has dropped, so their
    /// pages are already mapped: a fresh 256 KiB allocation costs an `mmap`, 64 page faults and a
    /// `munmap`, which halved hot-cache throughput in `lsio bench`. `None` allocates each buffer. The default is [`default_pool`].
    /// Buffers larger than the pool's largest class are allocated fresh.
    pub pool: Option<BufferPool>,
}

impl Default for PreadConfig {
    fn default() -> Self {
        PreadConfig {
            threads: 16,
            bytes_in_flight: DEFAULT_BYTES_IN_FLIGHT,
            planner: PlannerConfig::LOCAL,
            alignment: DEFAULT_ALIGN,
            direct_io: false,
            pool: Some(default_pool()),
        }
    }
}

/// The pool a backend makes when none is given: 4 KiB to 16 MiB classes, page aligned (so the
/// same buffers serve `O_DIRECT`), at most 256 MiB kept idle.
pub fn default_pool() -> BufferPool {
    let config = PoolConfig { alignment: DIRECT_IO_ALIGN, ..PoolConfig::default() };
    // The configuration is valid by construction (a power-of-two alignment, ascending classes).
    BufferPool::new(config).unwrap_or_else(|e| unreachable!("default pool configuration is valid: {e}"))
}

/// Counters of a [`PreadBackend`] since it was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PreadStats {
    /// `pread` system calls made.
    pub read_calls: u64,
    /// Bytes read from files (including merged gaps and alignment padding).
    pub bytes_read: u64,
    /// Files opened.
    pub files_opened: u64,
    /// Files read buffered because their filesystem refused `O_DIRECT`.
    pub direct_io_fallbacks: u64,
}

/// A thread pool of `pread` calls. See the module documentation.
#[derive(Debug)]
pub struct PreadBackend {
    inner: Arc<Inner>,
    threads: Vec<JoinHandle<()>>,
}

type Job = Box<dyn FnOnce(&Arc<Inner>) + Send>;

enum Msg {
    Job(Job),
    Stop,
}

#[derive(Debug, Default)]
struct Counters {
    read_calls: AtomicU64,
    bytes_read: AtomicU64,
    files_opened: AtomicU64,
    direct_io_fallbacks: AtomicU64,
}

struct Inner {
    config: PreadConfig,
    tx: crossbeam_channel::Sender<Msg>,
    shutdown: AtomicBool,
    counters: Counters,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreadBackend").field("config", &self.config).field("counters", &self.counters).finish()
    }
}

impl Inner {
    fn spawn(self: &Arc<Self>, job: Job) {
        if let Err(crossbeam_channel::SendError(Msg::Job(job))) = self.tx.send(Msg::Job(job)) {
            // Every worker has stopped: run the job here; it sees `shutdown` and cancels its work.
            job(self);
        }
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }
}

impl PreadBackend {
    /// A backend with default settings.
    pub fn new() -> io::Result<Self> {
        Self::with_config(PreadConfig::default())
    }

    /// A backend with the given settings.
    pub fn with_config(mut config: PreadConfig) -> io::Result<Self> {
        config.threads = config.threads.max(1);
        if !config.alignment.is_power_of_two() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("alignment {} is not a power of two", config.alignment),
            ));
        }
        if config.direct_io {
            config.alignment = config.alignment.max(DIRECT_IO_ALIGN);
        }
        if config.pool.as_ref().is_some_and(|p| p.config().alignment < config.alignment) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the buffer pool's alignment is below the {} bytes the reads need", config.alignment),
            ));
        }
        let (tx, rx) = crossbeam_channel::unbounded::<Msg>();
        let inner = Arc::new(Inner { config, tx, shutdown: AtomicBool::new(false), counters: Counters::default() });
        let mut threads = Vec::with_capacity(inner.config.threads);
        for i in 0..inner.config.threads {
            let rx = rx.clone();
            let worker = inner.clone();
            let spawned = std::thread::Builder::new().name(format!("lsio-pread-{i}")).spawn(move || {
                while let Ok(Msg::Job(job)) = rx.recv() {
                    job(&worker);
                }
            });
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    let backend = PreadBackend { inner, threads };
                    drop(backend);
                    return Err(e);
                }
            }
        }
        Ok(PreadBackend { inner, threads })
    }

    /// The settings in force.
    pub fn config(&self) -> &PreadConfig {
        &self.inner.config
    }

    /// Counters since the backend was made.
    pub fn stats(&self) -> PreadStats {
        let c = &self.inner.counters;
        PreadStats {
            read_calls: c.read_calls.load(Ordering::Relaxed),
            bytes_read: c.bytes_read.load(Ordering::Relaxed),
            files_opened: c.files_opened.load(Ordering::Relaxed),
            direct_io_fallbacks: c.direct_io_fallbacks.load(Ordering::Relaxed),
        }
    }
}

impl Drop for PreadBackend {
    /// Cancels work that has not started, lets reads in flight finish, and joins the threads.
    fn drop(&mut self) {
        self.inner.shutdown.store(true, Ordering::Release);
        for _ in 0..self.threads.len() {
            let _ = self.inner.tx.send(Msg::Stop);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl IoBackend for PreadBackend {
    fn name(&self) -> &str {
        "pread"
    }

    fn read(&self, requests: Vec<ReadRequest>) -> ReadBatch {
        let (tx, rx) = batch(requests.len(), self.inner.config.bytes_in_flight);
        let state = Arc::new(ReadState { tx, queue: Mutex::new(VecDeque::new()) });
        for (location, reqs) in group_by_location(requests, |r| &r.location) {
            let state = state.clone();
            self.inner.spawn(Box::new(move |inner| setup_reads(inner, &state, location, reqs)));
        }
        rx
    }

    fn write(&self, requests: Vec<WriteRequest>) -> WriteBatch {
        let (tx, rx) = batch(requests.len(), self.inner.config.bytes_in_flight);
        for (location, reqs) in group_by_location(requests, |r| &r.location) {
            let tx = tx.clone();
            self.inner.spawn(Box::new(move |inner| write_location(inner, &tx, &location, reqs)));
        }
        rx
    }
}

/// Resolves every request's range against the object's length, returning the ranges and tags
/// of those in bounds; each request out of bounds is handed to `out_of_range` as its own error.
pub fn resolve_requests(
    requests: Vec<ReadRequest>,
    object_len: u64,
    location: &Location,
    mut out_of_range: impl FnMut(Error),
) -> (Vec<Range<u64>>, Vec<u64>) {
    let mut ranges = Vec::with_capacity(requests.len());
    let mut tags = Vec::with_capacity(requests.len());
    for r in requests {
        match r.range.resolve(object_len) {
            Some(range) => {
                ranges.push(range);
                tags.push(r.tag);
            }
            None => out_of_range(Error::OutOfRange {
                location: location.clone(),
                range: r.range,
                object_len,
                tag: Some(r.tag),
            }),
        }
    }
    (ranges, tags)
}

/// Groups requests by location, keeping first-seen order of locations and of requests: the first
/// step of every backend's batch (one open, one plan per file or object).
pub fn group_by_location<R>(requests: Vec<R>, loc: impl Fn(&R) -> &Location) -> Vec<(Location, Vec<R>)> {
    let mut index: HashMap<Location, usize> = HashMap::new();
    let mut groups: Vec<(Location, Vec<R>)> = Vec::new();
    for r in requests {
        let l = loc(&r);
        match index.get(l) {
            Some(&i) => groups[i].1.push(r),
            None => {
                index.insert(l.clone(), groups.len());
                groups.push((l.clone(), vec![r]));
            }
        }
    }
    groups
}

struct ReadState {
    tx: CompletionSender<Chunk>,
    queue: Mutex<VecDeque<ReadJob>>,
}

impl ReadState {
    fn queue(&self) -> MutexGuard<'_, VecDeque<ReadJob>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct OpenFile {
    file: File,
    location: Location,
    direct: bool,
}

struct ReadJob {
    file: Arc<OpenFile>,
    /// What to read (widened to the alignment for `O_DIRECT`).
    physical: Range<u64>,
    /// Bytes the members need; a short read that covers them is fine.
    needed_end: u64,
    members: Vec<(u64, Range<u64>)>,
}

impl ReadJob {
    fn charge(&self) -> u64 {
        self.physical.end - self.physical.start
    }
}

fn open_for_read(inner: &Inner, location: &Location) -> Result<OpenFile, io::Error> {
    let path = location.as_path().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a local path"))?;
    let open = |direct: bool| {
        let mut o = OpenOptions::new();
        o.read(true);
        if direct {
            o.custom_flags(libc::O_DIRECT);
        }
        o.open(path)
    };
    let (file, direct) = if inner.config.direct_io {
        match open(true) {
            Ok(f) => (f, true),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                inner.counters.direct_io_fallbacks.fetch_add(1, Ordering::Relaxed);
                (open(false)?, false)
            }
            Err(e) => return Err(e),
        }
    } else {
        (open(false)?, false)
    };
    inner.counters.files_opened.fetch_add(1, Ordering::Relaxed);
    Ok(OpenFile { file, location: location.clone(), direct })
}

fn setup_reads(inner: &Arc<Inner>, state: &Arc<ReadState>, location: Location, reqs: Vec<ReadRequest>) {
    if state.tx.is_cancelled() || inner.stopping() {
        for r in reqs {
            state.tx.send(Err(Error::Cancelled { tag: Some(r.tag) }), 0);
        }
        return;
    }
    if location.as_path().is_none() {
        for r in reqs {
            let e = Error::InvalidRequest {
                location: location.clone(),
                reason: "the pread backend reads local paths only".into(),
                tag: Some(r.tag),
            };
            state.tx.send(Err(e), 0);
        }
        return;
    }
    let opened = open_for_read(inner, &location).and_then(|f| {
        let len = f.file.metadata()?.len();
        Ok((f, len))
    });
    let (file, object_len) = match opened {
        Ok(x) => x,
        Err(e) => {
            let e = Error::from_io(e, &location, None, None);
            for r in reqs {
                state.tx.send(Err(e.for_tag(r.tag)), 0);
            }
            return;
        }
    };
    let file = Arc::new(file);

    let (ranges, tags) = resolve_requests(reqs, object_len, &location, |e| {
        state.tx.send(Err(e), 0);
    });
    let plan = plan(&ranges, &inner.config.planner);
    let align = if file.direct { inner.config.alignment as u64 } else { 1 };
    let mut jobs = Vec::with_capacity(plan.reads.len());
    for read in &plan.reads {
        let members = plan.members_of(read).iter().map(|m| (tags[m.index], m.range.clone())).collect();
        // A pread thread reads one merged range with one call, so pieces (`split_len`) are not
        // issued separately here: they pay only where they run in parallel (rings, object stores).
        let start = read.range.start / align * align;
        let end = read.range.end.div_ceil(align) * align;
        jobs.push(ReadJob { file: file.clone(), physical: start..end, needed_end: read.range.end, members });
    }
    let n = jobs.len();
    state.queue().extend(jobs);
    schedule_runners(inner, state, n);
}

fn schedule_runners(inner: &Arc<Inner>, state: &Arc<ReadState>, jobs: usize) {
    for _ in 0..jobs.min(inner.config.threads) {
        let state = state.clone();
        inner.spawn(Box::new(move |inner| run_reads(inner, &state)));
    }
}

fn run_reads(inner: &Arc<Inner>, state: &Arc<ReadState>) {
    loop {
        if state.tx.is_cancelled() || inner.stopping() {
            let jobs: Vec<ReadJob> = state.queue().drain(..).collect();
            for job in jobs {
                for (tag, _) in job.members {
                    state.tx.send(Err(Error::Cancelled { tag: Some(tag) }), 0);
                }
            }
            return;
        }
        let job = {
            let mut queue = state.queue();
            let Some(front) = queue.front() else { return };
            let weak: Weak<Inner> = Arc::downgrade(inner);
            let parked = state.clone();
            let wake = move || match weak.upgrade() {
                Some(inner) => schedule_runners(&inner, &parked, usize::MAX),
                None => drop(parked),
            };
            // Under the queue lock, so a release between "no budget" and "parked" cannot be missed.
            if !state.tx.budget().acquire_or_notify(front.charge(), wake) {
                return;
            }
            match queue.pop_front() {
                Some(job) => job,
                None => return,
            }
        };
        execute_read(inner, state, job);
    }
}

fn execute_read(inner: &Inner, state: &ReadState, job: ReadJob) {
    let charge = job.charge();
    let result = read_at_into(inner, &job);
    let ReadJob { file, physical, members, .. } = job;
    let mut left = charge;
    let last = members.len().saturating_sub(1);
    match result {
        Ok(buf) => {
            let got_end = physical.start + buf.len() as u64;
            for (i, (tag, range)) in members.into_iter().enumerate() {
                let c = if i == last { left } else { (range.end - range.start).min(left) };
                left -= c;
                let r = if range.end <= got_end {
                    let off = (range.start - physical.start) as usize..(range.end - physical.start) as usize;
                    Ok(Chunk { tag, range, bytes: buf.slice(off) })
                } else {
                    // The file shrank after we measured it.
                    let src = io::Error::new(io::ErrorKind::UnexpectedEof, format!("file ends at byte {got_end}"));
                    Err(Error::from_io(src, &file.location, Some(range), Some(tag)))
                };
                state.tx.send(r, c);
            }
        }
        Err(e) => {
            let e = Error::from_io(e, &file.location, Some(physical.clone()), None);
            for (i, (tag, range)) in members.into_iter().enumerate() {
                let c = if i == last { left } else { (range.end - range.start).min(left) };
                left -= c;
                let mut err = e.for_tag(tag);
                if let Error::Io { range: r, .. } = &mut err {
                    *r = Some(range);
                }
                state.tx.send(Err(err), c);
            }
        }
    }
}

/// Reads `job.physical` into a fresh aligned buffer, retrying short reads and `EINTR`, stopping at
/// end of file (the buffer is then shorter).
fn read_at_into(inner: &Inner, job: &ReadJob) -> io::Result<AlignedBytes> {
    let len = usize::try_from(job.physical.end - job.physical.start)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "range larger than memory"))?;
    let mut buf = match &inner.config.pool {
        Some(pool) => pool.get(len),
        None => AlignedBytesMut::with_capacity_aligned(len, inner.config.alignment)
            .map_err(|e| io::Error::new(io::ErrorKind::OutOfMemory, e.to_string()))?,
    };
    let fd = job.file.file.as_raw_fd();
    let needed = (job.needed_end - job.physical.start) as usize;
    while buf.len() < needed {
        let offset = job.physical.start + buf.len() as u64;
        let want = len - buf.len();
        let spare = buf.spare_capacity_mut();
        // SAFETY: `spare` is writable memory owned by `buf`, at least `want` bytes long, and the
        // kernel writes at most `want` bytes into it.
        let n = unsafe { libc::pread(fd, spare.as_mut_ptr().cast(), want, offset as libc::off_t) };
        inner.counters.read_calls.fetch_add(1, Ordering::Relaxed);
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) | Some(libc::EAGAIN) => continue,
                _ => return Err(e),
            }
        }
        if n == 0 {
            break;
        }
        inner.counters.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
        // SAFETY: the kernel initialised the `n` bytes after the current length (n <= want).
        unsafe { buf.set_len(buf.len() + n as usize) };
    }
    Ok(buf.freeze())
}

fn write_location(inner: &Inner, tx: &CompletionSender<WriteDone>, location: &Location, mut reqs: Vec<WriteRequest>) {
    if tx.is_cancelled() || inner.stopping() {
        for r in reqs {
            tx.send(Err(Error::Cancelled { tag: Some(r.tag) }), 0);
        }
        return;
    }
    reqs.sort_by_key(|r| match r.op {
        WriteOp::Create { .. } => 0,
        WriteOp::WriteAt { .. } => 1,
        WriteOp::Sync { .. } => 2,
    });
    let create = reqs.iter().any(|r| matches!(r.op, WriteOp::Create { .. }));
    let truncate = reqs.iter().any(|r| matches!(r.op, WriteOp::Create { truncate: true }));
    let opened = match location.as_path() {
        Some(path) => OpenOptions::new().write(true).create(create).truncate(truncate).open(path),
        None => Err(io::Error::new(io::ErrorKind::InvalidInput, "the pread backend writes local paths only")),
    };
    let file = match opened {
        Ok(f) => f,
        Err(e) => {
            let e = Error::from_io(e, location, None, None);
            for r in reqs {
                tx.send(Err(e.for_tag(r.tag)), 0);
            }
            return;
        }
    };
    for r in reqs {
        let result = match &r.op {
            WriteOp::Create { .. } => Ok(0),
            WriteOp::WriteAt { offset, bufs } => pwritev_all(&file, *offset, bufs)
                .map_err(|e| Error::from_io(e, location, Some(*offset..*offset + r.len()), Some(r.tag))),
            WriteOp::Sync { data_only } => {
                let s = if *data_only { file.sync_data() } else { file.sync_all() };
                s.map(|()| 0).map_err(|e| Error::from_io(e, location, None, Some(r.tag)))
            }
        };
        tx.send(result.map(|bytes_written| WriteDone { tag: r.tag, bytes_written }), 0);
    }
}

/// Writes all of `bufs` back to back at `offset` with `pwritev`, resuming after short writes.
fn pwritev_all(file: &File, offset: u64, bufs: &[AlignedBytes]) -> io::Result<u64> {
    let mut slices: Vec<&[u8]> = bufs.iter().map(|b| b.as_slice()).filter(|s| !s.is_empty()).collect();
    let total: u64 = slices.iter().map(|s| s.len() as u64).sum();
    let mut written = 0u64;
    let mut first = 0usize;
    while first < slices.len() {
        let batch = &slices[first..slices.len().min(first + 1024)];
        let iov: Vec<libc::iovec> =
            batch.iter().map(|s| libc::iovec { iov_base: s.as_ptr() as *mut _, iov_len: s.len() }).collect();
        // SAFETY: every iovec points into a live, initialised slice borrowed for this call, and
        // pwritev only reads from them.
        let n = unsafe {
            libc::pwritev(file.as_raw_fd(), iov.as_ptr(), iov.len() as libc::c_int, (offset + written) as libc::off_t)
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "pwritev wrote nothing"));
        }
        let mut n = n as usize;
        written += n as u64;
        while n > 0 && first < slices.len() {
            let s = slices[first];
            if n >= s.len() {
                n -= s.len();
                first += 1;
            } else {
                slices[first] = &s[n..];
                n = 0;
            }
        }
    }
    debug_assert_eq!(written, total);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pwritev_writes_everything_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let f = OpenOptions::new().write(true).create(true).truncate(true).open(&path).unwrap();
        let bufs: Vec<AlignedBytes> = (0..2000u32).map(|i| AlignedBytes::copy_from_slice(&i.to_le_bytes())).collect();
        assert_eq!(pwritev_all(&f, 3, &bufs).unwrap(), 8000);
        let data = std::fs::read(&path).unwrap();
        assert_eq!(data.len(), 8003);
        assert_eq!(&data[3..7], &0u32.to_le_bytes());
        assert_eq!(&data[7999..8003], &1999u32.to_le_bytes());
    }

    #[test]
    fn direct_io_reads_are_byte_exact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let b = PreadBackend::with_config(PreadConfig { direct_io: true, ..Default::default() }).unwrap();
        let loc = Location::local(&path);
        let got = crate::IoBackendExt::read_ranges(&b, &loc, &[5..4097, 99_990..100_000, 0..0]).unwrap();
        assert_eq!(&got[0][..], &data[5..4097]);
        assert_eq!(&got[1][..], &data[99_990..100_000]);
        assert!(got[2].is_empty());
    }
}
