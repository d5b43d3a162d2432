//! Adapters for `std::io`: [`TlvReader`] over any [`Read`], [`TlvWriter`] over any [`Write`].

use std::io::{self, IoSlice, Read, Write};

use crate::assembler::{Assembler, Next};
use crate::decoder::Decoder;
use crate::error::{Error, Result};
use crate::format::StreamHeader;
use crate::frame::{Action, Frame, ReaderConfig, Staging, WriterConfig, io_slices};

/// Reads frames from a [`Read`], handing each payload out as a zero-copy, aligned
/// [`AlignedBytes`](lsio_aligned::AlignedBytes) slice of its read buffer.
///
/// Reads go into large aligned buffers ([`ReaderConfig::buffer_size`]); the complete frames
/// in a buffer are frozen and sliced out, never copied or moved. Only a frame cut by the end
/// of a buffer is copied into the next buffer, at the same offset modulo 4096, so payload
/// addresses stay aligned. (`Read` needs initialised memory, so buffers are zero-filled when
/// allocated; [`AsyncTlvReader`](crate::AsyncTlvReader) skips that.)
///
/// The reader stops at the end-of-stream marker and reads nothing after it.
#[derive(Debug)]
pub struct TlvReader<R> {
    inner: R,
    asm: Assembler<Decoder>,
}

impl<R: Read> TlvReader<R> {
    /// A reader with the default configuration.
    pub fn new(inner: R) -> Self {
        Self::with_config(inner, ReaderConfig::default())
    }

    /// A reader with `config`.
    pub fn with_config(inner: R, config: ReaderConfig) -> Self {
        Self { inner, asm: Assembler::new(Decoder::new(config.decoder), config.buffer_size, true) }
    }

    /// The next frame; `None` after the end-of-stream marker.
    ///
    /// # Errors
    /// I/O errors of the inner reader, and every decoding error ([`Error::Truncated`] and
    /// [`Error::MissingEnd`] when the input ends early). Frames decoded before an error are
    /// returned first; after an error, `None`.
    pub fn next_frame(&mut self) -> Result<Option<Frame>> {
        loop {
            match self.asm.next()? {
                Next::Item(payload, offset, (tag, index)) => return Ok(Some(Frame { tag, index, offset, payload })),
                Next::End => return Ok(None),
                Next::Read => {}
            }
            self.asm.prepare()?;
            let at = self.asm.read_offset();
            let n = loop {
                match self.inner.read(self.asm.window()) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(Error::io_at(at, e)),
                }
            };
            self.asm.commit(n);
        }
    }

    /// The stream header, once read.
    pub fn stream_header(&self) -> Option<&StreamHeader> {
        self.asm.framer().stream_header()
    }

    /// The inner reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The inner reader; reading from it breaks the stream.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The inner reader. Bytes already read from it but not consumed are lost.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Iterator for TlvReader<R> {
    type Item = Result<Frame>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}

/// Writes frames to a [`Write`].
///
/// Small frames are gathered in a buffer ([`WriterConfig::buffer_size`]); payload parts of at
/// least [`WriterConfig::copy_threshold`] bytes are not copied: header, padding and payload go
/// to one `write_vectored` call as separate `IoSlice`s. Call [`finish`](Self::finish) to write
/// the end-of-stream marker and flush: a stream dropped without it reads as cut. After an I/O
/// error the stream is broken and every later write fails.
///
/// ```
/// use lsio_tlv::{TlvReader, TlvWriter};
/// let mut w = TlvWriter::new(Vec::new());
/// w.write_frame(1, b"hello")?;
/// w.write_frame_parts(2, &[&b"wor"[..], b"ld"])?;
/// let bytes = w.finish()?;
///
/// let frames: Vec<_> = TlvReader::new(&bytes[..]).collect::<Result<_, _>>()?;
/// assert_eq!((frames[1].tag, &frames[1].payload[..]), (2, &b"world"[..]));
/// assert!(frames[1].payload.is_aligned_to(8));
/// # Ok::<(), lsio_tlv::Error>(())
/// ```
#[derive(Debug)]
pub struct TlvWriter<W: Write> {
    inner: W,
    st: Staging,
}

impl<W: Write> TlvWriter<W> {
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
    /// [`Error::ReservedTag`], [`Error::AlreadyEnded`], I/O errors.
    pub fn write_frame(&mut self, tag: u32, payload: &[u8]) -> Result<()> {
        self.write_frame_parts(tag, &[payload])
    }

    /// Writes a frame whose payload is the concatenation of `parts` (each large part is its own
    /// `IoSlice`; nothing is concatenated in memory).
    ///
    /// # Errors
    /// As [`write_frame`](Self::write_frame).
    pub fn write_frame_parts<P: AsRef<[u8]>>(&mut self, tag: u32, parts: &[P]) -> Result<()> {
        match self.st.stage(tag, parts)? {
            Action::None => Ok(()),
            Action::Flush => self.write_buffer(),
            Action::Segments => {
                let at = self.st.unwritten_offset();
                let mut slices = io_slices(&self.st.buf, parts, &self.st.segs);
                let res = write_all_vectored(&mut self.inner, &mut slices);
                self.st.buf.clear();
                res.map_err(|e| {
                    self.st.broken = true;
                    Error::io_at(at, e)
                })
            }
        }
    }

    fn write_buffer(&mut self) -> Result<()> {
        let at = self.st.unwritten_offset();
        let res = self.inner.write_all(&self.st.buf);
        self.st.buf.clear();
        res.map_err(|e| {
            self.st.broken = true;
            Error::io_at(at, e)
        })
    }

    /// Writes the buffered frames and flushes the inner writer.
    ///
    /// # Errors
    /// I/O errors.
    pub fn flush(&mut self) -> Result<()> {
        self.st.check()?;
        self.write_buffer()?;
        let at = self.st.unwritten_offset();
        self.inner.flush().map_err(|e| Error::io_at(at, e))
    }

    /// Writes the end-of-stream marker, flushes, and returns the inner writer.
    ///
    /// # Errors
    /// I/O errors; [`Error::AlreadyEnded`] cannot happen here.
    pub fn finish(mut self) -> Result<W> {
        self.st.stage_end()?;
        self.flush()?;
        Ok(self.inner)
    }

    /// Stream offset after everything given so far (written or buffered).
    pub fn offset(&self) -> u64 {
        self.st.enc.offset()
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

/// `Write::write_all_vectored`, which is not stable yet.
fn write_all_vectored(w: &mut impl Write, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match w.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
