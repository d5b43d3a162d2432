#![doc = include_str!("../README.md")]
//! Arrow IPC stream and file formats for lsio.

mod async_io;
mod decode;
mod encode;
mod error;
mod file;
mod format;
mod options;
mod schema;
mod stream;
pub mod tools;
mod writer;

pub use async_io::{AsyncFileWriter, AsyncStreamReader, AsyncStreamWriter};
pub use decode::CopyStats;
pub use error::{Error, Result};
pub use file::{
    BackendSource, BytesSource, FileReader, MmapFileReader, RangeSource, ReadStats, SeekSource, read_file_schema,
};
pub use format::{ALIGNMENT, Block, CONTINUATION, EOS, MAGIC};
pub use options::{Compression, DictionaryHandling, Limits, ReadOptions, WriteOptions};
pub use stream::StreamReader;
pub use writer::{FileWriter, StreamWriter};
