//! Plain Arrow IPC streams over sockets: serve an Arrow file to every client that connects
//! ([`serve_ipc_file`]), and receive a stream into record batches ([`receive_ipc_stream`]).
//!
//! These speak the standard Arrow IPC *stream* format, not the TLV framing, so any Arrow
//! implementation is a peer: `pyarrow.ipc.open_stream(sock.makefile("rb"))` reads what
//! `serve_ipc_file` sends, and `receive_ipc_stream` reads what `pyarrow.ipc.new_stream` writes.

use std::future::{Future, poll_fn};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs, UnixListener, UnixStream};

use crate::arrow::ipc_backend::{IPC_EOS, Ipc, IpcCodec, IpcDecoder};
use crate::assembler::{Assembler, Framer, Step};
use crate::error::{Error, Result};
use crate::tokio_io::poll_item;

/// A table received whole: its schema and batches.
#[derive(Clone, Debug)]
pub struct RecordBatches {
    /// The schema.
    pub schema: SchemaRef,
    /// The batches, in order.
    pub batches: Vec<RecordBatch>,
}

impl RecordBatches {
    /// Total number of rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// A listening socket [`serve_ipc_file`] accepts connections from: TCP or Unix.
pub trait Listener: Send + Sync + 'static {
    /// An accepted connection.
    type Conn: AsyncWrite + Unpin + Send + 'static;

    /// Waits for the next connection.
    fn accept_conn(&self) -> impl Future<Output = io::Result<Self::Conn>> + Send;
}

impl Listener for TcpListener {
    type Conn = TcpStream;

    async fn accept_conn(&self) -> io::Result<TcpStream> {
        let (conn, _) = TcpListener::accept(self).await?;
        conn.set_nodelay(true)?;
        Ok(conn)
    }
}

impl Listener for UnixListener {
    type Conn = UnixStream;

    async fn accept_conn(&self) -> io::Result<UnixStream> {
        Ok(UnixListener::accept(self).await?.0)
    }
}

/// Options of [`serve_ipc_file_with`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeOptions {
    /// Serve this many connections, wait for them to finish, and return; `None` (the
    /// default) serves until accepting fails.
    pub max_connections: Option<u64>,
}

impl ServeOptions {
    /// Sets [`max_connections`](Self::max_connections).
    pub fn with_max_connections(mut self, n: Option<u64>) -> Self {
        self.max_connections = n;
        self
    }
}

/// Serves the Arrow IPC file or stream at `path` as an Arrow IPC stream to every client that
/// connects to `listener`, concurrently, until accepting fails. Must run inside a tokio
/// runtime.
///
/// The file is checked once (its messages walked, not decoded), then its bytes are sent as
/// they are: for the IPC *file* format, the stream embedded between the leading magic and the
/// footer; for the *stream* format, the whole file. An end-of-stream marker is added if the file
/// has none. A client that hangs up only ends its own connection.
///
/// # Errors
/// I/O errors opening or reading the file, [`Error::InvalidIpc`] / [`Error::IpcTruncated`] if
/// it is not Arrow IPC, and the error that stops the listener.
pub async fn serve_ipc_file(path: impl AsRef<Path>, listener: impl Listener) -> Result<()> {
    serve_ipc_file_with(path, listener, ServeOptions::default()).await.map(|_| ())
}

/// [`serve_ipc_file`] with options; returns the number of connections served.
///
/// With [`ServeOptions::max_connections`], waits for those connections to finish and returns
/// the first error any of them had.
///
/// # Errors
/// As [`serve_ipc_file`].
pub async fn serve_ipc_file_with(
    path: impl AsRef<Path>,
    listener: impl Listener,
    options: ServeOptions,
) -> Result<u64> {
    let plan = Arc::new(IpcFilePlan::new(path.as_ref().to_path_buf()).await?);
    let mut served = 0u64;
    let mut tasks = Vec::new();
    while options.max_connections.is_none_or(|max| served < max) {
        let conn = listener.accept_conn().await?;
        served += 1;
        let plan = Arc::clone(&plan);
        let task = tokio::spawn(async move { plan.send(conn).await });
        if options.max_connections.is_some() {
            tasks.push(task);
        }
    }
    for task in tasks {
        task.await.map_err(|e| Error::Io { offset: None, source: io::Error::other(e) })??;
    }
    Ok(served)
}

/// Sends the Arrow IPC file or stream at `path` to `writer` as an Arrow IPC stream, as
/// [`serve_ipc_file`] does for each client, and shuts the writer down. Returns the bytes sent.
///
/// # Errors
/// As [`serve_ipc_file`], and the writer's I/O errors.
pub async fn write_ipc_file<W: AsyncWrite + Unpin>(path: impl AsRef<Path>, writer: W) -> Result<u64> {
    IpcFilePlan::new(path.as_ref().to_path_buf()).await?.send(writer).await
}

/// Connects to `addr` over TCP and reads the Arrow IPC stream sent there.
///
/// # Errors
/// As [`read_ipc_stream`], and connection errors.
pub async fn receive_ipc_stream(addr: impl ToSocketAddrs) -> Result<RecordBatches> {
    let conn = TcpStream::connect(addr).await?;
    conn.set_nodelay(true)?;
    read_ipc_stream(conn).await
}

/// Connects to the Unix socket at `path` and reads the Arrow IPC stream sent there.
///
/// # Errors
/// As [`read_ipc_stream`], and connection errors.
pub async fn receive_ipc_stream_unix(path: impl AsRef<Path>) -> Result<RecordBatches> {
    read_ipc_stream(UnixStream::connect(path).await?).await
}

/// The largest Arrow IPC message [`read_ipc_stream`] accepts (metadata or body): 4 GiB.
const MAX_MESSAGE_LEN: u64 = 4 << 30;

/// Reads an Arrow IPC stream (up to its end-of-stream marker, or the end of the input) from
/// any [`AsyncRead`].
///
/// Each message is read whole into one aligned buffer (at the same offset modulo 4096 as in the
/// stream), and decoded in place: column data that is aligned in the stream (Arrow writers
/// align to 8 or 64 bytes) is not copied. Messages are limited to 4 GiB.
///
/// # Errors
/// I/O errors, [`Error::InvalidIpc`] for bytes that are not Arrow IPC, [`Error::IpcTruncated`]
/// for a stream cut inside a message, [`Error::Arrow`] for messages Arrow cannot decode.
pub async fn read_ipc_stream<R: AsyncRead + Unpin>(mut reader: R) -> Result<RecordBatches> {
    let mut asm = Assembler::new(IpcFramer { offset: 0, max: MAX_MESSAGE_LEN }, 1 << 20, false);
    let mut dec = Ipc::decoder();
    let mut batches = Vec::new();
    while let Some((message, offset, ())) = poll_fn(|cx| poll_item(&mut reader, &mut asm, cx)).await? {
        dec.decode(message.into_arrow_buffer(), &mut batches)
            .map_err(|e| Error::InvalidIpc { offset, reason: e.to_string() })?;
    }
    // The end-of-stream marker completes a trailing message without body (arrow-ipc's decoder
    // waits for more input after one), whether the stream had the marker or just ended.
    let offset = asm.read_offset();
    dec.decode(arrow_buffer::Buffer::from(IPC_EOS.to_vec()), &mut batches)
        .and_then(|()| dec.finish())
        .map_err(|e| Error::InvalidIpc { offset, reason: e.to_string() })?;
    let schema = dec.schema().ok_or(Error::InvalidIpc { offset: 0, reason: "the stream has no schema".into() })?;
    Ok(RecordBatches { schema, batches })
}

/// Where an encapsulated message starts: `(prefix length, metadata length)`, `None` if more
/// bytes are needed. Handles the continuation token and the legacy 4-byte prefix.
fn message_prefix(input: &[u8]) -> Option<(usize, u32)> {
    let first = u32::from_le_bytes(*input.first_chunk::<4>()?);
    if first != u32::MAX {
        return Some((4, first));
    }
    let len = input.get(4..8)?;
    Some((8, u32::from_le_bytes([len[0], len[1], len[2], len[3]])))
}

/// The body length a message's flatbuffer metadata declares.
fn body_len(metadata: &[u8]) -> std::result::Result<u64, String> {
    let message = arrow_ipc::root_as_message(metadata).map_err(|e| format!("bad message metadata: {e}"))?;
    u64::try_from(message.bodyLength()).map_err(|_| format!("negative body length {}", message.bodyLength()))
}

/// Checks that `bytes` is a sequence of whole encapsulated messages (the end-of-stream marker
/// included); on failure, says where and why.
pub(crate) fn check_whole_messages(bytes: &[u8]) -> std::result::Result<(), (usize, String)> {
    let mut framer = IpcFramer { offset: 0, max: u64::MAX };
    let mut pos = 0;
    while pos < bytes.len() {
        match framer.step(&bytes[pos..]) {
            Ok(Step::Item { len, .. } | Step::End(len) | Step::Skip(len)) => pos += len,
            Ok(Step::NeedMore(n)) => {
                return Err((pos, format!("message cut by the end of the frame ({n} bytes missing)")));
            }
            Err(e) => return Err((pos, e.to_string())),
        }
    }
    Ok(())
}

/// Splits an Arrow IPC stream into whole encapsulated messages.
#[derive(Clone, Debug)]
struct IpcFramer {
    /// Stream offset of the next message.
    offset: u64,
    max: u64,
}

impl Framer for IpcFramer {
    type Desc = ();

    /// Continuation and metadata length; the metadata itself is needed too, but is small.
    const LOOKAHEAD: usize = 8;

    fn step(&mut self, input: &[u8]) -> Result<Step<()>> {
        let Some((prefix, meta_len)) = message_prefix(input) else {
            let want = if input.len() >= 4 { 8 } else { 4 };
            return Ok(Step::NeedMore(want - input.len()));
        };
        if meta_len == 0 {
            self.offset += prefix as u64;
            return Ok(Step::End(prefix));
        }
        let invalid = |reason: String| Error::InvalidIpc { offset: self.offset, reason };
        if i32::try_from(meta_len).is_err() || u64::from(meta_len) > self.max {
            return Err(invalid(format!("metadata length {meta_len} is out of range")));
        }
        let meta_end = prefix + meta_len as usize;
        if input.len() < meta_end {
            return Ok(Step::NeedMore(meta_end - input.len()));
        }
        let body = body_len(&input[prefix..meta_end]).map_err(invalid)?;
        if body > self.max {
            return Err(invalid(format!("body length {body} exceeds the maximum of {}", self.max)));
        }
        // `body <= max <= 4 GiB` and `meta_end` is small: no overflow on 64-bit targets.
        let total = meta_end + body as usize;
        if input.len() < total {
            return Ok(Step::NeedMore(total - input.len()));
        }
        self.offset += total as u64;
        Ok(Step::Item { len: total, payload: 0..total, desc: () })
    }

    fn finish(&self, rest: &[u8]) -> Result<()> {
        if rest.is_empty() {
            // The writer closed the connection between messages: a valid end of stream.
            return Ok(());
        }
        let needed = match self.clone().step(rest)? {
            Step::NeedMore(n) => n as u64,
            _ => 0,
        };
        Err(Error::IpcTruncated { offset: self.offset + rest.len() as u64, needed })
    }
}

/// What to send of an Arrow IPC file: its validated stream part.
#[derive(Debug)]
struct IpcFilePlan {
    path: PathBuf,
    /// The byte range of the file to send.
    start: u64,
    end: u64,
    /// Whether to add the end-of-stream marker the file lacks.
    add_eos: bool,
}

const FILE_MAGIC: &[u8; 6] = b"ARROW1";

impl IpcFilePlan {
    async fn new(path: PathBuf) -> Result<Self> {
        tokio::task::spawn_blocking(move || Self::walk(path))
            .await
            .map_err(|e| Error::Io { offset: None, source: io::Error::other(e) })?
    }

    /// Finds the stream part of the file and walks its messages (reading only their metadata).
    fn walk(path: PathBuf) -> Result<Self> {
        let file = std::fs::File::open(&path)?;
        let len = file.metadata()?.len();
        let read_at = |buf: &mut [u8], at: u64| file.read_exact_at(buf, at).map_err(|e| Error::io_at(at, e));
        let mut head = [0u8; 8];
        let (start, limit) = if len >= 8 + 10 && {
            read_at(&mut head, 0)?;
            &head[..6] == FILE_MAGIC
        } {
            // File format: magic, padding, stream, footer, footer length (i32), magic.
            let mut tail = [0u8; 10];
            read_at(&mut tail, len - 10)?;
            if &tail[4..] != FILE_MAGIC {
                return Err(Error::InvalidIpc {
                    offset: len - 6,
                    reason: "Arrow file without its trailing magic".into(),
                });
            }
            let footer = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
            let footer_start = (len - 10).checked_sub(footer).filter(|&s| s >= 8).ok_or(Error::InvalidIpc {
                offset: len - 10,
                reason: format!("footer length {footer} is out of range"),
            })?;
            // The stream starts after the magic's zero padding, which writers make 2 bytes
            // (to 8) or more (arrow-rs pads to its 64-byte alignment): at the first non-zero
            // 8-aligned word.
            let mut head = [0u8; 128];
            let n = (footer_start.min(128)) as usize;
            read_at(&mut head[..n], 0)?;
            let start = (8..n.saturating_sub(3))
                .step_by(8)
                .find(|&i| head[i..i + 4] != [0; 4])
                .ok_or(Error::InvalidIpc { offset: 8, reason: "no Arrow IPC message after the file magic".into() })?;
            (start as u64, footer_start)
        } else {
            (0, len)
        };
        let mut pos = start;
        let mut prefix = [0u8; 8];
        let add_eos = loop {
            if pos == limit {
                break true;
            }
            let avail = (limit - pos).min(8) as usize;
            read_at(&mut prefix[..avail], pos)?;
            let truncated = |needed: u64| Error::IpcTruncated { offset: limit, needed };
            let Some((plen, meta_len)) = message_prefix(&prefix[..avail]) else {
                return Err(truncated(8 - avail as u64));
            };
            if meta_len == 0 {
                pos += plen as u64;
                break false;
            }
            let meta_start = pos + plen as u64;
            if i32::try_from(meta_len).is_err() || meta_start + u64::from(meta_len) > limit {
                return Err(Error::InvalidIpc {
                    offset: pos,
                    reason: format!("metadata length {meta_len} is out of range"),
                });
            }
            let mut meta = vec![0u8; meta_len as usize];
            read_at(&mut meta, meta_start)?;
            let body = body_len(&meta).map_err(|reason| Error::InvalidIpc { offset: pos, reason })?;
            let next = meta_start + u64::from(meta_len) + body;
            if next > limit {
                return Err(truncated(next - limit));
            }
            pos = next;
        };
        if pos == start && add_eos {
            return Err(Error::InvalidIpc { offset: start, reason: "no Arrow IPC message in the file".into() });
        }
        Ok(Self { path, start, end: pos, add_eos })
    }

    /// Sends the stream to `writer` and shuts it down; returns the bytes sent.
    async fn send<W: AsyncWrite + Unpin>(&self, mut writer: W) -> Result<u64> {
        let mut file = tokio::fs::File::open(&self.path).await?;
        file.seek(io::SeekFrom::Start(self.start)).await?;
        let mut reader = tokio::io::BufReader::with_capacity(1 << 20, file.take(self.end - self.start));
        let mut sent = tokio::io::copy_buf(&mut reader, &mut writer).await.map_err(|e| Error::io_at(self.start, e))?;
        if self.add_eos {
            writer.write_all(&IPC_EOS).await?;
            sent += IPC_EOS.len() as u64;
        }
        writer.shutdown().await?;
        Ok(sent)
    }
}
