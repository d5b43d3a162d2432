//! Settings of an [`ObjectStoreBackend`](crate::ObjectStoreBackend).

use lsio_io::{DEFAULT_BYTES_IN_FLIGHT, PlannerConfig};
use object_store::{ClientOptions, RetryConfig};

/// Which tokio runtime runs the store's requests.
#[derive(Clone, Debug)]
pub enum RuntimeChoice {
    /// A multi-threaded runtime of the backend's own, shut down when the backend drops.
    Own {
        /// Worker threads (at least 1). Requests are I/O bound: 2 keep hundreds in flight.
        worker_threads: usize,
    },
    /// An existing runtime (it must be multi-threaded, or be driven by its owner while batches
    /// run). `IoBackend::read` never blocks it: submitting spawns tasks and returns.
    Handle(tokio::runtime::Handle),
}

impl Default for RuntimeChoice {
    fn default() -> Self {
        RuntimeChoice::Own { worker_threads: 2 }
    }
}

/// Settings of an [`ObjectStoreBackend`](crate::ObjectStoreBackend).
#[derive(Clone, Debug)]
pub struct BridgeConfig {
    /// The most store requests (GET, HEAD, PUT, part uploads) in flight at once, over all batches
    /// of the backend. object_store's own `get_ranges` keeps 10.
    pub max_concurrency: usize,
    /// How ranges of one object are merged into GETs and how long GETs are split into parallel
    /// part-GETs (`split_len`).
    pub planner: PlannerConfig,
    /// Bound on bytes fetched for a batch and not yet taken by its consumer.
    pub bytes_in_flight: u64,
    /// Writes of at most this many bytes are one PUT; larger ones are multipart uploads with parts
    /// of this size (S3 wants at least 5 MiB per part but the last).
    pub part_size: u64,
    /// Which runtime runs the requests.
    pub runtime: RuntimeChoice,
    /// Retries and backoff of transient failures (5xx, 429, connection resets, timeouts of
    /// idempotent requests), applied by object_store's HTTP client.
    pub retry: RetryConfig,
    /// HTTP client options (timeouts, pool, `allow_http`); `None` keeps what the environment and
    /// the URL options give. When set, it replaces the client options read from the environment.
    pub client_options: Option<ClientOptions>,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            max_concurrency: 64,
            planner: PlannerConfig::OBJECT_STORE,
            bytes_in_flight: DEFAULT_BYTES_IN_FLIGHT,
            part_size: 8 << 20,
            runtime: RuntimeChoice::default(),
            retry: RetryConfig::default(),
            client_options: None,
        }
    }
}
