//! Several Arrow tables multiplexed over one TLV stream: [`MuxWriter`] and [`MuxReader`].
//!
//! Each table is a *channel*, identified by the frame tag. A frame on channel `c` carries one
//! or more whole Arrow IPC encapsulated messages of table `c`'s IPC stream (the schema message
//! travels with the first batch), so the concatenated payloads of a channel form a valid Arrow
//! IPC stream. The Arrow end-of-stream marker (`ff ff ff ff 00 00 00 00`) is sent alone in the
//! channel's last frame and closes it. The TLV end-of-stream marker ends the whole connection;
//! a channel still open then is an error. Payloads are 64-byte aligned and the IPC bodies are
//! padded to 64 bytes, so the reader decodes column data in place, without copying.

use std::collections::{BTreeMap, HashMap, VecDeque};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::arrow::ipc_backend::{IPC_EOS, Ipc, IpcCodec, IpcDecoder, IpcEncoder};
use crate::arrow::ipc_socket::{RecordBatches, check_whole_messages};
use crate::error::{Error, Result};
use crate::format::SIMD_ALIGN;
use crate::frame::{Frame, ReaderConfig, WriterConfig};
use crate::tokio_io::{AsyncTlvReader, AsyncTlvWriter};

/// Configuration of the multiplexer's two sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MuxConfig {
    /// The writer's TLV settings; default: 64-byte alignment, no CRC, 256 KiB buffer.
    pub writer: WriterConfig,
    /// The reader's TLV settings; default: 1 GiB maximum frame (one batch of one table), 1 MiB
    /// buffers.
    pub reader: ReaderConfig,
}

impl Default for MuxConfig {
    fn default() -> Self {
        Self {
            writer: WriterConfig::default().with_align(SIMD_ALIGN).with_buffer_size(256 << 10),
            reader: ReaderConfig::default().with_max_frame_len(1 << 30),
        }
    }
}

fn arrow_err(channel: u32) -> impl FnOnce(arrow_schema::ArrowError) -> Error {
    move |source| Error::Arrow { channel: Some(channel), source }
}

type Enc = <Ipc as IpcCodec>::Encoder;
type Dec = <Ipc as IpcCodec>::Decoder;

/// Sends several Arrow tables, interleaved, over one [`AsyncWrite`] (a TCP or Unix socket
/// half, typically).
///
/// [`open`](Self::open) a channel per table, [`write_batch`](Self::write_batch) in any order
/// across channels, [`close`](Self::close) each, then [`finish`](Self::finish). Each call
/// returns once its bytes are with the transport (or in a bounded buffer), so a slow reader
/// slows the writer down: memory stays bounded by the buffer and the batch being sent. Column
/// data is not copied: the batch's buffers go to the socket through vectored writes.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), lsio_tlv::Error> {
/// use std::sync::Arc;
/// use arrow_array::{Int64Array, RecordBatch};
/// use lsio_tlv::{MuxEvent, MuxReader, MuxWriter};
///
/// let (a, b) = tokio::io::duplex(64 << 10);
/// let batch = RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(vec![1, 2, 3])) as _)]).unwrap();
/// let writer = async {
///     let mut w = MuxWriter::new(a);
///     w.open(1, batch.schema())?;
///     w.open(2, batch.schema())?;
///     w.write_batch(1, &batch).await?;
///     w.write_batch(2, &batch).await?;
///     w.write_batch(1, &batch).await?;
///     w.finish().await // closes both channels
/// };
/// let (written, tables) = tokio::join!(writer, MuxReader::new(b).read_all());
/// written?;
/// let tables = tables?;
/// assert_eq!(tables[&1].num_rows(), 6);
/// assert_eq!(tables[&2].batches.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MuxWriter<W> {
    tlv: AsyncTlvWriter<W>,
    channels: HashMap<u32, Channel>,
}

#[derive(Debug)]
enum Channel {
    Open { schema: SchemaRef, enc: Box<Enc> },
    Closed,
}

impl<W: AsyncWrite + Unpin> MuxWriter<W> {
    /// A writer with the default configuration.
    pub fn new(inner: W) -> Self {
        match Self::with_config(inner, MuxConfig::default()) {
            Ok(w) => w,
            Err(_) => unreachable!("the default configuration is valid"),
        }
    }

    /// A writer with `config.writer`.
    ///
    /// # Errors
    /// [`Error::InvalidAlignment`].
    pub fn with_config(inner: W, config: MuxConfig) -> Result<Self> {
        Ok(Self { tlv: AsyncTlvWriter::with_config(inner, config.writer)?, channels: HashMap::new() })
    }

    /// Opens channel `channel` (a tag `<= MAX_USER_TAG`) for a table of `schema`. Nothing is
    /// sent yet: the schema travels with the first batch (or with [`close`](Self::close)).
    ///
    /// # Errors
    /// [`Error::ChannelMisuse`] if the channel was used before, [`Error::ReservedTag`],
    /// [`Error::Arrow`] if the schema cannot be encoded.
    pub fn open(&mut self, channel: u32, schema: SchemaRef) -> Result<()> {
        if channel > crate::format::MAX_USER_TAG {
            return Err(Error::ReservedTag { tag: channel });
        }
        if self.channels.contains_key(&channel) {
            return Err(Error::ChannelMisuse { channel, problem: "already opened" });
        }
        let enc = Box::new(Ipc::encoder(&schema).map_err(arrow_err(channel))?);
        self.channels.insert(channel, Channel::Open { schema, enc });
        Ok(())
    }

    /// Sends one batch on `channel`.
    ///
    /// # Errors
    /// [`Error::ChannelMisuse`] if the channel is not open or the batch's schema is not the
    /// channel's, [`Error::Arrow`], I/O errors.
    pub async fn write_batch(&mut self, channel: u32, batch: &RecordBatch) -> Result<()> {
        let Some(Channel::Open { schema, enc }) = self.channels.get_mut(&channel) else {
            return Err(Error::ChannelMisuse { channel, problem: "not open" });
        };
        if batch.schema_ref() != schema {
            return Err(Error::ChannelMisuse { channel, problem: "the batch's schema is not the channel's" });
        }
        let parts = enc.encode(batch).map_err(arrow_err(channel))?;
        let parts: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
        self.tlv.write_frame_parts(channel, &parts).await
    }

    /// Closes `channel`: sends what is still due (the schema, if no batch was sent) and the
    /// Arrow end-of-stream marker.
    ///
    /// # Errors
    /// [`Error::ChannelMisuse`] if the channel is not open, [`Error::Arrow`], I/O errors.
    pub async fn close(&mut self, channel: u32) -> Result<()> {
        let Some(state) = self.channels.get_mut(&channel) else {
            return Err(Error::ChannelMisuse { channel, problem: "not open" });
        };
        let Channel::Open { enc, .. } = std::mem::replace(state, Channel::Closed) else {
            return Err(Error::ChannelMisuse { channel, problem: "already closed" });
        };
        let rest = enc.finish().map_err(arrow_err(channel))?;
        if !rest.is_empty() {
            let rest: Vec<&[u8]> = rest.iter().map(|p| p.as_slice()).collect();
            self.tlv.write_frame_parts(channel, &rest).await?;
        }
        self.tlv.write_frame(channel, &IPC_EOS).await
    }

    /// Closes every open channel (in channel order), sends the TLV end-of-stream marker,
    /// flushes, shuts the writer down and returns it.
    ///
    /// # Errors
    /// As [`close`](Self::close).
    pub async fn finish(mut self) -> Result<W> {
        let mut open: Vec<u32> =
            self.channels.iter().filter(|(_, c)| matches!(c, Channel::Open { .. })).map(|(&c, _)| c).collect();
        open.sort_unstable();
        for channel in open {
            self.close(channel).await?;
        }
        self.tlv.finish().await
    }

    /// Writes out buffered frames and flushes the transport.
    ///
    /// # Errors
    /// I/O errors.
    pub async fn flush(&mut self) -> Result<()> {
        self.tlv.flush().await
    }

    /// Stream offset up to which bytes have been handed to the transport.
    pub fn written(&self) -> u64 {
        self.tlv.written()
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        self.tlv.get_ref()
    }
}

/// One thing a [`MuxReader`] received.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum MuxEvent {
    /// The schema of a channel's table (before its first batch).
    Schema {
        /// The channel (frame tag).
        channel: u32,
        /// The table's schema.
        schema: SchemaRef,
    },
    /// A batch of a channel's table.
    Batch {
        /// The channel (frame tag).
        channel: u32,
        /// The batch; its column data lives in the receive buffer (no copy).
        batch: RecordBatch,
    },
    /// The channel's table is complete.
    Closed {
        /// The channel (frame tag).
        channel: u32,
    },
}

#[derive(Debug)]
struct InChannel {
    dec: Box<Dec>,
    schema_seen: bool,
    closed: bool,
}

/// Receives the tables a [`MuxWriter`] sends, over any [`AsyncRead`].
///
/// [`next_event`](Self::next_event) returns schemas, batches and channel ends in arrival
/// order; [`read_all`](Self::read_all) collects every table. Batches are decoded in place from
/// the 64-byte aligned receive buffers.
#[derive(Debug)]
pub struct MuxReader<R> {
    tlv: AsyncTlvReader<R>,
    channels: HashMap<u32, InChannel>,
    pending: VecDeque<MuxEvent>,
    scratch: Vec<RecordBatch>,
}

impl<R: AsyncRead + Unpin> MuxReader<R> {
    /// A reader with the default configuration.
    pub fn new(inner: R) -> Self {
        Self::with_config(inner, MuxConfig::default())
    }

    /// A reader with `config.reader`.
    pub fn with_config(inner: R, config: MuxConfig) -> Self {
        Self {
            tlv: AsyncTlvReader::with_config(inner, config.reader),
            channels: HashMap::new(),
            pending: VecDeque::new(),
            scratch: Vec::new(),
        }
    }

    /// The next event; `None` at the TLV end-of-stream marker.
    ///
    /// # Errors
    /// TLV errors, [`Error::InvalidIpc`] for a payload that is not whole Arrow IPC messages,
    /// [`Error::Arrow`] naming the channel, [`Error::ChannelClosed`] for a frame
    /// after a channel's end, [`Error::ChannelNotClosed`] if the stream ends with a channel
    /// open.
    pub async fn next_event(&mut self) -> Result<Option<MuxEvent>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            let Some(frame) = self.tlv.next_frame().await? else {
                let mut open: Vec<u32> = self.channels.iter().filter(|(_, c)| !c.closed).map(|(&c, _)| c).collect();
                open.sort_unstable();
                return match open.first() {
                    Some(&channel) => Err(Error::ChannelNotClosed { channel }),
                    None => Ok(None),
                };
            };
            self.handle(frame)?;
        }
    }

    fn handle(&mut self, frame: Frame) -> Result<()> {
        let channel = frame.tag;
        let chan = self.channels.entry(channel).or_insert_with(|| InChannel {
            dec: Box::new(Ipc::decoder()),
            schema_seen: false,
            closed: false,
        });
        if chan.closed {
            return Err(Error::ChannelClosed { channel, index: frame.index, offset: frame.offset });
        }
        let eos = frame.payload.as_slice() == IPC_EOS;
        check_whole_messages(&frame.payload).map_err(|(at, reason)| Error::InvalidIpc {
            offset: frame.offset + at as u64,
            reason: format!("channel {channel}, frame {}: {reason}", frame.index),
        })?;
        chan.dec.decode(frame.payload.into_arrow_buffer(), &mut self.scratch).map_err(arrow_err(channel))?;
        if !chan.schema_seen
            && let Some(schema) = chan.dec.schema()
        {
            chan.schema_seen = true;
            self.pending.push_back(MuxEvent::Schema { channel, schema });
        }
        self.pending.extend(self.scratch.drain(..).map(|batch| MuxEvent::Batch { channel, batch }));
        if eos {
            chan.dec.finish().map_err(arrow_err(channel))?;
            chan.closed = true;
            self.pending.push_back(MuxEvent::Closed { channel });
        }
        Ok(())
    }

    /// Reads to the end and returns every table, by channel.
    ///
    /// # Errors
    /// As [`next_event`](Self::next_event), and [`Error::Arrow`] for a channel that was closed
    /// without a schema.
    pub async fn read_all(mut self) -> Result<BTreeMap<u32, RecordBatches>> {
        let mut tables: BTreeMap<u32, RecordBatches> = BTreeMap::new();
        while let Some(event) = self.next_event().await? {
            match event {
                MuxEvent::Schema { channel, schema } => {
                    tables.insert(channel, RecordBatches { schema, batches: Vec::new() });
                }
                MuxEvent::Batch { channel, batch } => {
                    if let Some(t) = tables.get_mut(&channel) {
                        t.batches.push(batch);
                    }
                }
                MuxEvent::Closed { channel } => {
                    if !tables.contains_key(&channel) {
                        let source = arrow_schema::ArrowError::IpcError("stream closed without a schema".into());
                        return Err(Error::Arrow { channel: Some(channel), source });
                    }
                }
            }
        }
        Ok(tables)
    }

    /// The inner reader.
    pub fn get_ref(&self) -> &R {
        self.tlv.get_ref()
    }
}
