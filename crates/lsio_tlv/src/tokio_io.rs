//! Adapters for tokio: [`AsyncTlvReader`] over any [`AsyncRead`], [`AsyncTlvWriter`] over any
//! [`AsyncWrite`].

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::assembler::{Assembler, Next};
use crate::decoder::Decoder;
use crate::error::{Error, Result};
use crate::format::StreamHeader;
use crate::frame::{Action, Frame, ReaderConfig, Staging, WriterConfig, io_slices};

/// Reads frames from an [`AsyncRead`]: the async twin of [`TlvReader`](crate::TlvReader), with
/// the same zero-copy, aligned payloads. Buffers are not zero-filled (tokio's `ReadBuf` reads
/// into uninitialised memory).
///
/// Use [`next_frame`](Self::next_frame), or the [`futures_core::Stream`] implementation.
#[derive(Debug)]
pub struct AsyncTlvReader<R> {
    inner: R,
    asm: Assembler<Decoder>,
}

impl<R: AsyncRead + Unpin> AsyncTlvReader<R> {
    /// A reader with the default configuration.
    pub fn new(inner: R) -> Self {
        Self::with_config(inner, ReaderConfig::default())
    }

    /// A reader with `config`.
    pub fn with_config(inner: R, config: ReaderConfig) -> Self {
        Self { inner, asm: Assembler::new(Decoder::new(config.decoder), config.buffer_size, false) }
    }

    /// The next frame; `None` after the end-of-stream marker. Cancel-safe.
    ///
    /// # Errors
    /// As [`TlvReader::next_frame`](crate::TlvReader::next_frame).
    pub async fn next_frame(&mut self) -> Result<Option<Frame>> {
        poll_fn(|cx| self.poll_next_frame(cx)).await
    }

    /// Polls for the next frame.
    ///
    /// # Errors
    /// As [`next_frame`](Self::next_frame).
    pub fn poll_next_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Frame>>> {
        poll_frame(&mut self.inner, &mut self.asm, cx)
    }

    /// The stream header, once read.
    pub fn stream_header(&self) -> Option<&StreamHeader> {
        self.asm.framer().stream_header()
    }

    /// The inner reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The inner reader. Bytes already read from it but not consumed are lost.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// An item: payload, its stream offset, its description.
pub(crate) type Item<D> = (lsio_aligned::AlignedBytes, u64, D);

/// Reads into `asm` until it has an item or the end.
pub(crate) fn poll_item<R, F>(
    inner: &mut R,
    asm: &mut Assembler<F>,
    cx: &mut Context<'_>,
) -> Poll<Result<Option<Item<F::Desc>>>>
where
    R: AsyncRead + Unpin,
    F: crate::assembler::Framer,
{
    loop {
        match asm.next()? {
            Next::Item(payload, offset, desc) => return Poll::Ready(Ok(Some((payload, offset, desc)))),
            Next::End => return Poll::Ready(Ok(None)),
            Next::Read => {}
        }
        asm.prepare()?;
        let at = asm.read_offset();
        let mut rb = ReadBuf::uninit(asm.spare());
        ready!(Pin::new(&mut *inner).poll_read(cx, &mut rb)).map_err(|e| Error::io_at(at, e))?;
        let n = rb.filled().len();
        // SAFETY: `ReadBuf` guarantees that its filled part, the first `n` bytes of the slice
        // `spare` returned, is initialised.
        unsafe { asm.commit_uninit(n) };
    }
}

fn poll_frame<R: AsyncRead + Unpin>(
    inner: &mut R,
    asm: &mut Assembler<Decoder>,
    cx: &mut Context<'_>,
) -> Poll<Result<Option<Frame>>> {
    let item = ready!(poll_item(inner, asm, cx))?;
    Poll::Ready(Ok(item.map(|(payload, offset, (tag, index))| Frame { tag, index, offset, payload })))
}

impl<R: AsyncRead + Unpin> futures_core::Stream for AsyncTlvReader<R> {
    type Item = Result<Frame>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.poll_next_frame(cx).map(Result::transpose)
    }
}

/// Writes frames to an [`AsyncWrite`]: the async twin of [`TlvWriter`](crate::TlvWriter), with
/// the same buffering of small frames and vectored, copy-free writes of large payloads.
///
/// Backpressure is the transport's: each `write_frame` returns once its bytes are buffered
/// (at most [`WriterConfig::buffer_size`] plus one frame's small parts) or handed to the
/// transport, so a slow reader slows the writer down and memory stays bounded. Call
/// [`finish`](Self::finish) at the end; a dropped writer loses its buffer and the end marker.
#[derive(Debug)]
pub struct AsyncTlvWriter<W> {
    inner: W,
    st: Staging,
}

impl<W: AsyncWrite + Unpin> AsyncTlvWriter<W> {
    /// A writer with the default configuration (8-byte alignment, no CRC).
    pub fn new(inner: W) -> Self {
        match Self::with_config(inner, WriterConfig::default()) {
            Ok(w) => w,
            Err(_) => unreachable!("the default configuration is valid"),
        }
    }

    /// A writer with `config`.
    ///
    /// # Errors
    /// [`Error::InvalidAlignment`].
    pub fn with_config(inner: W, config: WriterConfig) -> Result<Self> {
        Ok(Self { inner, st: Staging::new(config)? })
    }

    /// Writes a frame.
    ///
    /// # Errors
    /// [`Error::ReservedTag`], [`Error::AlreadyEnded`], I/O errors. Not cancel-safe: a
    /// cancelled write leaves the stream broken.
    pub async fn write_frame(&mut self, tag: u32, payload: &[u8]) -> Result<()> {
        self.write_frame_parts(tag, &[payload]).await
    }

    /// Writes a frame whose payload is the concatenation of `parts`.
    ///
    /// # Errors
    /// As [`write_frame`](Self::write_frame).
    pub async fn write_frame_parts<P: AsRef<[u8]>>(&mut self, tag: u32, parts: &[P]) -> Result<()> {
        match self.st.stage(tag, parts)? {
            Action::None => Ok(()),
            Action::Flush => self.write_buffer().await,
            Action::Segments => {
                // Mark broken until the write completes, so that a cancelled write is noticed.
                self.st.broken = true;
                let at = self.st.unwritten_offset();
                let mut slices = io_slices(&self.st.buf, parts, &self.st.segs);
                write_all_vectored(&mut self.inner, &mut slices).await.map_err(|e| Error::io_at(at, e))?;
                self.st.buf.clear();
                self.st.broken = false;
                Ok(())
            }
        }
    }

    async fn write_buffer(&mut self) -> Result<()> {
        self.st.broken = true;
        let at = self.st.unwritten_offset();
        self.inner.write_all(&self.st.buf).await.map_err(|e| Error::io_at(at, e))?;
        self.st.buf.clear();
        self.st.broken = false;
        Ok(())
    }

    /// Writes the buffered frames and flushes the inner writer.
    ///
    /// # Errors
    /// I/O errors.
    pub async fn flush(&mut self) -> Result<()> {
        self.st.check()?;
        self.write_buffer().await?;
        let at = self.st.unwritten_offset();
        self.inner.flush().await.map_err(|e| Error::io_at(at, e))
    }

    /// Writes the end-of-stream marker, flushes, shuts the writer down (for a socket: the
    /// peer then sees the end of its input; reading from the socket still works) and returns it.
    ///
    /// # Errors
    /// I/O errors.
    pub async fn finish(mut self) -> Result<W> {
        self.st.stage_end()?;
        self.flush().await?;
        let at = self.st.unwritten_offset();
        self.inner.shutdown().await.map_err(|e| Error::io_at(at, e))?;
        Ok(self.inner)
    }

    /// Stream offset after everything given so far (written or buffered).
    pub fn offset(&self) -> u64 {
        self.st.enc.offset()
    }

    /// Stream offset up to which bytes have been handed to the inner writer.
    pub fn written(&self) -> u64 {
        self.st.unwritten_offset()
    }

    /// Number of frames given so far.
    pub fn frames(&self) -> u64 {
        self.st.enc.frames()
    }

    /// Bytes buffered and not yet written.
    pub fn buffered(&self) -> usize {
        self.st.buf.len()
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The inner writer; writing to it breaks the stream.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

async fn write_all_vectored<W: AsyncWrite + Unpin>(w: &mut W, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        let n = if w.is_write_vectored() {
            w.write_vectored(slices).await?
        } else {
            // Without vectored support, write the first slice (as `poll_write_vectored`'s
            // default would), but skip the call overhead of the default.
            w.write(&slices[0]).await?
        };
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut slices, n);
    }
    Ok(())
}
