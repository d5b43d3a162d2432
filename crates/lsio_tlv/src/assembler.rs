//! The read-side buffer manager shared by the blocking and async readers: reads go into large
//! aligned buffers, complete items are frozen and sliced out without copying, and only an item
//! cut by the end of a buffer is carried into the next one.
//!
//! Invariant: the byte at stream offset `o` lives at an address `≡ o (mod 4096)`. Since every
//! payload offset is a multiple of the stream's alignment (at most 4096), every payload address
//! is aligned too. New buffers are 4096-aligned and the carried bytes are placed at
//! `offset % 4096` in them.
//!
//! Buffers up to 16 MiB come from a per-reader [`BufferPool`], so a reader whose payloads are
//! dropped reuses the same memory instead of faulting in fresh pages for every buffer.

use std::collections::VecDeque;
use std::mem::MaybeUninit;

use lsio_aligned::{AlignedBytes, AlignedBytesMut, BufferPool, PoolConfig};

use crate::error::{Error, Result};
use crate::format::{MAX_ALIGN, ZEROS};

/// Splits a byte stream into items (the TLV decoder, or the Arrow IPC message walker).
pub(crate) trait Framer {
    /// What is kept of an item until it is handed out (for a TLV frame: its tag).
    type Desc;

    /// Bytes worth reading past the end of an item in exact-size reads: enough to know the
    /// size of the next item (its fixed header).
    const LOOKAHEAD: usize;

    /// Looks at the front of `input` (which starts at the framer's current stream offset) and
    /// consumes at most one item.
    fn step(&mut self, input: &[u8]) -> Result<Step<Self::Desc>>;

    /// Called at the end of the input with the bytes not consumed.
    fn finish(&self, rest: &[u8]) -> Result<()>;
}

/// What [`Framer::step`] found.
pub(crate) enum Step<D> {
    /// At least this many more bytes are needed (the input may be cut anywhere).
    NeedMore(usize),
    /// Bytes to drop (a stream header).
    Skip(usize),
    /// An item of `len` bytes whose payload is `payload` (relative to the item start).
    Item { len: usize, payload: std::ops::Range<usize>, desc: D },
    /// The end marker, `len` bytes; the stream is over.
    End(usize),
}

/// What the reader should do next.
pub(crate) enum Next<D> {
    /// A payload, its stream offset and its description.
    Item(AlignedBytes, u64, D),
    /// The stream is over (or failed earlier).
    End,
    /// Read more bytes into [`Assembler::window`] / [`Assembler::spare`].
    Read,
}

/// Reads smaller than this are avoided: a buffer with less room left is replaced, unless that
/// would copy more than this much.
const MIN_READ: usize = 4096;

/// The largest buffer taken from the pool; larger ones are plain allocations.
const MAX_POOLED: usize = 16 << 20;

pub(crate) struct Assembler<F: Framer> {
    framer: F,
    buffer_size: usize,
    pool: Option<BufferPool>,
    /// Whether buffers are zero-filled when allocated (for `std::io::Read`, which needs
    /// initialised memory) or not (for tokio's `ReadBuf`, which accepts uninitialised memory).
    zeroed: bool,
    /// The current buffer view; `buf[0]` is at stream offset `buf_offset`. Its initialised
    /// prefix (`len()`) is at least `filled`.
    buf: AlignedBytesMut,
    buf_offset: u64,
    /// Bytes read into `buf` and not yet frozen: an incomplete item.
    filled: usize,
    /// Bytes still needed to complete the item at the start of `buf`.
    need: usize,
    /// The frozen bytes the queued items are sliced from, and its stream offset.
    chunk: AlignedBytes,
    chunk_offset: u64,
    ready: VecDeque<(usize, usize, F::Desc)>,
    error: Option<Error>,
    ended: bool,
    eof: bool,
    done: bool,
    /// The last item was large (at least a quarter of `buffer_size`): read exactly what the
    /// pending item needs and the next item's header ([`Framer::LOOKAHEAD`]), so that the next
    /// large item is never half-read into the tail of a buffer and then copied; a large item
    /// gets a buffer of exactly its size (and room for the next header).
    large: bool,
}

impl<F: Framer> Assembler<F> {
    pub(crate) fn new(framer: F, buffer_size: usize, zeroed: bool) -> Self {
        let buffer_size = buffer_size.max(MIN_READ);
        let pool = BufferPool::new(PoolConfig {
            alignment: MAX_ALIGN,
            size_classes: (12..=24).map(|shift| 1usize << shift).collect(),
            // Enough idle memory for a few buffers, freed with the reader.
            max_bytes: buffer_size.saturating_mul(8).max(4 * MIN_READ),
        })
        .ok();
        Self {
            framer,
            buffer_size,
            pool,
            zeroed,
            buf: AlignedBytesMut::new(),
            buf_offset: 0,
            filled: 0,
            need: 1,
            chunk: AlignedBytes::new(),
            chunk_offset: 0,
            ready: VecDeque::new(),
            error: None,
            ended: false,
            eof: false,
            done: false,
            large: false,
        }
    }

    pub(crate) fn framer(&self) -> &F {
        &self.framer
    }

    /// Stream offset just past the bytes read so far.
    pub(crate) fn read_offset(&self) -> u64 {
        self.buf_offset + self.filled as u64
    }

    /// The next item, or whether to read.
    #[inline]
    pub(crate) fn next(&mut self) -> Result<Next<F::Desc>> {
        if let Some((start, len, desc)) = self.ready.pop_front() {
            let payload = self.chunk.slice(start..start + len);
            return Ok(Next::Item(payload, self.chunk_offset + start as u64, desc));
        }
        if let Some(e) = self.error.take() {
            self.done = true;
            return Err(e);
        }
        if self.done || self.ended {
            return Ok(Next::End);
        }
        if self.eof {
            self.done = true;
            self.framer.finish(&self.buf[..self.filled])?;
            return Ok(Next::End);
        }
        Ok(Next::Read)
    }

    /// Bytes of the buffer that can be read into.
    fn limit(&self) -> usize {
        if self.zeroed { self.buf.len() } else { self.buf.capacity() }
    }

    /// Makes room for the next read: replaces the buffer when the pending item cannot be
    /// completed in it, or when little room is left and little would be copied.
    pub(crate) fn prepare(&mut self) -> Result<()> {
        let room = self.limit() - self.filled;
        let want = self.need.max(1);
        if room >= want && (room >= MIN_READ || self.filled > MIN_READ) {
            return Ok(());
        }
        // A whole item larger than the usual buffer gets a buffer of its own size; after a
        // large item, the next header is read into a small buffer first.
        let item = self.filled.saturating_add(want);
        let size =
            if self.large { item.saturating_add(F::LOOKAHEAD).max(MIN_READ) } else { self.buffer_size.max(item) };
        let shift = (self.buf_offset % MAX_ALIGN as u64) as usize;
        let total = size
            .checked_add(shift)
            .ok_or(lsio_aligned::Error::CapacityOverflow { capacity: size, align: MAX_ALIGN })?;
        let mut fresh = match &self.pool {
            Some(pool) if total <= MAX_POOLED => pool.get(total),
            _ => AlignedBytesMut::with_capacity_aligned(total, MAX_ALIGN)?,
        };
        let mut view = fresh.split_off(shift);
        drop(fresh);
        view.extend_from_slice(&self.buf[..self.filled]);
        if self.zeroed {
            // `std::io::Read` needs initialised memory to read into.
            while view.len() < size {
                let n = (size - view.len()).min(ZEROS.len());
                view.extend_from_slice(&ZEROS[..n]);
            }
        }
        self.buf = view;
        Ok(())
    }

    /// How many bytes the next read may bring.
    fn read_len(&self) -> usize {
        let room = self.limit() - self.filled;
        if self.large { room.min(self.need.max(1).saturating_add(F::LOOKAHEAD)) } else { room }
    }

    /// Zero-initialised room to read into (zeroed mode), after [`prepare`](Self::prepare).
    pub(crate) fn window(&mut self) -> &mut [u8] {
        debug_assert!(self.zeroed);
        let end = self.filled + self.read_len();
        &mut self.buf[self.filled..end]
    }

    /// Uninitialised room to read into (non-zeroed mode), after [`prepare`](Self::prepare).
    pub(crate) fn spare(&mut self) -> &mut [MaybeUninit<u8>] {
        debug_assert!(!self.zeroed && self.buf.len() == self.filled);
        let n = self.read_len();
        &mut self.buf.spare_capacity_mut()[..n]
    }

    /// Records `n` bytes read into [`window`](Self::window); 0 means end of input.
    pub(crate) fn commit(&mut self, n: usize) {
        debug_assert!(self.zeroed && self.filled + n <= self.buf.len());
        self.advance(n);
    }

    /// Records `n` bytes read into [`spare`](Self::spare); 0 means end of input.
    ///
    /// # Safety
    /// The first `n` bytes of the slice last returned by `spare` have been initialised.
    pub(crate) unsafe fn commit_uninit(&mut self, n: usize) {
        debug_assert!(!self.zeroed && self.filled + n <= self.buf.capacity());
        // SAFETY: `buf.len() == filled` (non-zeroed mode) and the caller initialised the `n`
        // bytes after it, which lie within the capacity (they were part of `spare`).
        unsafe { self.buf.set_len(self.filled + n) };
        self.advance(n);
    }

    fn advance(&mut self, n: usize) {
        if n == 0 {
            self.eof = true;
            return;
        }
        self.filled += n;
        self.scan();
    }

    /// Finds the complete items in `buf[..filled]`, freezes them and queues their payloads.
    fn scan(&mut self) {
        debug_assert!(self.ready.is_empty());
        let mut pos = 0;
        let mut first_item = None;
        loop {
            match self.framer.step(&self.buf[pos..self.filled]) {
                Ok(Step::NeedMore(n)) => {
                    self.need = n;
                    break;
                }
                Ok(Step::Skip(n)) => pos += n,
                Ok(Step::Item { len, payload, desc }) => {
                    first_item.get_or_insert(pos);
                    self.large = len >= self.buffer_size / 4;
                    self.ready.push_back((pos + payload.start, payload.end - payload.start, desc));
                    pos += len;
                }
                Ok(Step::End(n)) => {
                    pos += n;
                    self.ended = true;
                    break;
                }
                Err(e) => {
                    self.error = Some(e);
                    break;
                }
            }
        }
        if pos > 0 {
            let done = self.buf.split_to(pos);
            if first_item.is_some() {
                self.chunk = done.freeze();
                self.chunk_offset = self.buf_offset;
            }
            self.buf_offset += pos as u64;
            self.filled -= pos;
        }
    }
}

impl<F: Framer + std::fmt::Debug> std::fmt::Debug for Assembler<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assembler")
            .field("framer", &self.framer)
            .field("buffer_size", &self.buffer_size)
            .field("buf_offset", &self.buf_offset)
            .field("filled", &self.filled)
            .field("queued", &self.ready.len())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}
