//! Untrusted input: truncations, byte flips, random bytes, corrupt lengths. Every reader must
//! return an error naming an offset, never panic.

mod common;

use std::io::Cursor;
use std::sync::OnceLock;

use common::all_types;
use lsio_aligned::AlignedBytes;
use lsio_io::{Location, MemoryBackend};
use lsio_ipc::*;
use proptest::prelude::*;

struct Inputs {
    files: Vec<Vec<u8>>,
    streams: Vec<Vec<u8>>,
}

fn inputs() -> &'static Inputs {
    static I: OnceLock<Inputs> = OnceLock::new();
    I.get_or_init(|| {
        let batches = [all_types(20, 1), all_types(0, 2), all_types(20, 3).slice(3, 11)];
        let mut files = Vec::new();
        let mut streams = Vec::new();
        for codec in [None, Some(Compression::Lz4Frame), Some(Compression::Zstd(1))] {
            let o = WriteOptions::default().with_compression(codec);
            let mut w = FileWriter::try_new(Vec::new(), batches[0].schema(), o.clone()).unwrap();
            let mut s = StreamWriter::try_new(Vec::new(), batches[0].schema(), o).unwrap();
            for b in &batches {
                w.write(b).unwrap();
                s.write(b).unwrap();
            }
            w.finish().unwrap();
            s.finish().unwrap();
            files.push(w.into_inner());
            streams.push(s.into_inner());
        }
        Inputs { files, streams }
    })
}

fn limits() -> ReadOptions {
    // Small limits so that corrupt lengths are caught before allocating.
    ReadOptions::default().with_limits(Limits { max_body_len: 1 << 20, max_buffer_len: 1 << 20, ..Limits::default() })
}

/// Runs every reader over `bytes`; returns how many of them succeeded entirely.
fn exercise(bytes: &[u8]) -> usize {
    let mut ok = 0;
    for options in [limits(), limits().with_projection(vec![12, 31, 33, 35])] {
        // Stream reader (reads files front to back too).
        if let Ok(r) = StreamReader::try_new(Cursor::new(bytes), options.clone())
            && r.collect::<Result<Vec<_>>>().is_ok()
        {
            ok += 1;
        }
        // Random access: memory, Read + Seek, backend.
        if let Ok(mut r) = FileReader::from_bytes(AlignedBytes::copy_from_slice(bytes), options.clone())
            && r.read_all().is_ok()
        {
            ok += 1;
        }
        if let Ok(r) = FileReader::from_reader(Cursor::new(bytes), options.clone())
            && r.collect::<Result<Vec<_>>>().is_ok()
        {
            ok += 1;
        }
        let backend = MemoryBackend::new();
        let loc = Location::object("x");
        backend.put(loc.clone(), AlignedBytes::copy_from_slice(bytes));
        if let Ok(mut r) = FileReader::from_backend(backend, loc, options.clone())
            && r.read_all().is_ok()
        {
            ok += 1;
        }
    }
    ok
}

#[test]
fn valid_inputs_read() {
    for f in &inputs().files {
        assert_eq!(exercise(f), 8);
    }
    for s in &inputs().streams {
        assert_eq!(exercise(s), 2);
    }
}

proptest! {
    #[test]
    fn byte_flips_never_panic(which in 0usize..6, flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4)) {
        let i = inputs();
        let mut bytes = if which < 3 { i.files[which].clone() } else { i.streams[which - 3].clone() };
        for (at, x) in flips {
            let k = at.index(bytes.len());
            bytes[k] ^= x;
        }
        exercise(&bytes);
    }

    #[test]
    fn truncations_never_panic(which in 0usize..6, cut in any::<prop::sample::Index>()) {
        let i = inputs();
        let full = if which < 3 { &i.files[which] } else { &i.streams[which - 3] };
        let n = cut.index(full.len());
        let bytes = &full[..n];
        exercise(bytes);
        if which < 3 {
            // A truncated file never reads as a shorter valid file.
            prop_assert!(FileReader::from_bytes(AlignedBytes::copy_from_slice(bytes), limits()).is_err());
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), magic in any::<bool>()) {
        let mut bytes = bytes;
        if magic && bytes.len() >= 20 {
            // Make it look like a file, to get past the first checks.
            bytes[..8].copy_from_slice(b"ARROW1\0\0");
            let n = bytes.len();
            bytes[n - 6..].copy_from_slice(b"ARROW1");
        }
        prop_assert_eq!(exercise(&bytes), 0);
    }
}

#[test]
fn errors_name_offsets() {
    let file = &inputs().files[0];
    // Truncated: the trailing magic is gone.
    let e = FileReader::from_bytes(AlignedBytes::copy_from_slice(&file[..file.len() - 1]), limits()).unwrap_err();
    assert!(matches!(e, Error::MissingFooter { .. }), "{e}");
    // Corrupt footer length.
    let mut b = file.clone();
    let n = b.len();
    b[n - 10..n - 6].copy_from_slice(&i32::MAX.to_le_bytes());
    let e = FileReader::from_bytes(AlignedBytes::copy_from_slice(&b), limits()).unwrap_err();
    assert_eq!(e.offset(), Some(n as u64 - 10), "{e}");
    b[n - 10..n - 6].copy_from_slice(&(-5i32).to_le_bytes());
    let e = FileReader::from_bytes(AlignedBytes::copy_from_slice(&b), limits()).unwrap_err();
    assert!(e.to_string().contains("footer length -5"), "{e}");
    // A huge metadata length in a stream is refused before allocating.
    let mut s = inputs().streams[0].clone();
    s[4..8].copy_from_slice(&i32::MAX.to_le_bytes());
    let e = StreamReader::try_new(Cursor::new(&s), limits()).unwrap_err();
    assert!(matches!(e, Error::LimitExceeded { offset: 0, .. }), "{e}");
    // A flipped byte in the schema flatbuffer.
    let mut s = inputs().streams[0].clone();
    s[20] ^= 0xff;
    if let Err(e) = StreamReader::try_new(Cursor::new(&s), limits()) {
        assert!(e.offset().is_some() || matches!(e, Error::Unsupported(_)), "{e}");
    }
    // Random bytes.
    let e = StreamReader::try_new(Cursor::new(b"not an arrow stream at all"), limits()).unwrap_err();
    assert!(e.offset().is_some(), "{e}");
}
