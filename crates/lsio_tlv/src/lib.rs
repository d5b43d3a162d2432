//! Type-length-value framing with aligned payloads, and Arrow tables over sockets.
#![doc = include_str!("../README.md")]

mod arrow;
mod assembler;
mod blocking;
mod codec;
mod decoder;
mod encoder;
mod error;
mod format;
mod frame;
mod tokio_io;

pub use arrow::ipc_socket::{
    Listener, RecordBatches, ServeOptions, read_ipc_stream, receive_ipc_stream, receive_ipc_stream_unix,
    serve_ipc_file, serve_ipc_file_with, write_ipc_file,
};
pub use arrow::mux::{MuxConfig, MuxEvent, MuxReader, MuxWriter};
pub use blocking::{TlvReader, TlvWriter};
pub use codec::{EndOfStream, TlvCodec};
pub use decoder::{Decoded, Decoder, DecoderConfig, FrameInfo};
pub use encoder::{Encoder, EncoderConfig, FramePrefix};
pub use error::{Error, Result};
pub use format::{
    CRC_EXT_LEN, DEFAULT_ALIGN, DEFAULT_MAX_FRAME_LEN, END_TAG, FIRST_RESERVED_TAG, FLAG_CRC32C, FRAME_HEADER_LEN,
    MAGIC, MAX_ALIGN, MAX_FRAME_HEADER_LEN, MAX_USER_TAG, MIN_ALIGN, SIMD_ALIGN, STREAM_HEADER_LEN, StreamHeader,
    VERSION,
};
pub use frame::{Frame, ReaderConfig, WriterConfig};
pub use lsio_aligned::AlignedBytes;
pub use tokio_io::{AsyncTlvReader, AsyncTlvWriter};
