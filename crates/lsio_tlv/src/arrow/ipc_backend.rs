//! The Arrow IPC encoder and decoder behind the multiplexer and the stream receiver.
//!
//! Everything else in this crate reaches Arrow IPC only through [`IpcCodec`], so switching
//! from arrow-ipc to `lsio_ipc` means implementing these two traits once and changing the
//! [`Ipc`] alias.

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_schema::{ArrowError, SchemaRef};

/// The implementation in use.
pub(crate) type Ipc = ArrowIpc;

/// An Arrow IPC implementation: makes per-table encoders and decoders.
pub(crate) trait IpcCodec {
    type Encoder: IpcEncoder;
    type Decoder: IpcDecoder;

    /// An encoder of one table's stream, with body buffers aligned to 64 bytes.
    fn encoder(schema: &SchemaRef) -> Result<Self::Encoder, ArrowError>;

    /// A decoder of one table's stream.
    fn decoder() -> Self::Decoder;
}

/// Encodes one table as Arrow IPC stream messages.
pub(crate) trait IpcEncoder: Send {
    /// Whole encapsulated messages for `batch` (the schema message before the first batch,
    /// dictionary messages when needed), as parts to write one after the other. Parts may
    /// share memory with the batch (no copy of the column data).
    fn encode(&mut self, batch: &RecordBatch) -> Result<Vec<Buffer>, ArrowError>;

    /// Messages still due before the end-of-stream marker (the schema, if no batch was
    /// encoded), **without** the end-of-stream marker itself.
    fn finish(self) -> Result<Vec<Buffer>, ArrowError>;
}

/// Decodes one table's Arrow IPC stream, fed whole encapsulated messages.
pub(crate) trait IpcDecoder: Send {
    /// Decodes the whole messages in `messages`, pushing the record batches to `out`. Column
    /// data stays in `messages`' memory where it is aligned enough (no copy). The end-of-stream
    /// marker is fed too, and completes what precedes it.
    fn decode(&mut self, messages: Buffer, out: &mut Vec<RecordBatch>) -> Result<(), ArrowError>;

    /// The schema, once its message was decoded.
    fn schema(&self) -> Option<SchemaRef>;

    /// Checks that the stream stopped between messages.
    fn finish(&mut self) -> Result<(), ArrowError>;
}

/// The Arrow IPC end-of-stream marker: continuation token and a zero metadata length.
pub(crate) const IPC_EOS: [u8; 8] = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];

/// arrow-ipc's `StreamEncoder` and `StreamDecoder`.
#[derive(Debug)]
pub(crate) struct ArrowIpc;

/// arrow-ipc's `StreamEncoder`.
pub(crate) struct ArrowIpcEncoder(arrow_ipc::writer::StreamEncoder);

/// arrow-ipc's `StreamDecoder`.
#[derive(Debug)]
pub(crate) struct ArrowIpcDecoder(arrow_ipc::reader::StreamDecoder);

impl std::fmt::Debug for ArrowIpcEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ArrowIpcEncoder")
    }
}

impl IpcCodec for ArrowIpc {
    type Encoder = ArrowIpcEncoder;
    type Decoder = ArrowIpcDecoder;

    fn encoder(schema: &SchemaRef) -> Result<Self::Encoder, ArrowError> {
        // The default options: metadata V5, 64-byte alignment, no compression.
        arrow_ipc::writer::StreamEncoder::try_new(schema).map(ArrowIpcEncoder)
    }

    fn decoder() -> Self::Decoder {
        ArrowIpcDecoder(arrow_ipc::reader::StreamDecoder::new())
    }
}

impl IpcEncoder for ArrowIpcEncoder {
    fn encode(&mut self, batch: &RecordBatch) -> Result<Vec<Buffer>, ArrowError> {
        self.0.encode(batch)
    }

    fn finish(self) -> Result<Vec<Buffer>, ArrowError> {
        let parts = self.0.finish()?;
        // Drop the trailing end-of-stream marker, which may span parts.
        let mut bytes: Vec<u8> = parts.iter().flat_map(|p| p.as_slice().iter().copied()).collect();
        if !bytes.ends_with(&IPC_EOS) {
            return Err(ArrowError::IpcError("StreamEncoder::finish did not end with the end-of-stream marker".into()));
        }
        bytes.truncate(bytes.len() - IPC_EOS.len());
        Ok(if bytes.is_empty() { Vec::new() } else { vec![Buffer::from(bytes)] })
    }
}

impl IpcDecoder for ArrowIpcDecoder {
    fn decode(&mut self, mut messages: Buffer, out: &mut Vec<RecordBatch>) -> Result<(), ArrowError> {
        while !messages.is_empty() {
            if let Some(batch) = self.0.decode(&mut messages)? {
                out.push(batch);
            }
        }
        Ok(())
    }

    fn schema(&self) -> Option<SchemaRef> {
        self.0.schema()
    }

    fn finish(&mut self) -> Result<(), ArrowError> {
        self.0.finish()
    }
}
