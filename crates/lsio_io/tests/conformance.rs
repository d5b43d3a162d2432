//! Runs the conformance suite against the two backends of this crate.

mod memory {
    use lsio_io::conformance::TestEnv;
    use lsio_io::{AlignedBytes, Location, MemoryBackend};

    struct MemoryEnv(MemoryBackend);

    impl TestEnv for MemoryEnv {
        fn location(&self, name: &str) -> Location {
            Location::object(format!("memory:///{name}"))
        }
        fn put(&self, location: &Location, data: &[u8]) {
            self.0.put(location.clone(), AlignedBytes::copy_from_slice(data));
        }
        fn has_directories(&self) -> bool {
            false
        }
    }

    lsio_io::conformance_tests!(|| {
        let b = MemoryBackend::new();
        (b.clone(), MemoryEnv(b))
    });
}

mod pread {
    use lsio_io::conformance::LocalDir;
    use lsio_io::{PreadBackend, PreadConfig};

    // A small budget, so the memory-bound check exercises parking and waking.
    lsio_io::conformance_tests!(|| {
        let config = PreadConfig { threads: 8, bytes_in_flight: 1 << 20, ..Default::default() };
        (PreadBackend::with_config(config).expect("pread backend"), LocalDir::new())
    });
}

mod pread_direct {
    use lsio_io::conformance::LocalDir;
    use lsio_io::{PreadBackend, PreadConfig};

    lsio_io::conformance_tests!(|| {
        let config = PreadConfig { threads: 4, bytes_in_flight: 1 << 20, direct_io: true, ..Default::default() };
        (PreadBackend::with_config(config).expect("pread backend"), LocalDir::new())
    });
}
