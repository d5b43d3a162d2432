//! Async (tokio) reading and writing: a backpressured `Stream` of batches from an `AsyncRead`,
//! and stream and file writers over an `AsyncWrite`.

use std::io::IoSlice;
use std::pin::Pin;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::Stream;
use lsio_aligned::{AlignedBytes, AlignedBytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::decode::CopyStats;
use crate::error::{Error, Result};
use crate::format::{self, ALIGNMENT, MAGIC_PADDED, Prefix};
use crate::options::{Limits, ReadOptions, WriteOptions};
use crate::stream::{RawMessage, StreamState};
use crate::writer::WriterCore;

async fn read_full<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut [u8],
    offset: u64,
    what: &'static str,
    eof_ok: bool,
) -> Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]).await {
            Ok(0) if got == 0 && eof_ok => return Ok(false),
            Ok(0) => return Err(Error::Truncated { offset, what, needed: buf.len() as u64, available: got as u64 }),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(offset + got as u64, e)),
        }
    }
    Ok(true)
}

async fn read_message<R: AsyncRead + Unpin>(r: &mut R, pos: &mut u64, limits: &Limits) -> Result<Option<RawMessage>> {
    loop {
        let offset = *pos;
        let mut b4 = [0u8; 4];
        if !read_full(r, &mut b4, offset, "message prefix", true).await? {
            return Ok(None);
        }
        *pos += 4;
        if offset == 0 && b4 == MAGIC_PADDED[..4] {
            let mut rest = [0u8; 4];
            read_full(r, &mut rest, 4, "file magic", false).await?;
            if rest != MAGIC_PADDED[4..] {
                return Err(Error::corrupt(0, "bad file magic"));
            }
            *pos += 4;
            continue;
        }
        let mut p = format::parse_prefix4(b4, offset, limits)?;
        if p == Prefix::NeedLength {
            if !read_full(r, &mut b4, offset, "message length", true).await? {
                return Ok(None);
            }
            *pos += 4;
            p = format::parse_len(b4, offset, limits)?;
        }
        let len = match p {
            Prefix::Message { len, .. } => len,
            _ => return Ok(None),
        };
        let mut meta = AlignedBytesMut::zeroed(len, ALIGNMENT).map_err(|e| Error::corrupt(offset, e.to_string()))?;
        read_full(r, &mut meta[..], offset, "message metadata", false).await?;
        *pos += len as u64;
        let meta: AlignedBytes = meta.freeze();
        let body_len = format::parse_message(&meta, offset, limits)?.bodyLength() as u64;
        if body_len > limits.max_body_len {
            return Err(Error::LimitExceeded {
                offset,
                what: "message body",
                value: body_len,
                limit: limits.max_body_len,
            });
        }
        let body_offset = *pos;
        let body_len = usize::try_from(body_len).map_err(|_| Error::corrupt(offset, "body length overflows usize"))?;
        let mut body =
            AlignedBytesMut::zeroed(body_len, ALIGNMENT).map_err(|e| Error::corrupt(offset, e.to_string()))?;
        read_full(r, &mut body[..], body_offset, "message body", false).await?;
        *pos += body_len as u64;
        return Ok(Some(RawMessage { offset, meta, body_offset, body: body.freeze() }));
    }
}

/// An async reader of the IPC stream format (or of a file read front to back).
///
/// [`into_stream`](Self::into_stream) gives a `futures::Stream` of batches that reads the next
/// message only when polled: backpressure comes from the consumer.
#[derive(Debug)]
pub struct AsyncStreamReader<R> {
    reader: R,
    pos: u64,
    state: StreamState,
    done: bool,
}

impl<R: AsyncRead + Unpin + Send> AsyncStreamReader<R> {
    /// Reads the schema message.
    ///
    /// # Errors
    /// If the stream does not start with a valid schema.
    pub async fn try_new(mut reader: R, options: ReadOptions) -> Result<Self> {
        let mut pos = 0;
        let m = read_message(&mut reader, &mut pos, &options.limits).await?.ok_or_else(|| Error::Truncated {
            offset: 0,
            what: "schema message",
            needed: 8,
            available: pos,
        })?;
        let state = StreamState::from_schema_message(&m, &options)?;
        Ok(AsyncStreamReader { reader, pos, state, done: false })
    }

    /// The (projected) schema of the batches.
    pub fn schema(&self) -> SchemaRef {
        self.state.schema.clone()
    }

    /// How the buffers of the batches read so far were obtained.
    pub fn stats(&self) -> CopyStats {
        self.state.stats
    }

    /// The next batch, `None` at the end of the stream.
    ///
    /// # Errors
    /// On I/O errors or corrupt input; the reader is done after an error.
    pub async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if self.done {
            return Ok(None);
        }
        let r = async {
            loop {
                let before = self.pos;
                let Some(m) = read_message(&mut self.reader, &mut self.pos, &self.state.limits).await? else {
                    return self.state.end(before, self.pos).map(|()| None);
                };
                if let Some(b) = self.state.on_message(m)? {
                    return Ok(Some(b));
                }
            }
        }
        .await;
        if !matches!(r, Ok(Some(_))) {
            self.done = true;
        }
        r
    }

    /// A stream of batches; each poll reads at most up to the next batch.
    pub fn into_stream(self) -> Pin<Box<dyn Stream<Item = Result<RecordBatch>> + Send>>
    where
        R: 'static,
    {
        Box::pin(futures::stream::unfold(self, |mut r| async move {
            match r.next_batch().await {
                Ok(Some(b)) => Some((Ok(b), r)),
                Ok(None) => None,
                Err(e) => Some((Err(e), r)),
            }
        }))
    }
}

async fn write_all_vectored<W: AsyncWrite + Unpin>(w: &mut W, mut slices: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match w.write_vectored(slices).await {
            Ok(0) => return Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "failed to write whole message")),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

macro_rules! async_writer {
    ($name:ident, $is_file:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug)]
        pub struct $name<W> {
            writer: W,
            core: WriterCore,
        }

        impl<W: AsyncWrite + Unpin + Send> $name<W> {
            /// Writes the header (schema message).
            ///
            /// # Errors
            /// On I/O errors, or a schema the format cannot express.
            pub async fn try_new(mut writer: W, schema: SchemaRef, options: WriteOptions) -> Result<Self> {
                let (core, head) = WriterCore::new(schema, options, $is_file)?;
                writer.write_all(&head).await.map_err(|e| Error::io(0, e))?;
                Ok(Self { writer, core })
            }

            /// Writes a batch, preceded by the dictionaries that changed.
            ///
            /// # Errors
            /// On I/O errors, a batch whose schema differs, or (files) a replaced dictionary.
            pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
                let pos = self.core.pos;
                for enc in self.core.encode(batch)? {
                    let mut slices = enc.slices();
                    write_all_vectored(&mut self.writer, &mut slices).await.map_err(|e| Error::io(pos, e))?;
                }
                Ok(())
            }

            /// Writes the end (and for files the footer), then flushes and shuts the writer down.
            ///
            /// # Errors
            /// On I/O errors or a second call.
            pub async fn finish(&mut self) -> Result<()> {
                let pos = self.core.pos;
                let tail = self.core.tail()?;
                self.writer.write_all(&tail).await.map_err(|e| Error::io(pos, e))?;
                self.writer.flush().await.map_err(|e| Error::io(pos, e))?;
                self.writer.shutdown().await.map_err(|e| Error::io(pos, e))
            }

            /// Bytes written so far.
            pub fn position(&self) -> u64 {
                self.core.pos
            }

            /// The underlying writer.
            pub fn into_inner(self) -> W {
                self.writer
            }
        }
    };
}

async_writer!(
    AsyncStreamWriter,
    false,
    "An async writer of the IPC stream format (see [`StreamWriter`](crate::StreamWriter))."
);
async_writer!(AsyncFileWriter, true, "An async writer of the IPC file format (see [`FileWriter`](crate::FileWriter)).");
