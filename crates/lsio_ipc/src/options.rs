//! Read limits and options, write options.

/// Bounds on what a reader accepts from untrusted input, checked before allocating.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest message metadata (flatbuffer) in bytes. Default 64 MiB.
    pub max_metadata_len: u64,
    /// Largest message body in bytes. Default 4 GiB.
    pub max_body_len: u64,
    /// Largest decompressed size of one buffer in bytes. Default 4 GiB.
    pub max_buffer_len: u64,
    /// Largest footer in bytes. Default 64 MiB.
    pub max_footer_len: u64,
    /// Deepest nesting of types (a top-level `Int32` is depth 1). Default 64.
    pub max_nesting_depth: usize,
    /// Largest dictionary batch body in bytes (also bounds the sum of delta dictionaries).
    /// Default 1 GiB.
    pub max_dictionary_len: u64,
    /// Most field nodes or buffers in one message. Default 1 000 000.
    pub max_buffers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_metadata_len: 64 << 20,
            max_body_len: 4 << 30,
            max_buffer_len: 4 << 30,
            max_footer_len: 64 << 20,
            max_nesting_depth: 64,
            max_dictionary_len: 1 << 30,
            max_buffers: 1_000_000,
        }
    }
}

/// Options of every reader.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Bounds on untrusted input.
    pub limits: Limits,
    /// Columns to decode (indices into the schema), `None` for all. The readers that can skip
    /// bytes (memory-mapped, backend) do not read the others at all.
    pub projection: Option<Vec<usize>>,
}

impl ReadOptions {
    /// Default options with a projection.
    pub fn with_projection(mut self, columns: impl Into<Vec<usize>>) -> Self {
        self.projection = Some(columns.into());
        self
    }

    /// Default options with other limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}

/// Body compression codecs of the Arrow IPC format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// LZ4 frame format.
    Lz4Frame,
    /// Zstandard at the given level (1..=22; 3 is zstd's default).
    Zstd(i32),
}

/// What a stream writer does when a dictionary column's dictionary changes between batches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DictionaryHandling {
    /// Send the whole new dictionary (a replacement). The file format allows neither:
    /// file writers reject changed dictionaries.
    #[default]
    Resend,
    /// Send only the new values as a delta dictionary when the old dictionary is a prefix of
    /// the new one, else a replacement (streams only).
    Delta,
}

/// Options of every writer.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    /// Body compression, `None` for uncompressed.
    pub compression: Option<Compression>,
    /// Dictionary replacement policy of stream writers.
    pub dictionary_handling: DictionaryHandling,
    /// Threads compressing the buffers of one message in parallel (`std::thread::scope`).
    /// `1` compresses on the writing thread. Default: available parallelism, at most 8.
    pub compression_threads: usize,
    /// Bodies smaller than this are compressed on one thread. Default 1 MiB.
    pub parallel_compression_min_bytes: usize,
    /// Compress on this `lsio_scheduler` pool (one task per buffer) instead of scoped threads.
    /// `None` (default): `std::thread::scope` with `compression_threads` threads.
    #[cfg(feature = "scheduler")]
    pub executor: Option<std::sync::Arc<lsio_scheduler::ThreadPool>>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            compression: None,
            dictionary_handling: DictionaryHandling::Resend,
            compression_threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
            parallel_compression_min_bytes: 1 << 20,
            #[cfg(feature = "scheduler")]
            executor: None,
        }
    }
}

impl WriteOptions {
    /// Default options with a compression codec.
    pub fn with_compression(mut self, compression: Option<Compression>) -> Self {
        self.compression = compression;
        self
    }

    /// Default options with a dictionary policy.
    pub fn with_dictionary_handling(mut self, handling: DictionaryHandling) -> Self {
        self.dictionary_handling = handling;
        self
    }
}
