//! Plain Arrow IPC streams over sockets, with pyarrow on the other end (`tests/pyarrow_peer.py`),
//! plus the same functions between two Rust ends over TCP and Unix sockets.
//!
//! The pyarrow tests fail when `import pyarrow` fails (run `scripts/test.sh`, which installs
//! it), unless `LSIO_SKIP_PYTHON=1`.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_ipc::writer::{FileWriter, StreamWriter};
use lsio_tlv::{Error, RecordBatches, ServeOptions, receive_ipc_stream, receive_ipc_stream_unix, serve_ipc_file_with};
use tokio::net::{TcpListener, UnixListener};

const ROWS: usize = 10_500;

/// Rows `start..start + len` of the table `pyarrow_peer.py` expects.
fn batch(start: usize, len: usize) -> RecordBatch {
    let ids: Vec<i64> = (start as i64..(start + len) as i64).collect();
    // Nullable fields, as pyarrow makes them.
    RecordBatch::try_from_iter_with_nullable([
        ("id", Arc::new(Int64Array::from(ids.clone())) as ArrayRef, true),
        ("x", Arc::new(Float64Array::from_iter_values(ids.iter().map(|&i| i as f64 * 0.5))) as ArrayRef, true),
        ("name", Arc::new(StringArray::from_iter_values(ids.iter().map(|i| format!("row-{i}")))) as ArrayRef, true),
    ])
    .unwrap()
}

fn batches() -> Vec<RecordBatch> {
    (0..ROWS).step_by(1000).map(|start| batch(start, 1000.min(ROWS - start))).collect()
}

/// Checks that `got` is the expected table, whatever its batch boundaries.
fn check(got: &RecordBatches) {
    assert_eq!(got.num_rows(), ROWS);
    assert_eq!(got.schema, batch(0, 0).schema());
    let mut row = 0;
    for b in &got.batches {
        assert_eq!(b, &batch(row, b.num_rows()));
        row += b.num_rows();
    }
}

fn write_file(dir: &Path, stream_format: bool) -> PathBuf {
    let path = dir.join(if stream_format { "t.arrows" } else { "t.arrow" });
    let file = std::fs::File::create(&path).unwrap();
    let schema = batch(0, 0).schema();
    if stream_format {
        let mut w = StreamWriter::try_new(file, &schema).unwrap();
        batches().iter().for_each(|b| w.write(b).unwrap());
        w.finish().unwrap();
    } else {
        let mut w = FileWriter::try_new(file, &schema).unwrap();
        batches().iter().for_each(|b| w.write(b).unwrap());
        w.finish().unwrap();
    }
    path
}

/// Whether to run the pyarrow tests; panics if pyarrow is missing and skipping was not asked.
fn pyarrow() -> bool {
    if std::env::var("LSIO_SKIP_PYTHON").is_ok_and(|v| v == "1") {
        eprintln!("LSIO_SKIP_PYTHON=1: skipping the pyarrow test");
        return false;
    }
    let ok = Command::new("python3").args(["-c", "import pyarrow"]).status().is_ok_and(|s| s.success());
    assert!(
        ok,
        "`python3 -c 'import pyarrow'` failed: run scripts/test.sh (which installs pyarrow), or \
         `pip install pyarrow`, or set LSIO_SKIP_PYTHON=1 to skip the pyarrow tests"
    );
    true
}

fn peer() -> Command {
    let mut cmd = Command::new("python3");
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pyarrow_peer.py"));
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyarrow_reads_what_serve_ipc_file_sends() {
    if !pyarrow() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for stream_format in [false, true] {
        let path = write_file(dir.path(), stream_format);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server =
            tokio::spawn(serve_ipc_file_with(path, listener, ServeOptions::default().with_max_connections(Some(1))));
        let out = tokio::task::spawn_blocking(move || {
            peer().args(["client", &port.to_string(), &ROWS.to_string()]).output().unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "pyarrow client failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.starts_with(&format!("ok {ROWS} rows in 11 batches")), "{stdout}");
        assert_eq!(tokio::time::timeout(Duration::from_secs(60), server).await.unwrap().unwrap().unwrap(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_ipc_stream_reads_what_pyarrow_sends() {
    if !pyarrow() {
        return;
    }
    let mut child = peer().args(["server", &ROWS.to_string()]).stdout(Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let port: u16 = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line).unwrap();
        line.trim().parse().unwrap()
    })
    .await
    .unwrap();
    let got =
        tokio::time::timeout(Duration::from_secs(60), receive_ipc_stream(("127.0.0.1", port))).await.unwrap().unwrap();
    assert!(tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap().success());
    check(&got);
    // Decoded in place from the aligned receive buffers: pyarrow aligns buffers to 8 bytes.
    assert_eq!(got.batches[3].column(0).to_data().buffers()[0].as_ptr() as usize % 8, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_ipc_file_serves_a_file_pyarrow_wrote() {
    if !pyarrow() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("py.arrow");
    let status = peer().arg("write-file").arg(&path).arg(ROWS.to_string()).status().unwrap();
    assert!(status.success());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server =
        tokio::spawn(serve_ipc_file_with(path, listener, ServeOptions::default().with_max_connections(Some(1))));
    check(&receive_ipc_stream(addr).await.unwrap());
    assert_eq!(server.await.unwrap().unwrap(), 1);
}

#[tokio::test]
async fn serve_and_receive_between_rust_ends_over_tcp_and_unix() {
    let dir = tempfile::tempdir().unwrap();
    for stream_format in [false, true] {
        let path = write_file(dir.path(), stream_format);

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve_ipc_file_with(
            path.clone(),
            listener,
            ServeOptions::default().with_max_connections(Some(2)),
        ));
        // Two clients at once.
        let (a, b) = tokio::join!(receive_ipc_stream(addr), receive_ipc_stream(addr));
        check(&a.unwrap());
        check(&b.unwrap());
        assert_eq!(server.await.unwrap().unwrap(), 2);

        let sock = dir.path().join(format!("s{stream_format}.sock"));
        let listener = UnixListener::bind(&sock).unwrap();
        let server =
            tokio::spawn(serve_ipc_file_with(path, listener, ServeOptions::default().with_max_connections(Some(1))));
        check(&receive_ipc_stream_unix(&sock).await.unwrap());
        assert_eq!(server.await.unwrap().unwrap(), 1);
    }
}

#[tokio::test]
async fn serving_a_file_that_is_not_arrow_fails_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk");
    std::fs::write(&path, b"this is not an Arrow file at all, just some text").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = lsio_tlv::serve_ipc_file(&path, listener).await.unwrap_err();
    assert!(matches!(err, Error::InvalidIpc { offset: 0, .. } | Error::IpcTruncated { .. }), "{err}");

    // A stream cut in the middle of a message.
    let full = write_file(dir.path(), true);
    let bytes = std::fs::read(&full).unwrap();
    let got = lsio_tlv::read_ipc_stream(&bytes[..bytes.len() / 2]).await.unwrap_err();
    assert!(matches!(got, Error::IpcTruncated { .. }), "{got}");
}
