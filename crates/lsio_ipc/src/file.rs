//! Random-access reading of the file format over any byte source: a memory map, memory, a
//! `Read + Seek`, or an `lsio_io` backend. Opening reads the footer only; batches are decoded
//! on demand, reading only the buffers of the projected columns.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;

use arrow_array::RecordBatch;
use arrow_data::ArrayData;
use arrow_schema::SchemaRef;
use lsio_aligned::{AlignedBytes, AlignedBytesMut};
use lsio_io::{ByteRange, IoBackend, IoBackendExt, Location, ReadRequest};

use crate::decode::{BufRef, CopyStats, Decoder, columns_of, decode_dictionary, layout_batch, project_schema};
use crate::error::{Error, Result};
use crate::format::{self, ALIGNMENT, Block, FOOTER_TRAILER, MAGIC_PADDED};
use crate::options::{Limits, ReadOptions};
use crate::schema::{SchemaPlan, metadata_from_fb, schema_from_fb};

/// Bytes a file reader reads first from the end of a file, hoping to get the whole footer.
const SUFFIX_GUESS: u64 = 64 << 10;

/// Where a [`FileReader`] gets its bytes: random access by ranges.
pub trait RangeSource {
    /// Reads the last `n` bytes (fewer if the source is shorter); returns the source's length
    /// and the bytes.
    ///
    /// # Errors
    /// On I/O errors.
    fn read_suffix(&mut self, n: u64) -> Result<(u64, AlignedBytes)>;

    /// Reads the ranges, all in one go if the source can, returning them in order.
    ///
    /// # Errors
    /// On I/O errors or ranges past the end.
    fn read_ranges(&mut self, ranges: &[Range<u64>]) -> Result<Vec<AlignedBytes>>;

    /// Whether reading a range is free (memory): then no bytes are counted as read.
    fn is_memory(&self) -> bool {
        false
    }

    /// How many bytes of messages [`FileReader::read_batches`] asks for in one call: small for
    /// local reads (so that each group is decoded while still in cache), large for remote ones
    /// (fewer round trips). Default 256 MiB.
    fn preferred_request_bytes(&self) -> u64 {
        256 << 20
    }
}

/// Bytes in memory or memory-mapped: ranges are zero-copy slices.
#[derive(Clone, Debug)]
pub struct BytesSource(pub AlignedBytes);

impl RangeSource for BytesSource {
    fn read_suffix(&mut self, n: u64) -> Result<(u64, AlignedBytes)> {
        let len = self.0.len();
        let start = len.saturating_sub(usize::try_from(n).unwrap_or(usize::MAX));
        Ok((len as u64, self.0.slice(start..)))
    }

    fn read_ranges(&mut self, ranges: &[Range<u64>]) -> Result<Vec<AlignedBytes>> {
        ranges
            .iter()
            .map(|r| {
                let (s, e) = (usize::try_from(r.start), usize::try_from(r.end));
                match (s, e) {
                    (Ok(s), Ok(e)) => self.0.try_slice(s..e),
                    _ => None,
                }
                .ok_or_else(|| Error::Truncated {
                    offset: r.start,
                    what: "range",
                    needed: r.end.saturating_sub(r.start),
                    available: (self.0.len() as u64).saturating_sub(r.start),
                })
            })
            .collect()
    }

    fn is_memory(&self) -> bool {
        true
    }

    fn preferred_request_bytes(&self) -> u64 {
        u64::MAX
    }
}

/// A `Read + Seek` (a `File`, a `Cursor`): each range is a seek and a read into a fresh
/// 64-byte aligned buffer; adjacent ranges closer than 64 KiB are read together.
#[derive(Debug)]
pub struct SeekSource<R>(pub R);

impl<R: Read + Seek> RangeSource for SeekSource<R> {
    fn preferred_request_bytes(&self) -> u64 {
        8 << 20
    }

    fn read_suffix(&mut self, n: u64) -> Result<(u64, AlignedBytes)> {
        let len = self.0.seek(SeekFrom::End(0)).map_err(|e| Error::io(0, e))?;
        let start = len.saturating_sub(n);
        let mut v = self.read_ranges(std::slice::from_ref(&(start..len)))?;
        Ok((len, v.pop().unwrap_or_default()))
    }

    fn read_ranges(&mut self, ranges: &[Range<u64>]) -> Result<Vec<AlignedBytes>> {
        let merged = merge(ranges, 64 << 10);
        let mut out = Vec::with_capacity(ranges.len());
        for (range, members) in merged {
            let len =
                usize::try_from(range.end - range.start).map_err(|_| Error::corrupt(range.start, "range too long"))?;
            let mut buf =
                AlignedBytesMut::zeroed(len, ALIGNMENT).map_err(|e| Error::corrupt(range.start, e.to_string()))?;
            self.0.seek(SeekFrom::Start(range.start)).map_err(|e| Error::io(range.start, e))?;
            let mut got = 0;
            while got < len {
                match self.0.read(&mut buf[got..]) {
                    Ok(0) => {
                        return Err(Error::Truncated {
                            offset: range.start,
                            what: "range",
                            needed: len as u64,
                            available: got as u64,
                        });
                    }
                    Ok(n) => got += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(Error::io(range.start + got as u64, e)),
                }
            }
            let buf = buf.freeze();
            for r in &ranges[members] {
                let s = (r.start - range.start) as usize;
                out.push(buf.slice(s..s + (r.end - r.start) as usize));
            }
        }
        Ok(out)
    }
}

/// Merges sorted-by-submission ranges that are adjacent or close; returns each merged range with
/// the indices of its members (ranges must be in increasing order to merge).
fn merge(ranges: &[Range<u64>], max_gap: u64) -> Vec<(Range<u64>, Range<usize>)> {
    let mut out: Vec<(Range<u64>, Range<usize>)> = Vec::new();
    for (i, r) in ranges.iter().enumerate() {
        if let Some((m, members)) = out.last_mut()
            && r.start >= m.start
            && r.start <= m.end.saturating_add(max_gap)
        {
            m.end = m.end.max(r.end);
            members.end = i + 1;
            continue;
        }
        out.push((r.clone(), i..i + 1));
    }
    out
}

/// An `lsio_io` backend (io_uring, pread pool, object store): each call is one batch of
/// requests, which the backend's planner merges.
#[derive(Debug)]
pub struct BackendSource<B> {
    backend: B,
    location: Location,
}

impl<B: IoBackend> BackendSource<B> {
    /// Reads `location` through `backend`.
    pub fn new(backend: B, location: Location) -> Self {
        BackendSource { backend, location }
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }
}

impl<B: IoBackend> RangeSource for BackendSource<B> {
    fn read_suffix(&mut self, n: u64) -> Result<(u64, AlignedBytes)> {
        let batch = self.backend.read(vec![ReadRequest::new(self.location.clone(), ByteRange::Suffix(n), 0)]);
        match batch.into_iter().next() {
            Some(r) => {
                let chunk = r?;
                Ok((chunk.range.end, chunk.bytes))
            }
            None => Err(Error::Backend(lsio_io::Error::Closed { outstanding: 1 })),
        }
    }

    fn read_ranges(&mut self, ranges: &[Range<u64>]) -> Result<Vec<AlignedBytes>> {
        Ok(self.backend.read_ranges(&self.location, ranges)?)
    }
}

/// What a file reader has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// How the decoded buffers were obtained.
    pub copies: CopyStats,
    /// Bytes requested from the source (footer, metadata, buffers); 0 for memory sources.
    pub bytes_read: u64,
    /// Ranges requested from the source.
    pub ranges_read: u64,
    /// Calls to the source (each one batch of ranges).
    pub source_calls: u64,
}

/// A random-access reader of the IPC file format.
///
/// Opening reads the footer (a suffix of the file) and the leading magic; record batches are
/// read by index, and with a projection only the buffers of the chosen columns (children
/// included) are read: for each batch the metadata block first, then the buffer ranges, all
/// batches' ranges submitted to the source together.
#[derive(Debug)]
pub struct FileReader<S> {
    source: S,
    plan: SchemaPlan,
    columns: Vec<usize>,
    all_columns: bool,
    schema: SchemaRef,
    dictionary_blocks: Vec<Block>,
    batch_blocks: Vec<Block>,
    needed_dictionaries: HashSet<i64>,
    dictionaries: Option<HashMap<i64, ArrayData>>,
    limits: Limits,
    stats: ReadStats,
    file_len: u64,
    metadata: HashMap<String, String>,
    next: usize,
}

/// A [`FileReader`] over a memory map (or any bytes in memory).
pub type MmapFileReader = FileReader<BytesSource>;

impl FileReader<BytesSource> {
    /// Memory-maps `path` and reads its footer. Aligned buffers are used in place (zero-copy).
    ///
    /// The file must not be modified while mapped (or while batches read from it live).
    ///
    /// # Errors
    /// If the file cannot be opened or mapped or is not a complete Arrow file.
    pub fn open(path: impl AsRef<Path>, options: ReadOptions) -> Result<Self> {
        let file = File::open(path.as_ref()).map_err(|e| Error::io(0, e))?;
        let len = file.metadata().map_err(|e| Error::io(0, e))?.len();
        let bytes = if len == 0 {
            AlignedBytes::new()
        } else {
            // SAFETY: the map is read-only; like every mmap-based reader we rely on the file not
            // being truncated or modified while mapped (documented on this function).
            let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(0, e))?;
            AlignedBytes::from_mmap(map)
        };
        Self::try_new(BytesSource(bytes), options)
    }

    /// Reads a file held in memory.
    ///
    /// # Errors
    /// If the bytes are not a complete Arrow file.
    pub fn from_bytes(bytes: AlignedBytes, options: ReadOptions) -> Result<Self> {
        Self::try_new(BytesSource(bytes), options)
    }
}

impl<B: IoBackend> FileReader<BackendSource<B>> {
    /// Reads `location` through an `lsio_io` backend.
    ///
    /// # Errors
    /// If the object cannot be read or is not a complete Arrow file.
    pub fn from_backend(backend: B, location: Location, options: ReadOptions) -> Result<Self> {
        Self::try_new(BackendSource::new(backend, location), options)
    }
}

impl<R: Read + Seek> FileReader<SeekSource<R>> {
    /// Reads a `Read + Seek` (a `File`, a `Cursor`).
    ///
    /// # Errors
    /// If the bytes are not a complete Arrow file.
    pub fn from_reader(reader: R, options: ReadOptions) -> Result<Self> {
        Self::try_new(SeekSource(reader), options)
    }
}

impl<S: RangeSource> FileReader<S> {
    /// Reads the footer of the file behind `source`.
    ///
    /// # Errors
    /// If the file is truncated, has no footer or magic, or its footer or schema is invalid.
    pub fn try_new(mut source: S, options: ReadOptions) -> Result<Self> {
        let limits = options.limits.clone();
        let mut stats = ReadStats::default();
        let (file_len, mut tail) = source.read_suffix(SUFFIX_GUESS)?;
        count(&mut stats, &source, tail.len() as u64, 1);
        let footer_len = format::parse_trailer(&tail, file_len, &limits)?;
        let footer_offset = file_len - FOOTER_TRAILER as u64 - footer_len as u64;
        let need = (footer_len + FOOTER_TRAILER) as u64;
        let head_in_tail = tail.len() as u64 == file_len;
        let mut ranges = Vec::new();
        if (tail.len() as u64) < need {
            ranges.push(footer_offset..file_len - FOOTER_TRAILER as u64);
        }
        if !head_in_tail {
            ranges.push(0..MAGIC_PADDED.len() as u64);
        }
        let mut got = if ranges.is_empty() { Vec::new() } else { source.read_ranges(&ranges)? };
        count(&mut stats, &source, ranges.iter().map(|r| r.end - r.start).sum(), ranges.len() as u64);
        let head = if head_in_tail { tail.slice(..MAGIC_PADDED.len()) } else { got.pop().unwrap_or_default() };
        if head.as_slice() != MAGIC_PADDED {
            return Err(Error::corrupt(0, "the file does not start with ARROW1 and padding"));
        }
        let footer = if (tail.len() as u64) < need {
            got.pop().unwrap_or_default()
        } else {
            let start = tail.len() - need as usize;
            tail = tail.slice(start..start + footer_len);
            tail
        };
        let fbf = format::parse_footer(&footer, footer_offset, &limits)?;
        let schema_fb = fbf.schema().ok_or_else(|| Error::corrupt(footer_offset, "footer without schema"))?;
        let plan = schema_from_fb(schema_fb, footer_offset, limits.max_nesting_depth)?;
        let dictionary_blocks = format::blocks(fbf.dictionaries(), footer_offset, &limits)?;
        let batch_blocks = format::blocks(fbf.recordBatches(), footer_offset, &limits)?;
        let metadata = metadata_from_fb(fbf.custom_metadata());
        let columns = columns_of(options.projection.as_deref(), plan.schema.fields().len())?;
        let all_columns =
            columns.len() == plan.schema.fields().len() && columns.iter().enumerate().all(|(i, c)| i == *c);
        let schema = project_schema(&plan.schema, &columns)?;
        let needed_dictionaries = plan.dictionaries_of(&columns);
        Ok(FileReader {
            source,
            plan,
            columns,
            all_columns,
            schema,
            dictionary_blocks,
            batch_blocks,
            needed_dictionaries,
            dictionaries: None,
            limits,
            stats,
            file_len,
            metadata,
            next: 0,
        })
    }

    /// The schema of the batches this reader yields (projected).
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The file's schema, before projection.
    pub fn full_schema(&self) -> SchemaRef {
        self.plan.schema.clone()
    }

    /// Number of record batches.
    pub fn num_batches(&self) -> usize {
        self.batch_blocks.len()
    }

    /// Where the record batches are.
    pub fn batch_blocks(&self) -> &[Block] {
        &self.batch_blocks
    }

    /// Where the dictionary batches are.
    pub fn dictionary_blocks(&self) -> &[Block] {
        &self.dictionary_blocks
    }

    /// File length in bytes.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// The footer's custom metadata.
    pub fn footer_metadata(&self) -> &HashMap<String, String> {
        &self.metadata
    }

    /// What was read and copied so far.
    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    pub(crate) fn plan(&self) -> &SchemaPlan {
        &self.plan
    }

    /// The source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// Reads batch `index`.
    ///
    /// # Errors
    /// If `index` is out of range, or the batch is corrupt.
    pub fn read_batch(&mut self, index: usize) -> Result<RecordBatch> {
        let mut v = self.read_batches(&[index])?;
        v.pop().ok_or_else(|| Error::InvalidArgument("no batch".into()))
    }

    /// Reads all batches.
    ///
    /// # Errors
    /// If a batch is corrupt.
    pub fn read_all(&mut self) -> Result<Vec<RecordBatch>> {
        let all: Vec<usize> = (0..self.num_batches()).collect();
        self.read_batches(&all)
    }

    /// Reads several batches: one request to the source for their metadata, one for the buffers
    /// of the projected columns of all of them (a full projection reads whole messages at once).
    ///
    /// # Errors
    /// If an index is out of range, or a batch is corrupt.
    pub fn read_batches(&mut self, indices: &[usize]) -> Result<Vec<RecordBatch>> {
        let blocks = indices
            .iter()
            .map(|&i| {
                self.batch_blocks.get(i).copied().ok_or_else(|| {
                    Error::InvalidArgument(format!("batch {i} of a file with {} batches", self.batch_blocks.len()))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.load_dictionaries()?;
        let dictionaries = self.dictionaries.take().unwrap_or_default();
        // Groups of about `preferred_request_bytes` (of the projected share of each message).
        let limit = self.source.preferred_request_bytes();
        let all = self.all_columns;
        let share = |b: &Block| if all { b.end() - b.offset } else { b.meta_len + b.body_len / 8 };
        let mut out = Vec::with_capacity(blocks.len());
        let mut start = 0;
        let mut r = Ok(());
        while start < blocks.len() {
            let mut end = start + 1;
            let mut bytes = share(&blocks[start]);
            while end < blocks.len() && bytes.saturating_add(share(&blocks[end])) <= limit {
                bytes += share(&blocks[end]);
                end += 1;
            }
            match self.read_blocks(&blocks[start..end], &dictionaries) {
                Ok(v) => out.extend(v),
                Err(e) => {
                    r = Err(e);
                    break;
                }
            }
            start = end;
        }
        self.dictionaries = Some(dictionaries);
        r.map(|()| out)
    }

    fn read_blocks(&mut self, blocks: &[Block], dictionaries: &HashMap<i64, ArrayData>) -> Result<Vec<RecordBatch>> {
        // Whole messages for a full projection (or from memory), else metadata first.
        let whole = self.all_columns || self.source.is_memory();
        let ranges: Vec<Range<u64>> =
            blocks.iter().map(|b| b.offset..if whole { b.end() } else { b.body_offset() }).collect();
        let msgs = read_src(&mut self.source, &mut self.stats, &ranges)?;
        let mut parsed = Vec::with_capacity(blocks.len());
        for (b, bytes) in blocks.iter().zip(&msgs) {
            let meta_bytes = bytes.slice(..b.meta_len as usize);
            let meta = format::message_metadata(&meta_bytes, b.offset, &self.limits)?;
            let msg = format::parse_message(meta, b.offset, &self.limits)?;
            if msg.bodyLength() as u64 != b.body_len {
                return Err(Error::corrupt(
                    b.offset,
                    format!("message body length {} differs from the footer's {}", msg.bodyLength(), b.body_len),
                ));
            }
            let rb = msg.header_as_record_batch().ok_or_else(|| {
                Error::corrupt(b.offset, format!("expected a record batch, found {:?}", msg.header_type()))
            })?;
            let layout = layout_batch(&rb, &self.plan.fields, b.body_len, msg.version(), b.offset, &self.limits)?;
            let mut wanted = Vec::new();
            for &c in &self.columns {
                if let Some(n) = layout.columns.get(c) {
                    n.all_buffers(&mut wanted);
                }
            }
            parsed.push((layout, wanted));
        }
        // Second round: the projected buffers of every batch, in one request.
        let mut ranges = Vec::new();
        let mut slots: Vec<HashMap<usize, usize>> = Vec::with_capacity(blocks.len());
        if !whole {
            for (b, (_, wanted)) in blocks.iter().zip(&parsed) {
                let mut map = HashMap::with_capacity(wanted.len());
                for w in wanted.iter().filter(|w| w.len > 0) {
                    map.insert(w.index, ranges.len());
                    let s = b.body_offset() + w.offset;
                    ranges.push(s..s + w.len);
                }
                slots.push(map);
            }
        }
        let chunks = if ranges.is_empty() { Vec::new() } else { read_src(&mut self.source, &mut self.stats, &ranges)? };
        let mut out = Vec::with_capacity(blocks.len());
        for (i, (b, (layout, _))) in blocks.iter().zip(&parsed).enumerate() {
            let body_offset = b.body_offset();
            let mut dec = Decoder {
                limits: &self.limits,
                codec: layout.codec,
                stats: &mut self.stats.copies,
                dictionaries,
                body_offset,
                msg_offset: b.offset,
            };
            let batch = if whole {
                let body = msgs[i].slice(b.meta_len as usize..);
                let mut fetch = |r: &BufRef| {
                    body.try_slice(r.offset as usize..(r.offset + r.len) as usize)
                        .ok_or_else(|| Error::corrupt(body_offset + r.offset, "buffer outside the body"))
                };
                dec.batch(layout, &self.columns, self.schema.clone(), &mut fetch)?
            } else {
                let map = &slots[i];
                let mut fetch = |r: &BufRef| {
                    if r.len == 0 {
                        return Ok(AlignedBytes::new());
                    }
                    map.get(&r.index)
                        .and_then(|&k| chunks.get(k).cloned())
                        .ok_or_else(|| Error::corrupt(body_offset + r.offset, "buffer of a column that was not read"))
                };
                dec.batch(layout, &self.columns, self.schema.clone(), &mut fetch)?
            };
            out.push(batch);
        }
        Ok(out)
    }

    fn load_dictionaries(&mut self) -> Result<()> {
        if self.dictionaries.is_some() {
            return Ok(());
        }
        let mut dictionaries = HashMap::new();
        if self.needed_dictionaries.is_empty() || self.dictionary_blocks.is_empty() {
            self.dictionaries = Some(dictionaries);
            return Ok(());
        }
        let blocks = self.dictionary_blocks.clone();
        let ranges: Vec<Range<u64>> = blocks.iter().map(|b| b.offset..b.end()).collect();
        let msgs = read_src(&mut self.source, &mut self.stats, &ranges)?;
        let mut bytes = HashMap::new();
        for (b, m) in blocks.iter().zip(msgs) {
            let meta_bytes = m.slice(..b.meta_len as usize);
            let meta = format::message_metadata(&meta_bytes, b.offset, &self.limits)?;
            let msg = format::parse_message(meta, b.offset, &self.limits)?;
            if msg.bodyLength() as u64 != b.body_len {
                return Err(Error::corrupt(b.offset, "message body length differs from the footer's"));
            }
            let db = msg.header_as_dictionary_batch().ok_or_else(|| {
                Error::corrupt(b.offset, format!("expected a dictionary batch, found {:?}", msg.header_type()))
            })?;
            if !self.needed_dictionaries.contains(&db.id()) {
                continue;
            }
            let body = m.slice(b.meta_len as usize..);
            let body_offset = b.body_offset();
            let mut fetch = |r: &BufRef| {
                body.try_slice(r.offset as usize..(r.offset + r.len) as usize)
                    .ok_or_else(|| Error::corrupt(body_offset + r.offset, "buffer outside the body"))
            };
            decode_dictionary(
                &db,
                &self.plan,
                &mut dictionaries,
                &mut bytes,
                b.body_len,
                msg.version(),
                b.offset,
                body_offset,
                &self.limits,
                &mut self.stats.copies,
                &mut fetch,
            )?;
        }
        self.dictionaries = Some(dictionaries);
        Ok(())
    }
}

fn read_src<S: RangeSource>(source: &mut S, stats: &mut ReadStats, ranges: &[Range<u64>]) -> Result<Vec<AlignedBytes>> {
    let v = source.read_ranges(ranges)?;
    let n = ranges.iter().map(|r| r.end - r.start).sum();
    count(stats, source, n, ranges.len() as u64);
    Ok(v)
}

fn count<S: RangeSource>(stats: &mut ReadStats, source: &S, bytes: u64, ranges: u64) {
    if !source.is_memory() {
        stats.bytes_read += bytes;
        stats.ranges_read += ranges;
        stats.source_calls += 1;
    }
}

impl<S: RangeSource> Iterator for FileReader<S> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.batch_blocks.len() {
            return None;
        }
        let i = self.next;
        self.next += 1;
        let r = self.read_batch(i);
        if r.is_err() {
            self.next = self.batch_blocks.len();
        }
        Some(r)
    }
}

/// Returns the schema of an Arrow file on disk, reading only its footer.
///
/// # Errors
/// As [`FileReader::open`].
pub fn read_file_schema(path: impl AsRef<Path>) -> Result<SchemaRef> {
    Ok(FileReader::open(path, ReadOptions::default())?.full_schema())
}
