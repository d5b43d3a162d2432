//! Helpers for the `lsio` command line: schema, cat, inspect, CSV conversion.
//!
//! Every function detects the format (file or stream) by the leading `ARROW1` magic.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_ipc as fb;
use arrow_schema::{DataType, Field, SchemaRef};

use crate::decode::{BatchLayout, NodeLayout, layout_batch};
use crate::error::{Error, Result};
use crate::file::{FileReader, MmapFileReader};
use crate::format::{self, MAGIC_PADDED};
use crate::options::{Limits, ReadOptions, WriteOptions};
use crate::stream::{StreamReader, read_message};
use crate::writer::{FileWriter, StreamWriter};

/// Whether `path` is an IPC file (leading magic) rather than a stream.
fn is_file(path: &Path) -> Result<bool> {
    let mut f = File::open(path).map_err(|e| Error::io(0, e))?;
    let mut head = [0u8; 8];
    let mut got = 0;
    while got < 8 {
        match f.read(&mut head[got..]).map_err(|e| Error::io(got as u64, e))? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got == 8 && &head == MAGIC_PADDED)
}

enum AnyReader {
    File(MmapFileReader),
    Stream(StreamReader<BufReader<File>>),
}

impl AnyReader {
    fn open(path: &Path, options: ReadOptions) -> Result<Self> {
        if is_file(path)? {
            Ok(AnyReader::File(FileReader::open(path, options)?))
        } else {
            let f = File::open(path).map_err(|e| Error::io(0, e))?;
            Ok(AnyReader::Stream(StreamReader::try_new(BufReader::with_capacity(1 << 20, f), options)?))
        }
    }

    fn schema(&self) -> SchemaRef {
        match self {
            AnyReader::File(r) => r.schema(),
            AnyReader::Stream(r) => r.schema(),
        }
    }

    fn next_batch(&mut self) -> Option<Result<RecordBatch>> {
        match self {
            AnyReader::File(r) => r.next(),
            AnyReader::Stream(r) => r.next(),
        }
    }
}

fn type_line(out: &mut String, f: &Field, indent: usize) {
    let _ = writeln!(
        out,
        "{:indent$}{}: {}{}",
        "",
        f.name(),
        f.data_type(),
        if f.is_nullable() { "" } else { " not null" },
        indent = indent
    );
    for (k, v) in f.metadata() {
        let _ = writeln!(out, "{:indent$}  -- {k}: {v}", "", indent = indent);
    }
    let children: Vec<&Field> = match f.data_type() {
        DataType::Struct(fs) => fs.iter().map(|f| f.as_ref()).collect(),
        DataType::List(c) | DataType::LargeList(c) | DataType::FixedSizeList(c, _) | DataType::Map(c, _) => {
            vec![c.as_ref()]
        }
        DataType::ListView(c) | DataType::LargeListView(c) => vec![c.as_ref()],
        _ => vec![],
    };
    for c in children {
        type_line(out, c, indent + 2);
    }
}

/// The schema of an IPC file or stream, one field per line (nested fields indented), with
/// metadata, and for files the number of batches.
///
/// # Errors
/// If the file cannot be read or is not Arrow IPC.
pub fn schema(path: impl AsRef<Path>) -> Result<String> {
    let path = path.as_ref();
    let r = AnyReader::open(path, ReadOptions::default())?;
    let s = r.schema();
    let mut out = String::new();
    for f in s.fields() {
        type_line(&mut out, f, 0);
    }
    for (k, v) in s.metadata() {
        let _ = writeln!(out, "-- schema metadata: {k}: {v}");
    }
    if let AnyReader::File(f) = &r {
        let _ = writeln!(
            out,
            "-- file: {} record batches, {} dictionary batches",
            f.num_batches(),
            f.dictionary_blocks().len()
        );
    } else {
        let _ = writeln!(out, "-- stream");
    }
    Ok(out)
}

/// The first `max_rows` rows as a table (arrow-cast's pretty printer).
///
/// # Errors
/// If the file cannot be read or is not Arrow IPC.
pub fn cat(path: impl AsRef<Path>, max_rows: usize) -> Result<String> {
    let mut r = AnyReader::open(path.as_ref(), ReadOptions::default())?;
    let mut batches = Vec::new();
    let mut rows = 0;
    while rows < max_rows {
        let Some(b) = r.next_batch() else { break };
        let b = b?;
        let take = b.num_rows().min(max_rows - rows);
        rows += take;
        batches.push(b.slice(0, take));
    }
    if batches.is_empty() {
        batches.push(RecordBatch::new_empty(r.schema()));
    }
    Ok(arrow_cast::pretty::pretty_format_batches(&batches)?.to_string())
}

fn describe_node(out: &mut String, n: &NodeLayout<'_>, name: &str, body_offset: u64, compressed: bool, indent: usize) {
    let _ = writeln!(
        out,
        "{:indent$}{name}: {} len={} nulls={}",
        "",
        n.plan.data_type,
        n.len,
        n.null_count,
        indent = indent
    );
    for b in &n.buffers {
        let abs = body_offset + b.offset;
        let align = if abs == 0 { 4096 } else { 1u64 << abs.trailing_zeros().min(12) };
        let _ = writeln!(
            out,
            "{:indent$}  buffer {:>3}: file offset {abs:>10} len {:>10} aligned {align:>4} (needs {}){}{}",
            "",
            b.index,
            b.len,
            b.align,
            if compressed && b.len > 0 { " compressed" } else { "" },
            if !compressed && b.len > 0 && !abs.is_multiple_of(b.align as u64) {
                " MISALIGNED: copied on read"
            } else {
                ""
            },
            indent = indent
        );
    }
    let names: Vec<String> = match &n.plan.data_type {
        DataType::Struct(fs) => fs.iter().map(|f| f.name().clone()).collect(),
        DataType::Union(fs, _) => fs.iter().map(|(_, f)| f.name().clone()).collect(),
        _ => (0..n.children.len()).map(|i| format!("child {i}")).collect(),
    };
    for (c, nm) in n.children.iter().zip(names) {
        describe_node(out, c, &nm, body_offset, compressed, indent + 2);
    }
}

fn describe_batch(out: &mut String, layout: &BatchLayout<'_>, names: &[String], body_offset: u64) {
    let _ = writeln!(
        out,
        "  rows {} compression {}",
        layout.rows,
        match layout.codec {
            None => "none",
            Some(crate::decode::Codec::Lz4) => "LZ4_FRAME",
            Some(crate::decode::Codec::Zstd) => "ZSTD",
        }
    );
    for (n, name) in layout.columns.iter().zip(names) {
        describe_node(out, n, name, body_offset, layout.codec.is_some(), 4);
    }
}

/// Describes the physical layout: every message (offset, metadata and body length), and per
/// column the buffers with their file offsets, lengths, alignment and compression.
///
/// # Errors
/// If the file cannot be read or is corrupt.
pub fn inspect(path: impl AsRef<Path>) -> Result<String> {
    let path = path.as_ref();
    let limits = Limits::default();
    let mut out = String::new();
    let len = std::fs::metadata(path).map_err(|e| Error::io(0, e))?.len();
    if is_file(path)? {
        let r = FileReader::open(path, ReadOptions::default())?;
        let plan = r.plan().clone();
        let names: Vec<String> = r.full_schema().fields().iter().map(|f| f.name().clone()).collect();
        let _ = writeln!(
            out,
            "IPC file, {len} bytes, footer at the end; {} record batches, {} dictionary batches",
            r.num_batches(),
            r.dictionary_blocks().len()
        );
        let bytes = match r.source() {
            crate::file::BytesSource(b) => b.clone(),
        };
        let mut blocks: Vec<(bool, crate::format::Block)> = r.dictionary_blocks().iter().map(|b| (true, *b)).collect();
        blocks.extend(r.batch_blocks().iter().map(|b| (false, *b)));
        blocks.sort_by_key(|(_, b)| b.offset);
        for (is_dict, b) in blocks {
            let meta = bytes
                .try_slice(b.offset as usize..b.body_offset() as usize)
                .ok_or_else(|| Error::corrupt(b.offset, "block"))?;
            let fbm = format::message_metadata(&meta, b.offset, &limits)?;
            let msg = format::parse_message(fbm, b.offset, &limits)?;
            let _ = writeln!(
                out,
                "{} at {} (metadata {} bytes, body at {} ({}), {} bytes)",
                if is_dict { "dictionary batch" } else { "record batch" },
                b.offset,
                b.meta_len,
                b.body_offset(),
                if b.body_offset() % 64 == 0 { "64-byte aligned" } else { "not 64-byte aligned" },
                b.body_len
            );
            describe_message(&mut out, &msg, &plan, &names, b.body_len, b.body_offset(), b.offset, &limits)?;
        }
    } else {
        let _ = writeln!(out, "IPC stream, {len} bytes");
        let mut f = BufReader::new(File::open(path).map_err(|e| Error::io(0, e))?);
        f.seek(SeekFrom::Start(0)).map_err(|e| Error::io(0, e))?;
        let mut pos = 0;
        let first = read_message(&mut f, &mut pos, &limits)?.ok_or_else(|| Error::corrupt(0, "empty stream"))?;
        let msg = format::parse_message(&first.meta, 0, &limits)?;
        let s = msg.header_as_schema().ok_or_else(|| Error::corrupt(0, "first message is not a schema"))?;
        let plan = crate::schema::schema_from_fb(s, 0, limits.max_nesting_depth)?;
        let names: Vec<String> = plan.schema.fields().iter().map(|f| f.name().clone()).collect();
        let _ = writeln!(out, "schema message at 0 ({} bytes)", first.meta.len());
        while let Some(m) = read_message(&mut f, &mut pos, &limits)? {
            let msg = format::parse_message(&m.meta, m.offset, &limits)?;
            let _ = writeln!(
                out,
                "{:?} at {} (metadata {} bytes, body at {}, {} bytes)",
                msg.header_type(),
                m.offset,
                m.meta.len(),
                m.body_offset,
                m.body.len()
            );
            describe_message(&mut out, &msg, &plan, &names, m.body.len() as u64, m.body_offset, m.offset, &limits)?;
        }
        let _ = writeln!(out, "end of stream at {pos}");
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn describe_message(
    out: &mut String,
    msg: &fb::Message<'_>,
    plan: &crate::schema::SchemaPlan,
    names: &[String],
    body_len: u64,
    body_offset: u64,
    offset: u64,
    limits: &Limits,
) -> Result<()> {
    if let Some(rb) = msg.header_as_record_batch() {
        let layout = layout_batch(&rb, &plan.fields, body_len, msg.version(), offset, limits)?;
        describe_batch(out, &layout, names, body_offset);
    } else if let Some(db) = msg.header_as_dictionary_batch() {
        let id = db.id();
        let _ = writeln!(out, "  dictionary id {id}{}", if db.isDelta() { " (delta)" } else { "" });
        if let (Some(vp), Some(rb)) = (plan.dictionaries.get(&id), db.data()) {
            let layout = layout_batch(&rb, std::slice::from_ref(vp), body_len, msg.version(), offset, limits)?;
            describe_batch(out, &layout, &["values".to_owned()], body_offset);
        }
    }
    Ok(())
}

/// Options of [`convert_csv_to_ipc`].
#[derive(Clone, Debug)]
pub struct CsvToIpcOptions {
    /// Whether the first line is a header. Default true.
    pub has_header: bool,
    /// Field delimiter. Default `,`.
    pub delimiter: u8,
    /// Rows per record batch. Default 65 536.
    pub batch_size: usize,
    /// Rows read to infer the schema. Default 10 000.
    pub infer_rows: usize,
    /// Write the file format (`true`, default) or the stream format.
    pub file_format: bool,
    /// Writer options (compression).
    pub write: WriteOptions,
}

impl Default for CsvToIpcOptions {
    fn default() -> Self {
        CsvToIpcOptions {
            has_header: true,
            delimiter: b',',
            batch_size: 65_536,
            infer_rows: 10_000,
            file_format: true,
            write: WriteOptions::default(),
        }
    }
}

/// Options of [`convert_ipc_to_csv`].
#[derive(Clone, Debug)]
pub struct IpcToCsvOptions {
    /// Write a header line. Default true.
    pub header: bool,
    /// Field delimiter. Default `,`.
    pub delimiter: u8,
}

impl Default for IpcToCsvOptions {
    fn default() -> Self {
        IpcToCsvOptions { header: true, delimiter: b',' }
    }
}

/// Progress of a conversion, given to the callback after each batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Batches converted so far.
    pub batches: u64,
    /// Rows converted so far.
    pub rows: u64,
}

/// Converts a CSV file into an IPC file (or stream), inferring the schema from the first rows.
///
/// # Errors
/// On I/O errors or CSV that does not parse.
pub fn convert_csv_to_ipc(
    csv: impl AsRef<Path>,
    out: impl AsRef<Path>,
    options: &CsvToIpcOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Progress> {
    let open = || File::open(csv.as_ref()).map_err(|e| Error::io(0, e));
    let format = arrow_csv::reader::Format::default().with_header(options.has_header).with_delimiter(options.delimiter);
    let (schema, _) = format.infer_schema(BufReader::new(open()?), Some(options.infer_rows))?;
    let schema = Arc::new(schema);
    let reader = arrow_csv::ReaderBuilder::new(schema.clone())
        .with_format(format)
        .with_batch_size(options.batch_size.max(1))
        .build(BufReader::with_capacity(1 << 20, open()?))?;
    let w = BufWriter::with_capacity(1 << 20, File::create(out.as_ref()).map_err(|e| Error::io(0, e))?);
    let mut p = Progress::default();
    if options.file_format {
        let mut writer = FileWriter::try_new(w, schema, options.write.clone())?;
        for b in reader {
            let b = b?;
            writer.write(&b)?;
            p.batches += 1;
            p.rows += b.num_rows() as u64;
            progress(p);
        }
        writer.finish()?;
    } else {
        let mut writer = StreamWriter::try_new(w, schema, options.write.clone())?;
        for b in reader {
            let b = b?;
            writer.write(&b)?;
            p.batches += 1;
            p.rows += b.num_rows() as u64;
            progress(p);
        }
        writer.finish()?;
    }
    Ok(p)
}

/// Converts an IPC file or stream into CSV (arrow-csv's writer).
///
/// # Errors
/// On I/O errors, corrupt input, or types CSV cannot express (lists, structs).
pub fn convert_ipc_to_csv(
    ipc: impl AsRef<Path>,
    csv: impl AsRef<Path>,
    options: &IpcToCsvOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Progress> {
    let mut r = AnyReader::open(ipc.as_ref(), ReadOptions::default())?;
    let w = BufWriter::with_capacity(1 << 20, File::create(csv.as_ref()).map_err(|e| Error::io(0, e))?);
    let mut writer =
        arrow_csv::WriterBuilder::new().with_header(options.header).with_delimiter(options.delimiter).build(w);
    let mut p = Progress::default();
    while let Some(b) = r.next_batch() {
        let b = b?;
        writer.write(&b)?;
        p.batches += 1;
        p.rows += b.num_rows() as u64;
        progress(p);
    }
    let mut w = writer.into_inner();
    std::io::Write::flush(&mut w).map_err(|e| Error::io(0, e))?;
    Ok(p)
}
