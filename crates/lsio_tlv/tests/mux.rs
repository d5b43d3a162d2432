//! Arrow tables multiplexed over TCP and Unix sockets, with backpressure.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use lsio_tlv::{AsyncTlvWriter, Error, MuxEvent, MuxReader, MuxWriter, WriterConfig};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UnixStream};

fn table_a(batch: i64, rows: i64) -> RecordBatch {
    let ids: Vec<i64> = (0..rows).map(|i| batch * rows + i).collect();
    RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(ids.clone())) as ArrayRef),
        ("x", Arc::new(Float64Array::from_iter_values(ids.iter().map(|&i| i as f64 * 0.5))) as ArrayRef),
    ])
    .unwrap()
}

fn table_b(batch: i64) -> RecordBatch {
    let names: Vec<String> = (0..100).map(|i| format!("name-{batch}-{i}")).collect();
    RecordBatch::try_from_iter([("name", Arc::new(StringArray::from(names)) as ArrayRef)]).unwrap()
}

#[tokio::test]
async fn interleaved_tables_over_tcp() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = tokio::spawn(async move {
        let (conn, _) = listener.accept().await.unwrap();
        let mut r = MuxReader::new(conn);
        let mut events = Vec::new();
        while let Some(e) = r.next_event().await.unwrap() {
            events.push(e);
        }
        events
    });
    let conn = TcpStream::connect(addr).await.unwrap();
    let mut w = MuxWriter::new(conn);
    w.open(10, table_a(0, 1).schema()).unwrap();
    w.open(20, table_b(0).schema()).unwrap();
    w.open(30, table_b(0).schema()).unwrap(); // a table without batches
    for i in 0..5 {
        w.write_batch(10, &table_a(i, 1000)).await.unwrap();
        if i % 2 == 0 {
            w.write_batch(20, &table_b(i)).await.unwrap();
        }
    }
    w.close(10).await.unwrap();
    w.finish().await.unwrap();

    let events = reader.await.unwrap();
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut closed = Vec::new();
    let mut schemas = Vec::new();
    for e in events {
        match e {
            MuxEvent::Schema { channel, .. } => schemas.push(channel),
            MuxEvent::Batch { channel: 10, batch } => {
                // Decoded in place: the column data sits 64-byte aligned in the receive buffer.
                for col in batch.columns() {
                    assert_eq!(col.to_data().buffers()[0].as_ptr() as usize % 64, 0);
                }
                a.push(batch)
            }
            MuxEvent::Batch { channel: 20, batch } => b.push(batch),
            MuxEvent::Closed { channel } => closed.push(channel),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(schemas, [10, 20, 30]);
    assert_eq!(closed, [10, 20, 30]);
    assert_eq!(a, (0..5).map(|i| table_a(i, 1000)).collect::<Vec<_>>());
    assert_eq!(b, [table_b(0), table_b(2), table_b(4)]);
}

#[tokio::test]
async fn both_directions_over_a_unix_socket() {
    let (left, right) = UnixStream::pair().unwrap();
    let side = |conn: UnixStream, channel: u32, make: fn(i64) -> RecordBatch| async move {
        let (rd, wr) = conn.into_split();
        let send = async move {
            let mut w = MuxWriter::new(wr);
            w.open(channel, make(0).schema()).unwrap();
            for i in 0..20 {
                w.write_batch(channel, &make(i)).await.unwrap();
            }
            w.finish().await.unwrap();
        };
        let (_, tables) = tokio::join!(send, MuxReader::new(rd).read_all());
        tables.unwrap()
    };
    let (l, r) = tokio::join!(side(left, 1, |i| table_a(i, 500)), side(right, 2, table_b));
    assert_eq!(l[&2].batches, (0..20).map(table_b).collect::<Vec<_>>());
    assert_eq!(r[&1].num_rows(), 20 * 500);
    assert_eq!(r[&1].batches[19], table_a(19, 500));
}

/// A writer of many batches against a reader that sleeps: the writer must wait for the reader,
/// so what it has written but the reader has not yet consumed stays bounded by the buffers in
/// between (the writer's buffer, the two socket buffers, the reader's read buffer), far below
/// the total sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_slows_the_writer_down() {
    const BATCHES: u64 = 400;
    const ROWS: i64 = 1024; // 16 KiB of column data per batch
    let (listener, recv_buffer) = {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(32 << 10).unwrap(); // accepted sockets inherit it
        let size = socket.recv_buffer_size().unwrap() as u64;
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        (socket.listen(1).unwrap(), size)
    };
    let addr = listener.local_addr().unwrap();
    let written = Arc::new(AtomicU64::new(0));

    let writer = {
        let written = Arc::clone(&written);
        tokio::spawn(async move {
            let socket = TcpSocket::new_v4().unwrap();
            socket.set_send_buffer_size(32 << 10).unwrap();
            let send_buffer = socket.send_buffer_size().unwrap() as u64;
            let conn = socket.connect(addr).await.unwrap();
            let mut w = MuxWriter::new(conn);
            let batch = table_a(0, ROWS);
            w.open(1, batch.schema()).unwrap();
            for _ in 0..BATCHES {
                w.write_batch(1, &batch).await.unwrap();
                written.fetch_add(1, Ordering::SeqCst);
            }
            let stream_bytes = w.written();
            w.finish().await.unwrap();
            (stream_bytes, send_buffer)
        })
    };

    let (conn, _) = listener.accept().await.unwrap();
    let mut r = MuxReader::new(conn);
    let mut read = 0u64;
    let mut max_ahead = 0u64;
    while let Some(event) = r.next_event().await.unwrap() {
        if let MuxEvent::Batch { batch, .. } = event {
            assert_eq!(batch.num_rows() as i64, ROWS);
            read += 1;
            max_ahead = max_ahead.max(written.load(Ordering::SeqCst).saturating_sub(read));
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
    let (stream_bytes, send_buffer) = writer.await.unwrap();
    assert_eq!(read, BATCHES);
    let per_batch = stream_bytes / BATCHES;
    let defaults = lsio_tlv::MuxConfig::default();
    let in_between =
        defaults.writer.buffer_size as u64 + send_buffer + recv_buffer + defaults.reader.buffer_size as u64;
    let bound = in_between / per_batch + 2;
    assert!(
        max_ahead <= bound,
        "the writer ran {max_ahead} batches ({} KiB) ahead of the reader; the buffers in between hold {bound}",
        (max_ahead * per_batch) >> 10
    );
    assert!(bound < BATCHES / 3, "the test sends too little to show backpressure");
    assert!(max_ahead >= 2, "the writer never ran ahead: the test measures nothing");
}

#[tokio::test]
async fn protocol_errors_name_the_channel() {
    // Misuse on the writer side.
    let mut w = MuxWriter::new(tokio::io::sink());
    let batch = table_a(0, 3);
    assert!(matches!(w.write_batch(1, &batch).await, Err(Error::ChannelMisuse { channel: 1, .. })));
    w.open(1, batch.schema()).unwrap();
    assert!(matches!(w.open(1, batch.schema()), Err(Error::ChannelMisuse { channel: 1, .. })));
    assert!(matches!(w.write_batch(1, &table_b(0)).await, Err(Error::ChannelMisuse { channel: 1, .. })));
    w.close(1).await.unwrap();
    assert!(matches!(w.close(1).await, Err(Error::ChannelMisuse { channel: 1, .. })));

    // A frame after a channel's Arrow end-of-stream.
    let eos = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
    let mut raw = AsyncTlvWriter::with_config(Vec::new(), WriterConfig::default().with_align(64)).unwrap();
    raw.write_frame(5, &eos).await.unwrap();
    raw.write_frame(5, &eos).await.unwrap();
    let bytes = raw.finish().await.unwrap();
    let mut r = MuxReader::new(&bytes[..]);
    assert!(matches!(r.next_event().await, Ok(Some(MuxEvent::Closed { channel: 5 }))));
    let err = r.next_event().await.unwrap_err();
    assert!(matches!(err, Error::ChannelClosed { channel: 5, index: 1, offset: 128 }), "{err}");

    // A channel left open, and garbage on a channel.
    let mut w = MuxWriter::new(Vec::new());
    w.open(7, batch.schema()).unwrap();
    w.write_batch(7, &batch).await.unwrap();
    let mut raw = AsyncTlvWriter::with_config(Vec::new(), WriterConfig::default().with_align(64)).unwrap();
    raw.write_frame(3, b"not arrow at all").await.unwrap();
    let bytes = raw.finish().await.unwrap();
    let err = MuxReader::new(&bytes[..]).read_all().await.unwrap_err();
    assert!(matches!(err, Error::InvalidIpc { offset: 64, .. }), "{err}");
    assert!(err.to_string().contains("channel 3, frame 0"), "{err}");
    let mut raw = AsyncTlvWriter::with_config(Vec::new(), WriterConfig::default().with_align(64)).unwrap();
    raw.write_frame(9, &eos).await.unwrap();
    raw.write_frame(8, &[]).await.unwrap();
    let bytes = raw.finish().await.unwrap();
    let mut r = MuxReader::new(&bytes[..]);
    let err = loop {
        if let Err(e) = r.next_event().await {
            break e;
        }
    };
    assert!(matches!(err, Error::ChannelNotClosed { channel: 8 }), "{err}");
}
