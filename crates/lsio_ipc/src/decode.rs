//! Our own decoder: lays out a record batch's buffers from its metadata (checking every offset
//! and length), then builds validated `ArrayData` from buffers that are used in place when
//! aligned enough for their type and copied (and counted) otherwise.
//!
//! arrow-ipc's `RecordBatchDecoder` needs the whole body in one `Buffer`, slices it with
//! panicking methods and copies misaligned buffers silently; this decoder takes buffers from
//! anywhere (a body, a memory map, the chunks of a projected backend read) and accounts for
//! every copy.

use std::collections::HashMap;
use std::io::Read;

use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions, make_array, new_empty_array};
use arrow_buffer::Buffer;
use arrow_data::{ArrayData, BufferSpec, layout};
use arrow_ipc as fb;
use arrow_schema::{DataType, SchemaRef};
use lsio_aligned::{AlignedBytes, AlignedBytesMut};

use crate::error::{Error, Result};
use crate::options::Limits;
use crate::schema::{FieldPlan, SchemaPlan};

/// Counts of how the buffers of decoded batches were obtained.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyStats {
    /// Buffers used in place (no copy): the `RecordBatch` points into the file, map or chunk.
    pub buffers_zero_copy: u64,
    /// Bytes of the buffers used in place.
    pub bytes_zero_copy: u64,
    /// Buffers copied because they were not aligned enough for their type.
    pub buffers_copied: u64,
    /// Bytes copied for alignment.
    pub bytes_copied: u64,
    /// Buffers decompressed (into fresh 64-byte aligned memory).
    pub buffers_decompressed: u64,
    /// Bytes produced by decompression.
    pub bytes_decompressed: u64,
}

/// Body compression codec of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Codec {
    Lz4,
    Zstd,
}

/// One buffer of a message: where it is in the body and the alignment its type needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BufRef {
    /// Index among the message's buffers.
    pub(crate) index: usize,
    /// Offset in the body.
    pub(crate) offset: u64,
    pub(crate) len: u64,
    /// Alignment the decoded buffer needs (1 for bitmaps and bytes).
    pub(crate) align: usize,
    /// Element width (1 for bitmaps and bytes): arrow's typed views need whole elements.
    pub(crate) width: usize,
}

/// One field node with its buffers and children.
#[derive(Debug)]
pub(crate) struct NodeLayout<'p> {
    pub(crate) plan: &'p FieldPlan,
    pub(crate) len: usize,
    pub(crate) null_count: usize,
    pub(crate) has_validity: bool,
    pub(crate) buffers: Vec<BufRef>,
    pub(crate) children: Vec<NodeLayout<'p>>,
}

impl NodeLayout<'_> {
    /// Every buffer of this node and its children.
    pub(crate) fn all_buffers(&self, out: &mut Vec<BufRef>) {
        out.extend_from_slice(&self.buffers);
        for c in &self.children {
            c.all_buffers(out);
        }
    }
}

/// The layout of a record batch (or of a dictionary batch's single column).
#[derive(Debug)]
pub(crate) struct BatchLayout<'p> {
    pub(crate) rows: usize,
    pub(crate) columns: Vec<NodeLayout<'p>>,
    pub(crate) codec: Option<Codec>,
}

pub(crate) fn codec_of(rb: &fb::RecordBatch<'_>, offset: u64) -> Result<Option<Codec>> {
    let Some(c) = rb.compression() else { return Ok(None) };
    if c.method() != fb::BodyCompressionMethod::BUFFER {
        return Err(Error::Unsupported(format!("compression method {:?} (message at byte {offset})", c.method())));
    }
    match c.codec() {
        fb::CompressionType::LZ4_FRAME => Ok(Some(Codec::Lz4)),
        fb::CompressionType::ZSTD => Ok(Some(Codec::Zstd)),
        other => Err(Error::Unsupported(format!("compression codec {other:?} (message at byte {offset})"))),
    }
}

/// Lays out the buffers of `rb` for the given field plans, checking every node and buffer
/// against `body_len` and the limits. `offset` is where the message starts.
pub(crate) fn layout_batch<'p>(
    rb: &fb::RecordBatch<'_>,
    plans: &'p [FieldPlan],
    body_len: u64,
    version: fb::MetadataVersion,
    offset: u64,
    limits: &Limits,
) -> Result<BatchLayout<'p>> {
    let rows = rb.length();
    if rows < 0 {
        return Err(Error::corrupt(offset, format!("negative record batch length {rows}")));
    }
    let rows = usize::try_from(rows).map_err(|_| Error::corrupt(offset, "record batch length overflows usize"))?;
    let nodes = rb.nodes();
    let buffers = rb.buffers();
    let n_nodes = nodes.map_or(0, |n| n.len());
    let n_bufs = buffers.map_or(0, |b| b.len());
    if n_nodes > limits.max_buffers || n_bufs > limits.max_buffers {
        return Err(Error::LimitExceeded {
            offset,
            what: "field nodes or buffers of a message",
            value: n_nodes.max(n_bufs) as u64,
            limit: limits.max_buffers as u64,
        });
    }
    let mut w = Walker {
        nodes,
        ni: 0,
        buffers,
        bi: 0,
        variadic: rb.variadicBufferCounts(),
        vi: 0,
        body_len,
        offset,
        v5: version >= fb::MetadataVersion::V5,
        limits,
    };
    let columns = plans.iter().map(|p| w.node(p)).collect::<Result<Vec<_>>>()?;
    Ok(BatchLayout { rows, columns, codec: codec_of(rb, offset)? })
}

struct Walker<'a, 'l> {
    nodes: Option<flatbuffers::Vector<'a, fb::FieldNode>>,
    ni: usize,
    buffers: Option<flatbuffers::Vector<'a, fb::Buffer>>,
    bi: usize,
    variadic: Option<flatbuffers::Vector<'a, i64>>,
    vi: usize,
    body_len: u64,
    offset: u64,
    v5: bool,
    limits: &'l Limits,
}

impl<'a> Walker<'a, '_> {
    fn node<'p>(&mut self, plan: &'p FieldPlan) -> Result<NodeLayout<'p>> {
        let dt = &plan.data_type;
        let node = match self.nodes {
            Some(n) if self.ni < n.len() => n.get(self.ni),
            _ => return Err(Error::corrupt(self.offset, format!("too few field nodes: none left for a {dt} field"))),
        };
        self.ni += 1;
        let (len, nulls) = (node.length(), node.null_count());
        if len < 0 || nulls < 0 || nulls > len {
            return Err(Error::corrupt(
                self.offset,
                format!("field node {}: length {len}, null count {nulls}", self.ni - 1),
            ));
        }
        let len = usize::try_from(len).map_err(|_| Error::corrupt(self.offset, "field node length overflows usize"))?;
        let lay = layout(dt);
        if matches!(dt, DataType::Union(..)) && !self.v5 {
            return Err(Error::Unsupported("union arrays in metadata version V4".into()));
        }
        let mut aligns = Vec::with_capacity(lay.buffers.len() + 1);
        if lay.can_contain_null_mask {
            aligns.push((1, 1));
        }
        for spec in &lay.buffers {
            aligns.push(match spec {
                BufferSpec::FixedWidth { alignment, byte_width } => (*alignment, (*byte_width).max(1)),
                _ => (1, 1),
            });
        }
        if lay.variadic {
            let count = match self.variadic {
                Some(v) if self.vi < v.len() => v.get(self.vi),
                _ => {
                    return Err(Error::corrupt(self.offset, format!("missing variadic buffer count for a {dt} field")));
                }
            };
            self.vi += 1;
            if count < 0 || count as u64 > self.limits.max_buffers as u64 {
                return Err(Error::corrupt(self.offset, format!("variadic buffer count {count}")));
            }
            aligns.extend(std::iter::repeat_n((1, 1), count as usize));
        }
        let mut bufs = Vec::with_capacity(aligns.len());
        for (align, width) in aligns {
            bufs.push(self.buffer(align, width, dt)?);
        }
        let children = match dt {
            DataType::Dictionary(..) => Vec::new(),
            _ => plan.children.iter().map(|c| self.node(c)).collect::<Result<Vec<_>>>()?,
        };
        Ok(NodeLayout {
            plan,
            len,
            null_count: nulls as usize,
            has_validity: lay.can_contain_null_mask,
            buffers: bufs,
            children,
        })
    }

    fn buffer(&mut self, align: usize, width: usize, dt: &DataType) -> Result<BufRef> {
        let b = match self.buffers {
            Some(b) if self.bi < b.len() => b.get(self.bi),
            _ => return Err(Error::corrupt(self.offset, format!("too few buffers: none left for a {dt} field"))),
        };
        let index = self.bi;
        self.bi += 1;
        let (o, l) = (b.offset(), b.length());
        let end = if o >= 0 && l >= 0 { (o as u64).checked_add(l as u64) } else { None };
        match end {
            Some(end) if end <= self.body_len => {}
            _ => {
                return Err(Error::corrupt(
                    self.offset,
                    format!(
                        "buffer {index} at body offset {o} with length {l} is outside the body of {} bytes",
                        self.body_len
                    ),
                ));
            }
        }
        Ok(BufRef { index, offset: o as u64, len: l as u64, align, width })
    }
}

/// Builds arrays from buffers fetched by index, with copy accounting.
pub(crate) struct Decoder<'a> {
    pub(crate) limits: &'a Limits,
    pub(crate) codec: Option<Codec>,
    pub(crate) stats: &'a mut CopyStats,
    pub(crate) dictionaries: &'a HashMap<i64, ArrayData>,
    /// Absolute offset of the body (for error messages).
    pub(crate) body_offset: u64,
    /// Absolute offset of the message (for error messages).
    pub(crate) msg_offset: u64,
}

impl Decoder<'_> {
    /// Decodes the columns of `layout` selected by `columns` into a batch of `schema`.
    pub(crate) fn batch(
        &mut self,
        layout: &BatchLayout<'_>,
        columns: &[usize],
        schema: SchemaRef,
        fetch: &mut dyn FnMut(&BufRef) -> Result<AlignedBytes>,
    ) -> Result<RecordBatch> {
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
        for &c in columns {
            let node =
                layout.columns.get(c).ok_or_else(|| Error::InvalidArgument(format!("column {c} out of range")))?;
            arrays.push(make_array(self.array(node, fetch)?));
        }
        let options = RecordBatchOptions::new().with_row_count(Some(layout.rows));
        RecordBatch::try_new_with_options(schema, arrays, &options)
            .map_err(|source| Error::InvalidData { offset: self.msg_offset, source })
    }

    pub(crate) fn array(
        &mut self,
        node: &NodeLayout<'_>,
        fetch: &mut dyn FnMut(&BufRef) -> Result<AlignedBytes>,
    ) -> Result<ArrayData> {
        let dt = node.plan.data_type.clone();
        let mut buffers = Vec::with_capacity(node.buffers.len());
        for b in &node.buffers {
            let raw = fetch(b)?;
            buffers.push(self.buffer(b, raw)?);
        }
        let mut nulls = None;
        if node.has_validity && !buffers.is_empty() {
            let validity = buffers.remove(0);
            if node.null_count > 0 {
                if (validity.len() as u64).saturating_mul(8) < node.len as u64 {
                    return Err(Error::corrupt(
                        self.body_offset + node.buffers[0].offset,
                        format!("validity bitmap of {} bytes is too short for {} values", validity.len(), node.len),
                    ));
                }
                nulls = Some(validity);
            }
        }
        let mut children = Vec::with_capacity(node.children.len());
        for c in &node.children {
            children.push(self.array(c, fetch)?);
        }
        if let (DataType::Dictionary(_, value_type), Some(id)) = (&dt, node.plan.dict_id) {
            let values = match self.dictionaries.get(&id) {
                Some(v) => v.clone(),
                // Dictionaries may be omitted when every key is null.
                None => new_empty_array(value_type).to_data(),
            };
            children.push(values);
        }
        if matches!(dt, DataType::Null) && node.null_count != node.len && node.null_count != 0 {
            return Err(Error::corrupt(self.msg_offset, "null array whose null count is not its length"));
        }
        ArrayData::builder(dt)
            .len(node.len)
            .buffers(buffers)
            .null_bit_buffer(nulls)
            .child_data(children)
            .build()
            .map_err(|source| Error::InvalidData { offset: self.msg_offset, source })
    }

    fn buffer(&mut self, b: &BufRef, raw: AlignedBytes) -> Result<Buffer> {
        let at = self.body_offset + b.offset;
        if raw.len() as u64 != b.len {
            return Err(Error::corrupt(at, format!("buffer of {} bytes where {} were expected", raw.len(), b.len)));
        }
        if raw.is_empty() {
            return Ok(AlignedBytes::new().into_arrow_buffer());
        }
        let raw = match self.codec {
            None => raw,
            Some(codec) => {
                let prefix = raw.get(..8).ok_or_else(|| Error::Truncated {
                    offset: at,
                    what: "compressed buffer length prefix",
                    needed: 8,
                    available: raw.len() as u64,
                })?;
                let n = i64::from_le_bytes(prefix.try_into().map_err(|_| Error::corrupt(at, "prefix"))?);
                match n {
                    -1 => raw.try_slice(8..raw.len()).ok_or_else(|| Error::corrupt(at, "prefix"))?,
                    0 => return Ok(AlignedBytes::new().into_arrow_buffer()),
                    n if n < 0 => return Err(Error::corrupt(at, format!("uncompressed length {n}"))),
                    n => return self.decompress(codec, &raw[8..], n as u64, b.width, at),
                }
            }
        };
        // Arrow's typed views need whole elements: drop a ragged tail (validation then checks
        // that what is left is long enough).
        let raw = raw.slice(..raw.len() - raw.len() % b.width);
        if raw.is_aligned_to(b.align) {
            self.stats.buffers_zero_copy += 1;
            self.stats.bytes_zero_copy += raw.len() as u64;
            Ok(raw.into_arrow_buffer())
        } else {
            self.stats.buffers_copied += 1;
            self.stats.bytes_copied += raw.len() as u64;
            Ok(AlignedBytes::copy_from_slice(&raw).into_arrow_buffer())
        }
    }

    fn decompress(&mut self, codec: Codec, src: &[u8], n: u64, width: usize, at: u64) -> Result<Buffer> {
        if n > self.limits.max_buffer_len {
            return Err(Error::LimitExceeded {
                offset: at,
                what: "decompressed buffer",
                value: n,
                limit: self.limits.max_buffer_len,
            });
        }
        let n = usize::try_from(n).map_err(|_| Error::corrupt(at, "uncompressed length overflows usize"))?;
        let err = |what: String| Error::Decompression { offset: at, what };
        let mut out = AlignedBytesMut::zeroed(n, crate::format::ALIGNMENT).map_err(|e| err(e.to_string()))?;
        match codec {
            Codec::Zstd => {
                let got = zstd::bulk::decompress_to_buffer(src, &mut out[..]).map_err(|e| err(format!("zstd: {e}")))?;
                if got != n {
                    return Err(err(format!("zstd produced {got} bytes, the prefix says {n}")));
                }
            }
            Codec::Lz4 => {
                let mut dec = lz4_flex::frame::FrameDecoder::new(src);
                dec.read_exact(&mut out[..]).map_err(|e| err(format!("lz4: {e}")))?;
                let mut extra = [0u8; 1];
                if dec.read(&mut extra).map_err(|e| err(format!("lz4: {e}")))? != 0 {
                    return Err(err(format!("lz4 produced more than the {n} bytes the prefix says")));
                }
            }
        }
        self.stats.buffers_decompressed += 1;
        self.stats.bytes_decompressed += n as u64;
        let out = out.freeze();
        Ok(out.slice(..n - n % width).into_arrow_buffer())
    }
}

/// Decodes a dictionary batch into `dictionaries` (replacing, or appending for a delta).
#[allow(clippy::too_many_arguments)]
pub(crate) fn decode_dictionary(
    db: &fb::DictionaryBatch<'_>,
    plan: &SchemaPlan,
    dictionaries: &mut HashMap<i64, ArrayData>,
    dictionary_bytes: &mut HashMap<i64, u64>,
    body_len: u64,
    version: fb::MetadataVersion,
    msg_offset: u64,
    body_offset: u64,
    limits: &Limits,
    stats: &mut CopyStats,
    fetch: &mut dyn FnMut(&BufRef) -> Result<AlignedBytes>,
) -> Result<()> {
    let id = db.id();
    let value_plan = plan
        .dictionaries
        .get(&id)
        .ok_or_else(|| Error::corrupt(msg_offset, format!("dictionary batch for unknown dictionary id {id}")))?;
    let rb = db.data().ok_or_else(|| Error::corrupt(msg_offset, "dictionary batch without data"))?;
    let total = dictionary_bytes.get(&id).copied().unwrap_or(0);
    let total = if db.isDelta() { total.saturating_add(body_len) } else { body_len };
    if total > limits.max_dictionary_len {
        return Err(Error::LimitExceeded {
            offset: msg_offset,
            what: "dictionary",
            value: total,
            limit: limits.max_dictionary_len,
        });
    }
    let plans = std::slice::from_ref(value_plan);
    let layout = layout_batch(&rb, plans, body_len, version, msg_offset, limits)?;
    let node = layout.columns.first().ok_or_else(|| Error::corrupt(msg_offset, "empty dictionary batch"))?;
    let mut dec = Decoder { limits, codec: layout.codec, stats, dictionaries, body_offset, msg_offset };
    let values = dec.array(node, fetch)?;
    let values = match (db.isDelta(), dictionaries.get(&id)) {
        (true, Some(old)) => {
            let (a, b) = (make_array(old.clone()), make_array(values));
            arrow_select::concat::concat(&[a.as_ref(), b.as_ref()])
                .map_err(|source| Error::InvalidData { offset: msg_offset, source })?
                .to_data()
        }
        _ => values,
    };
    dictionary_bytes.insert(id, total);
    dictionaries.insert(id, values);
    Ok(())
}

/// The schema of the projected columns.
pub(crate) fn project_schema(schema: &SchemaRef, columns: &[usize]) -> Result<SchemaRef> {
    if columns.iter().all(|c| *c < schema.fields().len())
        && columns.len() == schema.fields().len()
        && columns.iter().enumerate().all(|(i, c)| i == *c)
    {
        return Ok(schema.clone());
    }
    Ok(std::sync::Arc::new(schema.project(columns).map_err(|e| Error::InvalidArgument(e.to_string()))?))
}

/// The column indices of a projection, checked against the schema.
pub(crate) fn columns_of(projection: Option<&[usize]>, n: usize) -> Result<Vec<usize>> {
    match projection {
        None => Ok((0..n).collect()),
        Some(p) => {
            if let Some(c) = p.iter().find(|c| **c >= n) {
                return Err(Error::InvalidArgument(format!("projected column {c} of a schema with {n} fields")));
            }
            Ok(p.to_vec())
        }
    }
}
