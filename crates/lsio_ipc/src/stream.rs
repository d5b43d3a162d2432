//! Sequential reading of the stream format (and of a file read front to back): the message
//! state machine shared by the blocking [`StreamReader`] and the async reader.

use std::collections::HashMap;
use std::io::Read;

use arrow_array::RecordBatch;
use arrow_data::ArrayData;
use arrow_ipc as fb;
use arrow_schema::SchemaRef;
use lsio_aligned::{AlignedBytes, AlignedBytesMut};

use crate::decode::{CopyStats, Decoder, columns_of, decode_dictionary, layout_batch, project_schema};
use crate::error::{Error, Result};
use crate::format::{self, ALIGNMENT, MAGIC_PADDED, Prefix};
use crate::options::{Limits, ReadOptions};
use crate::schema::{SchemaPlan, schema_from_fb};

/// One message as read from a stream: its metadata flatbuffer and body.
#[derive(Debug)]
pub(crate) struct RawMessage {
    pub(crate) offset: u64,
    pub(crate) meta: AlignedBytes,
    pub(crate) body_offset: u64,
    pub(crate) body: AlignedBytes,
}

/// What the message state machine knows after the schema.
#[derive(Debug)]
pub(crate) struct StreamState {
    pub(crate) plan: SchemaPlan,
    pub(crate) columns: Vec<usize>,
    pub(crate) schema: SchemaRef,
    pub(crate) dictionaries: HashMap<i64, ArrayData>,
    pub(crate) dictionary_bytes: HashMap<i64, u64>,
    pub(crate) stats: CopyStats,
    pub(crate) limits: Limits,
    /// The input started with the file magic.
    pub(crate) is_file: bool,
}

impl StreamState {
    /// Builds the state from the first message, which must be a schema.
    pub(crate) fn from_schema_message(m: &RawMessage, options: &ReadOptions) -> Result<Self> {
        let msg = format::parse_message(&m.meta, m.offset, &options.limits)?;
        let s = msg.header_as_schema().ok_or_else(|| {
            Error::corrupt(m.offset, format!("expected a schema message, found {:?}", msg.header_type()))
        })?;
        let plan = schema_from_fb(s, m.offset, options.limits.max_nesting_depth)?;
        let columns = columns_of(options.projection.as_deref(), plan.schema.fields().len())?;
        let schema = project_schema(&plan.schema, &columns)?;
        Ok(StreamState {
            plan,
            columns,
            schema,
            dictionaries: HashMap::new(),
            dictionary_bytes: HashMap::new(),
            stats: CopyStats::default(),
            limits: options.limits.clone(),
            is_file: m.offset == MAGIC_PADDED.len() as u64,
        })
    }

    /// Checks the end of the input: a stream may end at EOF, but a file read front to back must
    /// end with the end-of-stream marker (else its writer did not finish).
    pub(crate) fn end(&self, before: u64, after: u64) -> Result<()> {
        if self.is_file && before == after {
            return Err(Error::MissingFooter {
                len: after,
                what: "the file ends without an end-of-stream marker (a writer that did not finish?)".into(),
            });
        }
        Ok(())
    }

    /// Handles one message after the schema: a dictionary updates the state, a record batch is
    /// decoded and returned.
    pub(crate) fn on_message(&mut self, m: RawMessage) -> Result<Option<RecordBatch>> {
        let msg = format::parse_message(&m.meta, m.offset, &self.limits)?;
        if msg.bodyLength() as u64 != m.body.len() as u64 {
            return Err(Error::corrupt(m.offset, "body length changed while reading"));
        }
        let body = m.body.clone();
        let mut fetch = |b: &crate::decode::BufRef| {
            body.try_slice(b.offset as usize..(b.offset + b.len) as usize)
                .ok_or_else(|| Error::corrupt(m.body_offset + b.offset, "buffer outside the body"))
        };
        match msg.header_type() {
            fb::MessageHeader::RecordBatch => {
                let rb = msg
                    .header_as_record_batch()
                    .ok_or_else(|| Error::corrupt(m.offset, "record batch header missing"))?;
                let layout =
                    layout_batch(&rb, &self.plan.fields, m.body.len() as u64, msg.version(), m.offset, &self.limits)?;
                let mut dec = Decoder {
                    limits: &self.limits,
                    codec: layout.codec,
                    stats: &mut self.stats,
                    dictionaries: &self.dictionaries,
                    body_offset: m.body_offset,
                    msg_offset: m.offset,
                };
                dec.batch(&layout, &self.columns, self.schema.clone(), &mut fetch).map(Some)
            }
            fb::MessageHeader::DictionaryBatch => {
                let db = msg
                    .header_as_dictionary_batch()
                    .ok_or_else(|| Error::corrupt(m.offset, "dictionary header missing"))?;
                decode_dictionary(
                    &db,
                    &self.plan,
                    &mut self.dictionaries,
                    &mut self.dictionary_bytes,
                    m.body.len() as u64,
                    msg.version(),
                    m.offset,
                    m.body_offset,
                    &self.limits,
                    &mut self.stats,
                    &mut fetch,
                )?;
                Ok(None)
            }
            fb::MessageHeader::Schema => Err(Error::corrupt(m.offset, "a second schema message")),
            other => Err(Error::Unsupported(format!("message type {other:?} at byte {}", m.offset))),
        }
    }
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` on a clean EOF before the first byte.
fn read_full(r: &mut impl Read, buf: &mut [u8], offset: u64, what: &'static str, eof_ok: bool) -> Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 && eof_ok => return Ok(false),
            Ok(0) => {
                return Err(Error::Truncated { offset, what, needed: buf.len() as u64, available: got as u64 });
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(offset + got as u64, e)),
        }
    }
    Ok(true)
}

/// Reads the next message; `None` at the end-of-stream marker or a clean EOF.
/// `pos` is advanced past what was read. The file magic is skipped at position 0.
pub(crate) fn read_message(r: &mut impl Read, pos: &mut u64, limits: &Limits) -> Result<Option<RawMessage>> {
    let offset = *pos;
    let mut b4 = [0u8; 4];
    if !read_full(r, &mut b4, offset, "message prefix", true)? {
        return Ok(None);
    }
    *pos += 4;
    if offset == 0 && b4 == MAGIC_PADDED[..4] {
        // A file read front to back: skip the magic and its padding.
        let mut rest = [0u8; 4];
        read_full(r, &mut rest, 4, "file magic", false)?;
        if rest != MAGIC_PADDED[4..] {
            return Err(Error::corrupt(0, "bad file magic"));
        }
        *pos += 4;
        return read_message(r, pos, limits);
    }
    let mut p = format::parse_prefix4(b4, offset, limits)?;
    if p == Prefix::NeedLength {
        // A stream may end right after a bare continuation marker (old writers): treat as EOS.
        if !read_full(r, &mut b4, offset, "message length", true)? {
            return Ok(None);
        }
        *pos += 4;
        p = format::parse_len(b4, offset, limits)?;
    }
    let len = match p {
        Prefix::Eos => return Ok(None),
        Prefix::Message { len, .. } => len,
        Prefix::NeedLength => unreachable_prefix(offset)?,
    };
    let mut meta = AlignedBytesMut::zeroed(len, ALIGNMENT).map_err(|e| Error::corrupt(offset, e.to_string()))?;
    read_full(r, &mut meta[..], offset, "message metadata", false)?;
    *pos += len as u64;
    let meta = meta.freeze();
    let body_len = {
        let msg = format::parse_message(&meta, offset, limits)?;
        msg.bodyLength() as u64
    };
    if body_len > limits.max_body_len {
        return Err(Error::LimitExceeded { offset, what: "message body", value: body_len, limit: limits.max_body_len });
    }
    let body_offset = *pos;
    let body_len = usize::try_from(body_len).map_err(|_| Error::corrupt(offset, "body length overflows usize"))?;
    // `zeroed` reserves fresh pages lazily: a corrupt length within the limit costs address
    // space, not memory, until the bytes actually arrive.
    let mut body = AlignedBytesMut::zeroed(body_len, ALIGNMENT).map_err(|e| Error::corrupt(offset, e.to_string()))?;
    read_full(r, &mut body[..], body_offset, "message body", false)?;
    *pos += body_len as u64;
    Ok(Some(RawMessage { offset, meta, body_offset, body: body.freeze() }))
}

fn unreachable_prefix(offset: u64) -> Result<usize> {
    Err(Error::corrupt(offset, "continuation marker twice"))
}

/// A blocking reader of the IPC stream format (it also reads a file front to back, ignoring
/// its footer). Batches are decoded zero-copy from each message's 64-byte aligned body.
#[derive(Debug)]
pub struct StreamReader<R> {
    reader: R,
    pos: u64,
    state: StreamState,
    done: bool,
}

impl<R: Read> StreamReader<R> {
    /// Reads the schema message.
    ///
    /// # Errors
    /// If the stream does not start with a valid schema message.
    pub fn try_new(mut reader: R, options: ReadOptions) -> Result<Self> {
        let mut pos = 0;
        let m = read_message(&mut reader, &mut pos, &options.limits)?.ok_or_else(|| Error::Truncated {
            offset: 0,
            what: "schema message",
            needed: 8,
            available: pos,
        })?;
        let state = StreamState::from_schema_message(&m, &options)?;
        Ok(StreamReader { reader, pos, state, done: false })
    }

    /// The schema of the batches this reader yields (projected).
    pub fn schema(&self) -> SchemaRef {
        self.state.schema.clone()
    }

    /// The schema of the stream, before projection.
    pub fn full_schema(&self) -> SchemaRef {
        self.state.plan.schema.clone()
    }

    /// How the buffers of the batches read so far were obtained.
    pub fn stats(&self) -> CopyStats {
        self.state.stats
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The underlying reader.
    pub fn into_inner(self) -> R {
        self.reader
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            let before = self.pos;
            let Some(m) = read_message(&mut self.reader, &mut self.pos, &self.state.limits)? else {
                return self.state.end(before, self.pos).map(|()| None);
            };
            if let Some(b) = self.state.on_message(m)? {
                return Ok(Some(b));
            }
        }
    }
}

impl<R: Read> Iterator for StreamReader<R> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.next_batch();
        if !matches!(r, Ok(Some(_))) {
            self.done = true;
        }
        r.transpose()
    }
}
