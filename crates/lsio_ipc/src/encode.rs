//! Our own encoder: turns record batches into message metadata plus a list of body parts that
//! borrow the arrays' buffers (written with vectored writes, never copied into a body buffer),
//! with optional per-buffer compression (in parallel with `std::thread::scope`) and dictionary
//! tracking (replacement and delta dictionaries). Schemas are encoded with arrow-ipc's
//! `IpcSchemaEncoder`.

use std::collections::HashMap;
use std::io::{IoSlice, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, make_array};
use arrow_buffer::{BooleanBuffer, Buffer, OffsetBuffer};
use arrow_data::{BufferSpec, layout};
use arrow_ipc as fb;
use arrow_ipc::convert::IpcSchemaEncoder;
use arrow_ipc::writer::DictionaryTracker;
use arrow_schema::{DataType, SchemaRef};
use flatbuffers::FlatBufferBuilder;

use crate::error::{Error, Result};
use crate::format::{ALIGNMENT, CONTINUATION, ZEROS, padding};
use crate::options::{Compression, DictionaryHandling, WriteOptions};
use crate::schema::{FieldPlan, SchemaPlan, schema_from_fb};

/// A piece of a message body.
#[derive(Debug, Clone)]
pub(crate) enum Part {
    /// Bytes of a buffer (an array's own memory, or compressed bytes).
    Buf(Buffer),
    /// An 8-byte little-endian length prefix.
    Prefix([u8; 8]),
    /// `n` zero bytes of padding.
    Zeros(usize),
}

impl Part {
    fn bytes(&self) -> &[u8] {
        match self {
            Part::Buf(b) => b.as_slice(),
            Part::Prefix(p) => p,
            Part::Zeros(n) => &ZEROS[..*n],
        }
    }
}

/// One encoded message: prefix + metadata + padding, and the body parts.
#[derive(Debug)]
pub(crate) struct Encoded {
    pub(crate) meta: Vec<u8>,
    pub(crate) parts: Vec<Part>,
    pub(crate) body_len: u64,
}

impl Encoded {
    pub(crate) fn len(&self) -> u64 {
        self.meta.len() as u64 + self.body_len
    }

    /// The message as I/O slices, in order.
    pub(crate) fn slices(&self) -> Vec<IoSlice<'_>> {
        let mut v = Vec::with_capacity(self.parts.len() + 1);
        v.push(IoSlice::new(&self.meta));
        v.extend(self.parts.iter().map(|p| IoSlice::new(p.bytes())).filter(|s| !s.is_empty()));
        v
    }
}

/// Writes all slices with `write_vectored`, handling short writes.
pub(crate) fn write_all_vectored(w: &mut impl Write, mut slices: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match w.write_vectored(slices) {
            Ok(0) => return Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "failed to write whole message")),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Builds a framed message: continuation, metadata length, flatbuffer, padding such that the
/// body starts at a multiple of 64 when the message starts at `pos`.
fn frame(data: &[u8], pos: u64) -> Vec<u8> {
    let pad = padding((pos as usize).wrapping_add(8 + data.len()), ALIGNMENT);
    let mut out = Vec::with_capacity(8 + data.len() + pad);
    out.extend_from_slice(&CONTINUATION);
    out.extend_from_slice(&((data.len() + pad) as i32).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&ZEROS[..pad]);
    out
}

/// Encodes a schema flatbuffer into `fbb` (dictionary ids assigned by arrow-ipc's tracker).
pub(crate) fn schema_offset<'a>(
    fbb: &mut FlatBufferBuilder<'a>,
    schema: &arrow_schema::Schema,
) -> flatbuffers::WIPOffset<fb::Schema<'a>> {
    let mut tracker = DictionaryTracker::new(false);
    IpcSchemaEncoder::new().with_dictionary_tracker(&mut tracker).schema_to_fb_offset(fbb, schema)
}

/// The schema message, and the plan read back from it (which gives the dictionary ids).
pub(crate) fn schema_message(schema: &arrow_schema::Schema, pos: u64) -> Result<(Encoded, SchemaPlan)> {
    let mut fbb = FlatBufferBuilder::new();
    let s = schema_offset(&mut fbb, schema);
    let mut mb = fb::MessageBuilder::new(&mut fbb);
    mb.add_version(fb::MetadataVersion::V5);
    mb.add_header_type(fb::MessageHeader::Schema);
    mb.add_header(s.as_union_value());
    mb.add_bodyLength(0);
    let m = mb.finish();
    fbb.finish(m, None);
    let data = fbb.finished_data();
    let msg = fb::root_as_message(data).map_err(|e| Error::InvalidArgument(format!("schema encoding: {e}")))?;
    let sfb = msg.header_as_schema().ok_or_else(|| Error::InvalidArgument("schema encoding".into()))?;
    let plan = schema_from_fb(sfb, pos, usize::MAX)?;
    Ok((Encoded { meta: frame(data, pos), parts: Vec::new(), body_len: 0 }, plan))
}

/// Buffers and nodes of one record batch (or dictionary batch) before layout.
#[derive(Default)]
struct Collected {
    nodes: Vec<fb::FieldNode>,
    buffers: Vec<Buffer>,
    variadic: Vec<i64>,
}

fn bitmap(b: &BooleanBuffer) -> Buffer {
    // Zero-copy when the bit offset is a multiple of 8, a (small) copy otherwise.
    b.sliced()
}

fn offsets_buffer<O: arrow_array::OffsetSizeTrait>(offsets: &OffsetBuffer<O>) -> (Buffer, usize, usize) {
    let first = offsets.first().map_or(0, |o| o.as_usize());
    let last = offsets.last().map_or(0, |o| o.as_usize());
    let buf = if offsets.is_empty() {
        Buffer::from_vec(vec![O::zero()])
    } else if first == 0 {
        offsets.inner().inner().clone()
    } else {
        let first_o = offsets[0];
        Buffer::from_vec(offsets.iter().map(|o| *o - first_o).collect::<Vec<O>>())
    };
    (buf, first, last)
}

impl Collected {
    fn array(&mut self, array: &dyn Array, plan: &FieldPlan) -> Result<()> {
        let dt = array.data_type();
        let len = array.len();
        let null_count = match dt {
            DataType::Null => len,
            _ => array.null_count(),
        };
        self.nodes.push(fb::FieldNode::new(len as i64, null_count as i64));
        let lay = layout(dt);
        if lay.can_contain_null_mask {
            match array.nulls() {
                Some(n) if n.null_count() > 0 => self.buffers.push(bitmap(n.inner())),
                _ => self.buffers.push(Buffer::from_vec(Vec::<u8>::new())),
            }
        }
        let child_plan = |i: usize| {
            plan.children
                .get(i)
                .ok_or_else(|| Error::InvalidArgument(format!("batch does not match the schema at a {dt} field")))
        };
        match dt {
            DataType::Null => {}
            DataType::Boolean => {
                let data = array.to_data();
                self.buffers.push(bitmap(&BooleanBuffer::new(data.buffers()[0].clone(), data.offset(), len)));
            }
            DataType::Utf8 | DataType::Binary => {
                let a = array.as_bytes_opt_any_i32();
                self.bytes_i32(a)?;
            }
            DataType::LargeUtf8 | DataType::LargeBinary => {
                let data = array.to_data();
                let offsets = OffsetBuffer::<i64>::new(arrow_buffer::ScalarBuffer::new(
                    data.buffers()[0].clone(),
                    data.offset(),
                    len + 1,
                ));
                let (ob, first, last) = offsets_buffer(&offsets);
                self.buffers.push(ob);
                self.buffers.push(data.buffers()[1].slice_with_length(first, last - first));
            }
            DataType::Utf8View | DataType::BinaryView => {
                let data = array.to_data();
                self.buffers.push(data.buffers()[0].slice_with_length(data.offset() * 16, len * 16));
                let extra = &data.buffers()[1..];
                self.buffers.extend(extra.iter().cloned());
                self.variadic.push(extra.len() as i64);
            }
            DataType::List(_) => {
                let a = array.as_list::<i32>();
                let (ob, first, last) = offsets_buffer(a.offsets());
                self.buffers.push(ob);
                self.array(a.values().slice(first, last - first).as_ref(), child_plan(0)?)?;
            }
            DataType::LargeList(_) => {
                let a = array.as_list::<i64>();
                let (ob, first, last) = offsets_buffer(a.offsets());
                self.buffers.push(ob);
                self.array(a.values().slice(first, last - first).as_ref(), child_plan(0)?)?;
            }
            DataType::Map(..) => {
                let a = array.as_map();
                let (ob, first, last) = offsets_buffer(a.offsets());
                self.buffers.push(ob);
                let entries: ArrayRef = Arc::new(a.entries().slice(first, last - first));
                self.array(entries.as_ref(), child_plan(0)?)?;
            }
            DataType::ListView(_) | DataType::LargeListView(_) => {
                let data = array.to_data();
                let w = if matches!(dt, DataType::ListView(_)) { 4 } else { 8 };
                self.buffers.push(data.buffers()[0].slice_with_length(data.offset() * w, len * w));
                self.buffers.push(data.buffers()[1].slice_with_length(data.offset() * w, len * w));
                let child = make_array(data.child_data()[0].clone());
                self.array(child.as_ref(), child_plan(0)?)?;
            }
            DataType::FixedSizeList(_, size) => {
                let a = array.as_fixed_size_list();
                let n = (*size as usize) * len;
                let values = a.values();
                self.array(values.slice(0, n.min(values.len())).as_ref(), child_plan(0)?)?;
            }
            DataType::Struct(_) => {
                let a = array.as_struct();
                for (i, c) in a.columns().iter().enumerate() {
                    self.array(c.as_ref(), child_plan(i)?)?;
                }
            }
            DataType::Union(fields, mode) => {
                let a = array.as_union();
                self.buffers.push(a.type_ids().inner().clone());
                if let (arrow_schema::UnionMode::Dense, Some(o)) = (mode, a.offsets()) {
                    self.buffers.push(o.inner().clone());
                }
                for (i, (type_id, _)) in fields.iter().enumerate() {
                    self.array(a.child(type_id).as_ref(), child_plan(i)?)?;
                }
            }
            DataType::Dictionary(..) => {
                let data = array.to_data();
                let w = fixed_width(&data.data_type().clone()).unwrap_or(1);
                self.buffers.push(data.buffers()[0].slice_with_length(data.offset() * w, len * w));
            }
            DataType::RunEndEncoded(..) => {
                return Err(Error::Unsupported("writing run-end encoded arrays".into()));
            }
            DataType::FixedSizeBinary(w) => {
                let data = array.to_data();
                let w = *w as usize;
                self.buffers.push(data.buffers()[0].slice_with_length(data.offset() * w, len * w));
            }
            _ => {
                let w = fixed_width(dt).ok_or_else(|| Error::Unsupported(format!("writing {dt} arrays")))?;
                let data = array.to_data();
                self.buffers.push(data.buffers()[0].slice_with_length(data.offset() * w, len * w));
            }
        }
        Ok(())
    }

    fn bytes_i32(&mut self, a: Option<(&OffsetBuffer<i32>, &Buffer)>) -> Result<()> {
        let (offsets, values) = a.ok_or_else(|| Error::InvalidArgument("not a byte array".into()))?;
        let (ob, first, last) = offsets_buffer(offsets);
        self.buffers.push(ob);
        self.buffers.push(values.slice_with_length(first, last - first));
        Ok(())
    }
}

trait BytesAny {
    fn as_bytes_opt_any_i32(&self) -> Option<(&OffsetBuffer<i32>, &Buffer)>;
}

impl BytesAny for dyn Array + '_ {
    fn as_bytes_opt_any_i32(&self) -> Option<(&OffsetBuffer<i32>, &Buffer)> {
        if let Some(a) = self.as_string_opt::<i32>() {
            return Some((a.offsets(), a.values()));
        }
        self.as_binary_opt::<i32>().map(|a| (a.offsets(), a.values()))
    }
}

/// Byte width of the values buffer of a fixed-width type (the keys of a dictionary).
fn fixed_width(dt: &DataType) -> Option<usize> {
    match layout(dt).buffers.first() {
        Some(BufferSpec::FixedWidth { byte_width, .. }) => Some(*byte_width),
        _ => None,
    }
}

/// Compresses `data` into a fresh vector (without the length prefix, which is its own part).
fn compress_one(c: Compression, data: &[u8], zstd: &mut Option<zstd::bulk::Compressor<'static>>) -> Result<Vec<u8>> {
    match c {
        Compression::Zstd(level) => {
            if zstd.is_none() {
                *zstd = Some(
                    zstd::bulk::Compressor::new(level)
                        .map_err(|e| Error::InvalidArgument(format!("zstd level {level}: {e}")))?,
                );
            }
            let comp = zstd.as_mut().ok_or_else(|| Error::InvalidArgument("zstd".into()))?;
            // Written into the spare capacity: no zeroing of the output.
            let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(data.len()));
            comp.compress_to_buffer(data, &mut out).map_err(|e| Error::InvalidArgument(format!("zstd: {e}")))?;
            Ok(out)
        }
        Compression::Lz4Frame => {
            let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(data.len() / 2 + 64));
            enc.write_all(data).map_err(|e| Error::InvalidArgument(format!("lz4: {e}")))?;
            enc.finish().map_err(|e| Error::InvalidArgument(format!("lz4: {e}")))
        }
    }
}

/// Compressed form of one buffer.
enum Compressed {
    Empty,
    Packed(Vec<u8>),
    Raw(Buffer),
}

/// zstd contexts kept across messages (one per compression thread): creating one and growing
/// its workspace costs more than compressing a small buffer.
#[derive(Default)]
pub(crate) struct Contexts(Vec<Option<zstd::bulk::Compressor<'static>>>);

impl std::fmt::Debug for Contexts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Contexts({})", self.0.len())
    }
}

fn compress_buffers(
    bufs: &[Buffer],
    c: Compression,
    options: &WriteOptions,
    ctx: &mut Contexts,
) -> Result<Vec<Compressed>> {
    let one = |b: &Buffer, z: &mut Option<zstd::bulk::Compressor<'static>>| -> Result<Compressed> {
        if b.is_empty() {
            return Ok(Compressed::Empty);
        }
        let packed = compress_one(c, b.as_slice(), z)?;
        // The spec's escape: a buffer that does not shrink is stored as it is, after a -1.
        Ok(if packed.len() >= b.len() { Compressed::Raw(b.clone()) } else { Compressed::Packed(packed) })
    };
    let total: usize = bufs.iter().map(|b| b.len()).sum();
    #[cfg(feature = "scheduler")]
    if let Some(pool) = &options.executor
        && total >= options.parallel_compression_min_bytes
        && bufs.len() > 1
    {
        let slots: Vec<std::sync::Mutex<Option<Result<Compressed>>>> =
            bufs.iter().map(|_| std::sync::Mutex::new(None)).collect();
        pool.scope(|s| {
            for (b, slot) in bufs.iter().zip(&slots) {
                s.spawn(move |_| {
                    let r = one(b, &mut None);
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                });
            }
        })
        .map_err(|e| Error::InvalidArgument(format!("compression task: {e}")))?;
        return slots
            .into_iter()
            .map(|m| {
                m.into_inner()
                    .unwrap_or_else(|p| p.into_inner())
                    .unwrap_or_else(|| Err(Error::InvalidArgument("compression task did not run".into())))
            })
            .collect();
    }

    let threads = options.compression_threads.max(1).min(bufs.len().max(1));
    if ctx.0.len() < threads.max(1) {
        ctx.0.resize_with(threads.max(1), || None);
    }
    if threads <= 1 || total < options.parallel_compression_min_bytes {
        let z = &mut ctx.0[0];
        return bufs.iter().map(|b| one(b, z)).collect();
    }
    // Largest first, claimed by index from a shared counter.
    let mut order: Vec<usize> = (0..bufs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(bufs[i].len()));
    let next = AtomicUsize::new(0);
    let results: Vec<Vec<(usize, Result<Compressed>)>> = std::thread::scope(|s| {
        let (order, next, one) = (&order, &next, &one);
        let handles: Vec<_> = ctx.0[..threads]
            .iter_mut()
            .map(|z| {
                s.spawn(move || {
                    let mut out = Vec::new();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&i) = order.get(k) else { break };
                        out.push((i, one(&bufs[i], z)));
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let mut slots: Vec<Option<Compressed>> = (0..bufs.len()).map(|_| None).collect();
    for (i, r) in results.into_iter().flatten() {
        slots[i] = Some(r?);
    }
    slots.into_iter().map(|s| s.ok_or_else(|| Error::InvalidArgument("compression thread failed".into()))).collect()
}

/// The state of a writer: schema, dictionary tracking, position.
#[derive(Debug)]
pub(crate) struct EncoderState {
    pub(crate) schema: SchemaRef,
    pub(crate) plan: SchemaPlan,
    pub(crate) options: WriteOptions,
    pub(crate) is_file: bool,
    written: HashMap<i64, ArrayRef>,
    contexts: Contexts,
}

/// A message to write, and whether it is a dictionary (for the footer).
pub(crate) struct Out {
    pub(crate) encoded: Encoded,
    pub(crate) is_dictionary: bool,
}

impl EncoderState {
    pub(crate) fn new(schema: SchemaRef, options: WriteOptions, is_file: bool, pos: u64) -> Result<(Self, Encoded)> {
        let (enc, plan) = schema_message(&schema, pos)?;
        Ok((
            EncoderState { schema, plan, options, is_file, written: HashMap::new(), contexts: Contexts::default() },
            enc,
        ))
    }

    /// Encodes the dictionaries that changed and the batch; `pos` is where the first message
    /// will start.
    pub(crate) fn encode(&mut self, batch: &RecordBatch, mut pos: u64) -> Result<Vec<Out>> {
        if batch.num_columns() != self.plan.fields.len() {
            return Err(Error::InvalidArgument(format!(
                "batch has {} columns, the schema {}",
                batch.num_columns(),
                self.plan.fields.len()
            )));
        }
        for (i, (c, f)) in batch.columns().iter().zip(self.schema.fields()).enumerate() {
            if c.data_type() != f.data_type() {
                return Err(Error::InvalidArgument(format!(
                    "column {i} is {}, the schema says {}",
                    c.data_type(),
                    f.data_type()
                )));
            }
        }
        let mut dicts = Vec::new();
        for (c, p) in batch.columns().iter().zip(&self.plan.fields) {
            collect_dictionaries(c.as_ref(), p, &mut dicts)?;
        }
        let mut out = Vec::new();
        for (id, values) in dicts {
            let (to_write, delta) = match self.written.get(&id) {
                None => (values.clone(), false),
                Some(old) if old.to_data().ptr_eq(&values.to_data()) || old.to_data() == values.to_data() => continue,
                Some(_) if self.is_file => {
                    return Err(Error::InvalidArgument(format!(
                        "the file format does not allow replacing dictionary {id}; write a stream, or keep the dictionary"
                    )));
                }
                Some(old) => {
                    let is_prefix = self.options.dictionary_handling == DictionaryHandling::Delta
                        && values.len() >= old.len()
                        && values.slice(0, old.len()).to_data() == old.to_data();
                    if is_prefix {
                        (values.slice(old.len(), values.len() - old.len()), true)
                    } else {
                        (values.clone(), false)
                    }
                }
            };
            let plan = self
                .plan
                .dictionaries
                .get(&id)
                .ok_or_else(|| Error::InvalidArgument(format!("unknown dictionary {id}")))?
                .clone();
            let enc = self.dictionary_message(id, to_write.as_ref(), &plan, delta, pos)?;
            pos += enc.len();
            out.push(Out { encoded: enc, is_dictionary: true });
            self.written.insert(id, values);
        }
        let mut col = Collected::default();
        for (c, p) in batch.columns().iter().zip(&self.plan.fields) {
            col.array(c.as_ref(), p)?;
        }
        let enc = self.record_batch_message(col, batch.num_rows(), None, pos)?;
        out.push(Out { encoded: enc, is_dictionary: false });
        Ok(out)
    }

    fn dictionary_message(
        &mut self,
        id: i64,
        values: &dyn Array,
        plan: &FieldPlan,
        delta: bool,
        pos: u64,
    ) -> Result<Encoded> {
        let mut col = Collected::default();
        col.array(values, plan)?;
        self.record_batch_message(col, values.len(), Some((id, delta)), pos)
    }

    fn record_batch_message(
        &mut self,
        col: Collected,
        rows: usize,
        dict: Option<(i64, bool)>,
        pos: u64,
    ) -> Result<Encoded> {
        let mut parts = Vec::with_capacity(col.buffers.len() * 2);
        let mut specs = Vec::with_capacity(col.buffers.len());
        let mut cur = 0usize;
        let mut push = |parts: &mut Vec<Part>, specs: &mut Vec<fb::Buffer>, pieces: Vec<Part>, len: usize| {
            specs.push(fb::Buffer::new(cur as i64, len as i64));
            parts.extend(pieces);
            let pad = padding(len, ALIGNMENT);
            if pad > 0 {
                parts.push(Part::Zeros(pad));
            }
            cur += len + pad;
        };
        match self.options.compression {
            None => {
                for b in col.buffers {
                    let len = b.len();
                    push(&mut parts, &mut specs, if len > 0 { vec![Part::Buf(b)] } else { vec![] }, len);
                }
            }
            Some(c) => {
                let packed = compress_buffers(&col.buffers, c, &self.options, &mut self.contexts)?;
                for (r, raw) in packed.into_iter().zip(&col.buffers) {
                    let uncompressed_len = raw.len() as i64;
                    match r {
                        Compressed::Empty => push(&mut parts, &mut specs, vec![], 0),
                        Compressed::Packed(v) => {
                            let len = v.len() + 8;
                            let prefix = Part::Prefix(uncompressed_len.to_le_bytes());
                            push(&mut parts, &mut specs, vec![prefix, Part::Buf(Buffer::from_vec(v))], len)
                        }
                        Compressed::Raw(b) => {
                            let len = b.len() + 8;
                            push(&mut parts, &mut specs, vec![Part::Prefix((-1i64).to_le_bytes()), Part::Buf(b)], len)
                        }
                    }
                }
            }
        }
        let mut fbb = FlatBufferBuilder::with_capacity(1024 + 16 * (col.nodes.len() + specs.len()));
        let nodes = fbb.create_vector(&col.nodes);
        let buffers = fbb.create_vector(&specs);
        let variadic = (!col.variadic.is_empty()).then(|| fbb.create_vector(&col.variadic));
        let compression = self.options.compression.map(|c| {
            let mut b = fb::BodyCompressionBuilder::new(&mut fbb);
            b.add_codec(match c {
                Compression::Lz4Frame => fb::CompressionType::LZ4_FRAME,
                Compression::Zstd(_) => fb::CompressionType::ZSTD,
            });
            b.add_method(fb::BodyCompressionMethod::BUFFER);
            b.finish()
        });
        let mut rb = fb::RecordBatchBuilder::new(&mut fbb);
        rb.add_length(rows as i64);
        rb.add_nodes(nodes);
        rb.add_buffers(buffers);
        if let Some(c) = compression {
            rb.add_compression(c);
        }
        if let Some(v) = variadic {
            rb.add_variadicBufferCounts(v);
        }
        let rb = rb.finish();
        let (header_type, header) = match dict {
            None => (fb::MessageHeader::RecordBatch, rb.as_union_value()),
            Some((id, delta)) => {
                let mut db = fb::DictionaryBatchBuilder::new(&mut fbb);
                db.add_id(id);
                db.add_data(rb);
                db.add_isDelta(delta);
                (fb::MessageHeader::DictionaryBatch, db.finish().as_union_value())
            }
        };
        let mut mb = fb::MessageBuilder::new(&mut fbb);
        mb.add_version(fb::MetadataVersion::V5);
        mb.add_header_type(header_type);
        mb.add_header(header);
        mb.add_bodyLength(cur as i64);
        let m = mb.finish();
        fbb.finish(m, None);
        Ok(Encoded { meta: frame(fbb.finished_data(), pos), parts, body_len: cur as u64 })
    }
}

/// Finds the dictionary arrays (nested ones first) with their ids.
fn collect_dictionaries(array: &dyn Array, plan: &FieldPlan, out: &mut Vec<(i64, ArrayRef)>) -> Result<()> {
    let dt = array.data_type();
    let child = |i: usize| {
        plan.children
            .get(i)
            .ok_or_else(|| Error::InvalidArgument(format!("batch does not match the schema at a {dt} field")))
    };
    match dt {
        DataType::Dictionary(..) => {
            let d = array.as_any_dictionary();
            let values = d.values();
            let vp = plan.value_plan();
            collect_dictionaries(values.as_ref(), &vp, out)?;
            let id = plan.dict_id.ok_or_else(|| Error::InvalidArgument("dictionary without id".into()))?;
            if !out.iter().any(|(i, _)| *i == id) {
                out.push((id, values.clone()));
            }
        }
        DataType::List(_) => collect_dictionaries(array.as_list::<i32>().values().as_ref(), child(0)?, out)?,
        DataType::LargeList(_) => collect_dictionaries(array.as_list::<i64>().values().as_ref(), child(0)?, out)?,
        DataType::FixedSizeList(..) => {
            collect_dictionaries(array.as_fixed_size_list().values().as_ref(), child(0)?, out)?
        }
        DataType::Map(..) => {
            let e: ArrayRef = Arc::new(array.as_map().entries().clone());
            collect_dictionaries(e.as_ref(), child(0)?, out)?
        }
        DataType::ListView(_) | DataType::LargeListView(_) => {
            let c = make_array(array.to_data().child_data()[0].clone());
            collect_dictionaries(c.as_ref(), child(0)?, out)?
        }
        DataType::Struct(_) => {
            for (i, c) in array.as_struct().columns().iter().enumerate() {
                collect_dictionaries(c.as_ref(), child(i)?, out)?;
            }
        }
        DataType::Union(fields, _) => {
            let u = array.as_union();
            for (i, (id, _)) in fields.iter().enumerate() {
                collect_dictionaries(u.child(id).as_ref(), child(i)?, out)?;
            }
        }
        _ => {}
    }
    Ok(())
}
