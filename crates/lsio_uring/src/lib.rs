#![doc = include_str!("../README.md")]

mod config;
mod file;
mod fixed;
mod probe;
mod read;
mod slab;
mod stats;
mod statx;
mod worker;
mod write;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;

use lsio_aligned::{BufferPool, DIRECT_IO_ALIGN, PoolConfig};
use lsio_io::{Error, IoBackend, ReadBatch, ReadRequest, WriteBatch, WriteRequest, batch};

pub use config::UringConfig;
pub use fixed::FIXED_BUFFER_LEN;
pub use probe::{UringUnavailable, io_uring_available};
pub use stats::UringStats;

use config::MAX_RINGS;
use read::ReadBatchShared;
use stats::Counters;
use worker::{Cmd, Shared, WaitMode, WakeFd, WorkerLink, group_by_location};

/// The io_uring backend: worker threads, each with its own ring. See the crate documentation.
#[derive(Debug)]
pub struct UringBackend {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    next: AtomicUsize,
}

impl UringBackend {
    /// A backend with [`UringConfig::default`].
    ///
    /// # Errors
    /// When io_uring is unavailable (the message names the cause: no kernel support, disabled by
    /// `kernel.io_uring_disabled`, blocked by seccomp, memory limits) or a thread cannot start.
    pub fn new() -> io::Result<Self> {
        Self::with_config(UringConfig::default())
    }

    /// A backend with the given settings; starts `config.rings` threads and sets up their rings.
    ///
    /// # Errors
    /// Invalid settings (`rings` not in 1..=64, `queue_depth` 0, `alignment` not a power of two)
    /// give [`io::ErrorKind::InvalidInput`]; ring setup failures give an error naming the cause
    /// (see [`io_uring_available`]).
    pub fn with_config(config: UringConfig) -> io::Result<Self> {
        Self::build(config, WaitMode::from_env(), None)
    }

    fn build(mut config: UringConfig, wait: WaitMode, dio_align_override: Option<(usize, u64)>) -> io::Result<Self> {
        let invalid = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        if config.rings == 0 || config.rings > MAX_RINGS {
            return invalid(format!("rings must be 1..={MAX_RINGS}, not {}", config.rings));
        }
        if config.queue_depth == 0 {
            return invalid("queue_depth must be at least 1".to_owned());
        }
        if !config.alignment.is_power_of_two() {
            return invalid(format!("alignment {} is not a power of two", config.alignment));
        }
        if config.direct_io {
            config.alignment = config.alignment.max(DIRECT_IO_ALIGN);
        }
        let pool = if config.register_buffers {
            let pool_config = PoolConfig {
                alignment: config.alignment.max(DIRECT_IO_ALIGN),
                size_classes: vec![FIXED_BUFFER_LEN],
                max_bytes: config.rings * config.queue_depth as usize * FIXED_BUFFER_LEN,
            };
            Some(BufferPool::new(pool_config).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?)
        } else {
            None
        };
        let mut workers = Vec::with_capacity(config.rings);
        let mut receivers = Vec::with_capacity(config.rings);
        for _ in 0..config.rings {
            let (tx, rx) = crossbeam_channel::unbounded();
            workers.push(WorkerLink { tx, wake: WakeFd::new()? });
            receivers.push(rx);
        }
        let shared = Arc::new(Shared {
            counters: (0..config.rings).map(|_| Arc::new(Counters::default())).collect(),
            config,
            workers,
            shutdown: AtomicBool::new(false),
            pool,
            wait,
            dio_align_override,
        });
        let mut backend = UringBackend { shared: shared.clone(), threads: Vec::new(), next: AtomicUsize::new(0) };
        for (id, rx) in receivers.into_iter().enumerate() {
            // On error, dropping `backend` stops the rings already started.
            backend.threads.push(worker::spawn(id, shared.clone(), rx)?);
        }
        Ok(backend)
    }

    /// The settings in force.
    pub fn config(&self) -> &UringConfig {
        &self.shared.config
    }

    /// Counters since the backend was made, summed over its rings.
    pub fn stats(&self) -> UringStats {
        let mut s = UringStats::default();
        for c in &self.shared.counters {
            c.add_to(&mut s);
        }
        s
    }

    /// The ring for the next file (round robin, so consecutive batches land on different rings).
    fn pick(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.shared.workers.len()
    }
}

impl Drop for UringBackend {
    /// Cancels work that has not started, waits for operations in flight (their buffers stay
    /// alive until the kernel is done with them), closes the files and joins the threads.
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        for w in 0..self.shared.workers.len() {
            let _ = self.shared.send(w, Cmd::Stop);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl IoBackend for UringBackend {
    fn name(&self) -> &str {
        "io_uring"
    }

    fn read(&self, requests: Vec<ReadRequest>) -> ReadBatch {
        let (tx, rx) = batch(requests.len(), self.shared.config.bytes_in_flight);
        let batch = Arc::new(ReadBatchShared::new(tx, self.shared.workers.len()));
        for (location, reqs) in group_by_location(requests, |r| &r.location) {
            let w = self.pick();
            if let Err(Cmd::Read { reqs, .. }) = self.shared.send(w, Cmd::Read { batch: batch.clone(), location, reqs })
            {
                for r in reqs {
                    batch.tx.send(Err(Error::Cancelled { tag: Some(r.tag) }), 0);
                }
            }
        }
        rx
    }

    fn write(&self, requests: Vec<WriteRequest>) -> WriteBatch {
        let (tx, rx) = batch(requests.len(), self.shared.config.bytes_in_flight);
        for (location, reqs) in group_by_location(requests, |r| &r.location) {
            let w = self.pick();
            if let Err(Cmd::Write { reqs, .. }) = self.shared.send(w, Cmd::Write { tx: tx.clone(), location, reqs }) {
                for r in reqs {
                    tx.send(Err(Error::Cancelled { tag: Some(r.tag) }), 0);
                }
            }
        }
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsio_io::{IoBackendExt, Location};

    /// A filesystem that accepts `O_DIRECT` on open but refuses the first read (here: reads
    /// deliberately misaligned) makes the file fall back to buffered reads, byte-exact.
    #[test]
    fn direct_io_refused_on_first_read_falls_back_to_buffered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let loc = Location::local(&path);
        for register in [false, true] {
            let config = UringConfig {
                direct_io: true,
                register_files: register,
                register_buffers: register,
                planner: lsio_io::PlannerConfig { max_gap: 0, max_merged_len: 0, split_len: 8192 },
                ..Default::default()
            };
            let backend = UringBackend::build(config, WaitMode::from_env(), Some((1, 1))).unwrap();
            let ranges: Vec<std::ops::Range<u64>> = (0..40u64).map(|i| i * 7001 + 3..i * 7001 + 3 + 5000).collect();
            let got = backend.read_ranges(&loc, &ranges).unwrap();
            for (r, g) in ranges.iter().zip(&got) {
                assert_eq!(&g[..], &data[r.start as usize..r.end as usize]);
            }
            let stats = backend.stats();
            assert_eq!(stats.direct_io_fallbacks, 1, "{stats:?}");
            // The O_DIRECT descriptor and the buffered one.
            assert_eq!(stats.files_opened, 2, "{stats:?}");
            drop(backend);
        }
    }

    /// The wait mode used under valgrind (`poll(2)` on the ring) runs the conformance suite.
    #[test]
    fn poll_wait_mode_passes_the_conformance_suite() {
        use lsio_io::conformance::{self, LocalDir};
        let make = || {
            let config = UringConfig { bytes_in_flight: 1 << 20, ..Default::default() };
            UringBackend::build(config, WaitMode::Poll, None).unwrap()
        };
        let env = LocalDir::new();
        conformance::random_ranges_byte_exact(&make(), &env);
        conformance::memory_bound_100k(&make(), &env);
        conformance::drop_mid_flight(&make(), &env);
        conformance::writes_round_trip(&make(), &env);
        conformance::past_eof_fails_alone(&make(), &env);
    }
}
