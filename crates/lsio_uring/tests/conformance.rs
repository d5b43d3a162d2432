//! Runs the lsio_io conformance suite against the io_uring backend: buffered with a small budget
//! (so the memory-bound check parks and wakes batches), with O_DIRECT, with one ring, and with
//! every option (registered buffers and files) on.

mod buffered {
    use lsio_io::conformance::LocalDir;
    use lsio_uring::{UringBackend, UringConfig};

    lsio_io::conformance_tests!(|| {
        let config = UringConfig { bytes_in_flight: 1 << 20, ..Default::default() };
        (UringBackend::with_config(config).expect("io_uring backend"), LocalDir::new())
    });
}

mod direct {
    use lsio_io::conformance::LocalDir;
    use lsio_uring::{UringBackend, UringConfig};

    lsio_io::conformance_tests!(|| {
        let config = UringConfig { bytes_in_flight: 1 << 20, direct_io: true, ..Default::default() };
        (UringBackend::with_config(config).expect("io_uring backend"), LocalDir::new())
    });
}

mod one_ring_shallow {
    use lsio_io::conformance::LocalDir;
    use lsio_uring::{UringBackend, UringConfig};

    // One ring with a queue of 4: ops wait for room in the queue, pieces of split reads queue up.
    lsio_io::conformance_tests!(|| {
        let config = UringConfig {
            rings: 1,
            queue_depth: 4,
            bytes_in_flight: 1 << 20,
            planner: lsio_io::PlannerConfig { max_gap: 16 << 10, max_merged_len: 1 << 20, split_len: 16 << 10 },
            ..Default::default()
        };
        (UringBackend::with_config(config).expect("io_uring backend"), LocalDir::new())
    });
}

mod registered {
    use lsio_io::conformance::LocalDir;
    use lsio_uring::{UringBackend, UringConfig};

    lsio_io::conformance_tests!(|| {
        let config = UringConfig {
            bytes_in_flight: 1 << 20,
            register_buffers: true,
            register_files: true,
            ..Default::default()
        };
        (UringBackend::with_config(config).expect("io_uring backend"), LocalDir::new())
    });
}
