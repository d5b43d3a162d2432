//! Blocking writers of the stream and file formats (`std::io::Write`), with vectored writes.

use std::io::{IoSlice, Write};

use arrow_array::RecordBatch;
use arrow_ipc as fb;
use arrow_schema::SchemaRef;
use flatbuffers::FlatBufferBuilder;

use crate::encode::{Encoded, EncoderState, Out, schema_offset, write_all_vectored};
use crate::error::{Error, Result};
use crate::format::{Block, EOS, MAGIC, MAGIC_PADDED};
use crate::options::WriteOptions;

/// The shared state of the sync and async writers: encoder, position, footer blocks.
#[derive(Debug)]
pub(crate) struct WriterCore {
    pub(crate) state: EncoderState,
    pub(crate) pos: u64,
    pub(crate) dictionary_blocks: Vec<Block>,
    pub(crate) batch_blocks: Vec<Block>,
    pub(crate) finished: bool,
    pub(crate) rows: u64,
}

impl WriterCore {
    /// The core and the bytes to write first (file magic and schema message).
    pub(crate) fn new(schema: SchemaRef, options: WriteOptions, is_file: bool) -> Result<(Self, Vec<u8>)> {
        let start = if is_file { MAGIC_PADDED.len() as u64 } else { 0 };
        let (state, schema_msg) = EncoderState::new(schema, options, is_file, start)?;
        let mut head = Vec::with_capacity(start as usize + schema_msg.meta.len());
        if is_file {
            head.extend_from_slice(MAGIC_PADDED);
        }
        head.extend_from_slice(&schema_msg.meta);
        let pos = head.len() as u64;
        Ok((
            WriterCore {
                state,
                pos,
                dictionary_blocks: Vec::new(),
                batch_blocks: Vec::new(),
                finished: false,
                rows: 0,
            },
            head,
        ))
    }

    /// Encodes a batch (and its changed dictionaries), recording the blocks.
    pub(crate) fn encode(&mut self, batch: &RecordBatch) -> Result<Vec<Encoded>> {
        if self.finished {
            return Err(Error::InvalidArgument("write after finish".into()));
        }
        let outs = self.state.encode(batch, self.pos)?;
        let mut v = Vec::with_capacity(outs.len());
        for Out { encoded, is_dictionary } in outs {
            let block = Block { offset: self.pos, meta_len: encoded.meta.len() as u64, body_len: encoded.body_len };
            if is_dictionary {
                self.dictionary_blocks.push(block);
            } else {
                self.batch_blocks.push(block);
            }
            self.pos += encoded.len();
            v.push(encoded);
        }
        self.rows += batch.num_rows() as u64;
        Ok(v)
    }

    /// The bytes that end the stream or file (EOS, and for files the footer and magic).
    pub(crate) fn tail(&mut self) -> Result<Vec<u8>> {
        if self.finished {
            return Err(Error::InvalidArgument("finish called twice".into()));
        }
        self.finished = true;
        let mut out = EOS.to_vec();
        if !self.state.is_file {
            self.pos += out.len() as u64;
            return Ok(out);
        }
        let mut fbb = FlatBufferBuilder::new();
        let schema = schema_offset(&mut fbb, &self.state.schema);
        let to_fb = |b: &Block| fb::Block::new(b.offset as i64, b.meta_len as i32, b.body_len as i64);
        let dicts: Vec<fb::Block> = self.dictionary_blocks.iter().map(to_fb).collect();
        let batches: Vec<fb::Block> = self.batch_blocks.iter().map(to_fb).collect();
        let dicts = fbb.create_vector(&dicts);
        let batches = fbb.create_vector(&batches);
        let mut fbuilder = fb::FooterBuilder::new(&mut fbb);
        fbuilder.add_version(fb::MetadataVersion::V5);
        fbuilder.add_schema(schema);
        fbuilder.add_dictionaries(dicts);
        fbuilder.add_recordBatches(batches);
        let root = fbuilder.finish();
        fbb.finish(root, None);
        let footer = fbb.finished_data();
        out.extend_from_slice(footer);
        out.extend_from_slice(&(footer.len() as i32).to_le_bytes());
        out.extend_from_slice(MAGIC);
        self.pos += out.len() as u64;
        Ok(out)
    }
}

fn io_err(pos: u64) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::io(pos, e)
}

macro_rules! sync_writer {
    ($name:ident, $is_file:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug)]
        pub struct $name<W: Write> {
            writer: W,
            core: WriterCore,
        }

        impl<W: Write> $name<W> {
            /// Writes the header (schema message).
            ///
            /// # Errors
            /// On I/O errors, or a schema the format cannot express.
            pub fn try_new(mut writer: W, schema: SchemaRef, options: WriteOptions) -> Result<Self> {
                let (core, head) = WriterCore::new(schema, options, $is_file)?;
                writer.write_all(&head).map_err(io_err(0))?;
                Ok(Self { writer, core })
            }

            /// Writes a batch, preceded by the dictionaries that changed.
            ///
            /// # Errors
            /// On I/O errors, a batch whose schema differs, or (files) a replaced dictionary.
            pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
                let pos = self.core.pos;
                for enc in self.core.encode(batch)? {
                    let mut slices: Vec<IoSlice<'_>> = enc.slices();
                    write_all_vectored(&mut self.writer, &mut slices).map_err(io_err(pos))?;
                }
                Ok(())
            }

            /// Writes the end: end-of-stream marker (and for files the footer and magic), and
            /// flushes. Without it a file has no footer and readers reject it.
            ///
            /// # Errors
            /// On I/O errors or a second call.
            pub fn finish(&mut self) -> Result<()> {
                let pos = self.core.pos;
                let tail = self.core.tail()?;
                self.writer.write_all(&tail).map_err(io_err(pos))?;
                self.writer.flush().map_err(io_err(pos))
            }

            /// The schema written.
            pub fn schema(&self) -> &SchemaRef {
                &self.core.state.schema
            }

            /// Bytes written so far.
            pub fn position(&self) -> u64 {
                self.core.pos
            }

            /// Rows written so far.
            pub fn rows_written(&self) -> u64 {
                self.core.rows
            }

            /// The underlying writer.
            pub fn get_ref(&self) -> &W {
                &self.writer
            }

            /// The underlying writer (call [`finish`](Self::finish) first).
            pub fn into_inner(self) -> W {
                self.writer
            }
        }
    };
}

sync_writer!(
    StreamWriter,
    false,
    "A blocking writer of the IPC stream format: 64-byte aligned bodies written with vectored \
     writes straight from the arrays' buffers; dictionaries, replacement and delta dictionaries."
);
sync_writer!(
    FileWriter,
    true,
    "A blocking writer of the IPC file format (`ARROW1`, stream, footer, `ARROW1`): 64-byte \
     aligned bodies at 64-byte aligned file offsets, so a memory-mapped reader uses every buffer \
     in place. A writer dropped without [`finish`](Self::finish) leaves a file readers reject."
);
