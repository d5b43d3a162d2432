//! Round trips through every writer and reader of this crate, and both ways with arrow-rs.

mod common;

use std::io::Cursor;
use std::sync::Arc;

use arrow_array::RecordBatch;
use common::{all_types, assert_same, simple};
use lsio_aligned::AlignedBytes;
use lsio_io::{Location, MemoryBackend};
use lsio_ipc::*;

const CODECS: [Option<Compression>; 3] = [None, Some(Compression::Lz4Frame), Some(Compression::Zstd(3))];

fn batches() -> Vec<RecordBatch> {
    let b = all_types(100, 1);
    vec![b.clone(), all_types(0, 2), b.slice(13, 50), all_types(37, 3)]
}

fn write_stream(batches: &[RecordBatch], options: WriteOptions) -> Vec<u8> {
    let mut w = StreamWriter::try_new(Vec::new(), batches[0].schema(), options).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
    w.into_inner()
}

fn write_file(batches: &[RecordBatch], options: WriteOptions) -> Vec<u8> {
    let mut w = FileWriter::try_new(Vec::new(), batches[0].schema(), options).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
    w.into_inner()
}

#[test]
fn stream_and_file_round_trip_every_type_and_codec() {
    let input = batches();
    for codec in CODECS {
        let opts = WriteOptions::default().with_compression(codec);
        let stream = write_stream(&input, opts.clone());
        let got: Vec<_> =
            StreamReader::try_new(Cursor::new(&stream), ReadOptions::default()).unwrap().map(|b| b.unwrap()).collect();
        assert_eq!(got.len(), input.len());
        assert_same(&input, &got);

        let file = write_file(&input, opts);
        // Memory (as from a map).
        let mut r = FileReader::from_bytes(AlignedBytes::copy_from_slice(&file), ReadOptions::default()).unwrap();
        assert_eq!(r.num_batches(), input.len());
        let got = r.read_all().unwrap();
        assert_same(&input, &got);
        if codec.is_none() {
            let s = r.stats().copies;
            assert_eq!(s.buffers_copied, 0, "{s:?}");
            assert!(s.buffers_zero_copy > 100, "{s:?}");
        } else {
            assert!(r.stats().copies.buffers_decompressed > 0);
        }
        // Read + Seek.
        let got: Vec<_> =
            FileReader::from_reader(Cursor::new(&file), ReadOptions::default()).unwrap().map(|b| b.unwrap()).collect();
        assert_same(&input, &got);
        // A file read front to back as a stream.
        let got: Vec<_> =
            StreamReader::try_new(Cursor::new(&file), ReadOptions::default()).unwrap().map(|b| b.unwrap()).collect();
        assert_same(&input, &got);
        // Through a backend.
        let backend = MemoryBackend::new();
        let loc = Location::object("t.arrow");
        backend.put(loc.clone(), AlignedBytes::copy_from_slice(&file));
        let got = FileReader::from_backend(backend, loc, ReadOptions::default()).unwrap().read_all().unwrap();
        assert_same(&input, &got);
    }
}

#[test]
fn mmap_reader_is_zero_copy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.arrow");
    std::fs::write(&path, write_file(&batches(), WriteOptions::default())).unwrap();
    let mut r = MmapFileReader::open(&path, ReadOptions::default()).unwrap();
    assert_eq!(r.stats().bytes_read, 0);
    let got = r.read_all().unwrap();
    assert_same(&batches(), &got);
    let s = r.stats().copies;
    assert_eq!((s.buffers_copied, s.bytes_copied), (0, 0), "{s:?}");
    // The decoded buffers point into the map.
    let col = got[0].column(3).to_data();
    let p = col.buffers()[0].as_ptr() as usize;
    assert_eq!(p % 64, 0);
}

#[test]
fn projection_reads_only_chosen_columns() {
    let input: Vec<RecordBatch> = (0..4).map(|i| simple(20_000, i)).collect();
    let file = write_file(&input, WriteOptions::default());
    let backend = MemoryBackend::new();
    let loc = Location::object("p.arrow");
    backend.put(loc.clone(), AlignedBytes::copy_from_slice(&file));
    let mut r = FileReader::from_backend(backend, loc, ReadOptions::default().with_projection(vec![0])).unwrap();
    let got = r.read_all().unwrap();
    let expect: Vec<_> = input.iter().map(|b| b.project(&[0]).unwrap()).collect();
    assert_same(&expect, &got);
    let col_bytes: usize = input.iter().map(|b| b.column(0).get_buffer_memory_size()).sum();
    let st = r.stats();
    assert!(
        st.bytes_read < (col_bytes as u64) + (file.len() as u64) / 20,
        "{st:?} col {col_bytes} file {}",
        file.len()
    );
    // Metadata round + buffer round, plus the footer.
    assert!(st.source_calls <= 4, "{st:?}");

    // Nested projection: the struct and list columns of the all-types batch.
    let input = batches();
    let file = write_file(&input, WriteOptions::default().with_compression(Some(Compression::Zstd(1))));
    let names = ["list_i32", "struct", "map", "dict", "dense_union", "utf8_view"];
    let schema = input[0].schema();
    let cols: Vec<usize> = names.iter().map(|n| schema.index_of(n).unwrap()).collect();
    let mut r =
        FileReader::from_reader(Cursor::new(&file), ReadOptions::default().with_projection(cols.clone())).unwrap();
    let got = r.read_all().unwrap();
    let expect: Vec<_> = input.iter().map(|b| b.project(&cols).unwrap()).collect();
    assert_same(&expect, &got);
    // The stream reader projects too (it reads everything, decodes the chosen columns).
    let stream = write_stream(&input, WriteOptions::default());
    let got: Vec<_> = StreamReader::try_new(Cursor::new(&stream), ReadOptions::default().with_projection(cols))
        .unwrap()
        .map(|b| b.unwrap())
        .collect();
    assert_same(&expect, &got);
}

#[test]
fn empty_tables_and_zero_row_batches() {
    let schema = all_types(1, 0).schema();
    for is_file in [false, true] {
        let bytes = if is_file {
            let mut w = FileWriter::try_new(Vec::new(), schema.clone(), WriteOptions::default()).unwrap();
            w.finish().unwrap();
            w.into_inner()
        } else {
            let mut w = StreamWriter::try_new(Vec::new(), schema.clone(), WriteOptions::default()).unwrap();
            w.finish().unwrap();
            w.into_inner()
        };
        let r = StreamReader::try_new(Cursor::new(&bytes), ReadOptions::default()).unwrap();
        assert_eq!(r.schema(), schema);
        assert_eq!(r.count(), 0);
        if is_file {
            let r = FileReader::from_bytes(AlignedBytes::copy_from_slice(&bytes), ReadOptions::default()).unwrap();
            assert_eq!(r.num_batches(), 0);
            assert_eq!(r.schema(), schema);
        }
    }
}

#[test]
fn unfinished_file_is_rejected() {
    let input = batches();
    let mut w = FileWriter::try_new(Vec::new(), input[0].schema(), WriteOptions::default()).unwrap();
    for b in &input {
        w.write(b).unwrap();
    }
    let bytes = w.into_inner();
    let err = FileReader::from_bytes(AlignedBytes::copy_from_slice(&bytes), ReadOptions::default()).unwrap_err();
    assert!(matches!(err, Error::MissingFooter { .. }), "{err}");
    assert!(err.to_string().contains("did not finish"), "{err}");
    // Read front to back, it is not taken for a shorter complete file either.
    let r = StreamReader::try_new(Cursor::new(&bytes), ReadOptions::default()).unwrap();
    let results: Vec<_> = r.collect();
    assert!(matches!(results.last(), Some(Err(Error::MissingFooter { .. }))));
}

#[test]
fn dictionaries_replacement_and_delta() {
    use arrow_array::types::Int32Type;
    use arrow_array::{DictionaryArray, Int32Array, StringArray};
    let mk = |vals: &[&str], keys: Vec<i32>| -> RecordBatch {
        let d =
            DictionaryArray::<Int32Type>::try_new(Int32Array::from(keys), Arc::new(StringArray::from(vals.to_vec())))
                .unwrap();
        RecordBatch::try_from_iter([("d", Arc::new(d) as _)]).unwrap()
    };
    let input = vec![
        mk(&["a", "b"], vec![0, 1, 1]),
        mk(&["a", "b"], vec![1, 0]),
        mk(&["a", "b", "c"], vec![2, 0]),
        mk(&["x", "y"], vec![1]),
    ];
    for handling in [DictionaryHandling::Resend, DictionaryHandling::Delta] {
        let bytes = write_stream(&input, WriteOptions::default().with_dictionary_handling(handling));
        let got: Vec<_> =
            StreamReader::try_new(Cursor::new(&bytes), ReadOptions::default()).unwrap().map(|b| b.unwrap()).collect();
        assert_eq!(got.len(), 4);
        for (a, b) in input.iter().zip(&got) {
            // Compare logically (the dictionary may grow by deltas).
            let ca = arrow_cast::cast(a.column(0), &arrow_schema::DataType::Utf8).unwrap();
            let cb = arrow_cast::cast(b.column(0), &arrow_schema::DataType::Utf8).unwrap();
            assert_eq!(ca.to_data(), cb.to_data());
        }
        let text = {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("d.arrows");
            std::fs::write(&p, &bytes).unwrap();
            tools::inspect(&p).unwrap()
        };
        assert_eq!(text.contains("(delta)"), handling == DictionaryHandling::Delta, "{text}");
        // arrow-rs reads both.
        let r = arrow_ipc::reader::StreamReader::try_new(Cursor::new(&bytes), None).unwrap();
        assert_eq!(r.map(|b| b.unwrap().num_rows()).sum::<usize>(), 8);
    }
    // A file cannot replace a dictionary.
    let mut w = FileWriter::try_new(Vec::new(), input[0].schema(), WriteOptions::default()).unwrap();
    w.write(&input[0]).unwrap();
    w.write(&input[1]).unwrap();
    assert!(matches!(w.write(&input[3]), Err(Error::InvalidArgument(_))));
}

#[test]
fn arrow_rs_reads_what_we_write() {
    let input = batches();
    for codec in CODECS {
        let opts = WriteOptions::default().with_compression(codec);
        let stream = write_stream(&input, opts.clone());
        let got: Vec<_> =
            arrow_ipc::reader::StreamReader::try_new(Cursor::new(&stream), None).unwrap().map(|b| b.unwrap()).collect();
        assert_same(&input, &got);
        let file = write_file(&input, opts);
        let got: Vec<_> =
            arrow_ipc::reader::FileReader::try_new(Cursor::new(&file), None).unwrap().map(|b| b.unwrap()).collect();
        assert_same(&input, &got);
    }
}

#[test]
fn we_read_what_arrow_rs_writes() {
    use arrow_ipc::writer::IpcWriteOptions;
    let input = batches();
    for codec in [None, Some(arrow_ipc::CompressionType::LZ4_FRAME), Some(arrow_ipc::CompressionType::ZSTD)] {
        for align in [8, 64] {
            let o = IpcWriteOptions::try_new(align, false, arrow_ipc::MetadataVersion::V5)
                .unwrap()
                .try_with_compression(codec)
                .unwrap();
            let mut w =
                arrow_ipc::writer::FileWriter::try_new_with_options(Vec::new(), &input[0].schema(), o.clone()).unwrap();
            for b in &input {
                w.write(b).unwrap();
            }
            w.finish().unwrap();
            let file = w.into_inner().unwrap();
            let mut r = FileReader::from_bytes(AlignedBytes::copy_from_slice(&file), ReadOptions::default()).unwrap();
            let got = r.read_all().unwrap();
            assert_same(&input, &got);
            if codec.is_none() && align == 8 {
                // 8-byte alignment leaves some 16-byte types (decimals, views) misaligned:
                // they are copied, and counted.
                let s = r.stats().copies;
                assert!(s.buffers_copied > 0, "{s:?}");
            }
            let mut w =
                arrow_ipc::writer::StreamWriter::try_new_with_options(Vec::new(), &input[0].schema(), o).unwrap();
            for b in &input {
                w.write(b).unwrap();
            }
            w.finish().unwrap();
            let stream = w.into_inner().unwrap();
            let got: Vec<_> = StreamReader::try_new(Cursor::new(&stream), ReadOptions::default())
                .unwrap()
                .map(|b| b.unwrap())
                .collect();
            assert_same(&input, &got);
        }
    }
}

#[test]
fn legacy_prefix_is_accepted() {
    use arrow_ipc::writer::IpcWriteOptions;
    let input = vec![simple(10, 0)];
    let o = IpcWriteOptions::try_new(8, true, arrow_ipc::MetadataVersion::V4).unwrap();
    let mut w = arrow_ipc::writer::StreamWriter::try_new_with_options(Vec::new(), &input[0].schema(), o).unwrap();
    w.write(&input[0]).unwrap();
    w.finish().unwrap();
    let stream = w.into_inner().unwrap();
    assert_ne!(&stream[..4], &CONTINUATION);
    let got: Vec<_> =
        StreamReader::try_new(Cursor::new(&stream), ReadOptions::default()).unwrap().map(|b| b.unwrap()).collect();
    assert_same(&input, &got);
}

#[test]
fn parallel_compression_matches_serial() {
    let input = vec![simple(300_000, 5)];
    let mut serial = WriteOptions::default().with_compression(Some(Compression::Zstd(1)));
    serial.compression_threads = 1;
    let mut parallel = serial.clone();
    parallel.compression_threads = 4;
    parallel.parallel_compression_min_bytes = 0;
    assert_eq!(write_file(&input, serial), write_file(&input, parallel));
}

#[cfg(feature = "scheduler")]
#[test]
fn compression_on_the_scheduler_matches_serial() {
    let input = vec![simple(300_000, 5)];
    let mut serial = WriteOptions::default().with_compression(Some(Compression::Zstd(1)));
    serial.compression_threads = 1;
    let mut pooled = serial.clone();
    pooled.executor = Some(Arc::new(lsio_scheduler::ThreadPool::with_threads(2).unwrap()));
    pooled.parallel_compression_min_bytes = 0;
    assert_eq!(write_file(&input, serial), write_file(&input, pooled));
}

#[test]
fn incompressible_buffers_pass_through() {
    // Random bytes do not shrink: stored after a -1 prefix.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let vals: Vec<i64> = (0..10_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as i64
        })
        .collect();
    let b = RecordBatch::try_from_iter([("r", Arc::new(arrow_array::Int64Array::from(vals)) as _)]).unwrap();
    let file =
        write_file(std::slice::from_ref(&b), WriteOptions::default().with_compression(Some(Compression::Lz4Frame)));
    assert!(file.windows(8).any(|w| w == (-1i64).to_le_bytes()));
    let mut r = FileReader::from_bytes(AlignedBytes::copy_from_slice(&file), ReadOptions::default()).unwrap();
    assert_same(std::slice::from_ref(&b), &r.read_all().unwrap());
    let got: Vec<_> =
        arrow_ipc::reader::FileReader::try_new(Cursor::new(&file), None).unwrap().map(|b| b.unwrap()).collect();
    assert_same(&[b], &got);
}

#[test]
fn vectored_writes_do_not_copy_buffers() {
    // A writer that records the slices it is given: each column buffer arrives as its own slice
    // pointing at the array's memory.
    struct Spy(Vec<usize>, usize);
    impl std::io::Write for Spy {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.1 += b.len();
            Ok(b.len())
        }
        fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
            let mut n = 0;
            for b in bufs {
                self.0.push(b.as_ptr() as usize);
                n += b.len();
            }
            self.1 += n;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let b = simple(1000, 0);
    let mut w = StreamWriter::try_new(Spy(Vec::new(), 0), b.schema(), WriteOptions::default()).unwrap();
    w.write(&b).unwrap();
    let spy = w.into_inner();
    let values = b.column(0).to_data().buffers()[0].as_ptr() as usize;
    assert!(spy.0.contains(&values));
}

#[tokio::test]
async fn async_round_trip() {
    let input = batches();
    for codec in CODECS {
        let opts = WriteOptions::default().with_compression(codec);
        let mut w = AsyncStreamWriter::try_new(Vec::new(), input[0].schema(), opts.clone()).await.unwrap();
        for b in &input {
            w.write(b).await.unwrap();
        }
        w.finish().await.unwrap();
        let bytes = w.into_inner();
        assert_eq!(bytes, write_stream(&input, opts.clone()));
        let r = AsyncStreamReader::try_new(Cursor::new(bytes), ReadOptions::default()).await.unwrap();
        use futures::StreamExt;
        let got: Vec<_> = r.into_stream().map(|b| b.unwrap()).collect().await;
        assert_same(&input, &got);

        let mut w = AsyncFileWriter::try_new(Vec::new(), input[0].schema(), opts.clone()).await.unwrap();
        for b in &input {
            w.write(b).await.unwrap();
        }
        w.finish().await.unwrap();
        let bytes = w.into_inner();
        assert_eq!(bytes, write_file(&input, opts));
        let got = FileReader::from_bytes(AlignedBytes::copy_from_slice(&bytes), ReadOptions::default())
            .unwrap()
            .read_all()
            .unwrap();
        assert_same(&input, &got);
    }
}
