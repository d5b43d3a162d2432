//! The one error type of the scheduler: a panicked task, a failed read, a cancelled task, a thread
//! that could not start — each naming the request tag or pool it concerns.

use std::any::Any;

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the scheduler.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A task panicked; the pool survived it. In a pipeline, `tag` is the tag of the request whose
    /// chunk was being processed.
    #[error("task{} panicked: {message}", fmt_tag(tag))]
    Panicked { message: String, tag: Option<u64> },

    /// A pipeline's read failed (the source names the location, the range and the OS error).
    #[error("read for request with tag {tag} failed: {source}")]
    Io {
        tag: u64,
        #[source]
        source: lsio_io::Error,
    },

    /// The task never ran: its pool shut down first, or its pipeline was dropped.
    #[error("task{} was cancelled before it ran", fmt_tag(tag))]
    Cancelled { tag: Option<u64> },

    /// A worker thread could not be started.
    #[error("could not start worker thread {index} of pool {pool:?}: {source}")]
    ThreadSpawn {
        pool: String,
        index: usize,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The tag of the pipeline request this error answers, if any.
    pub fn tag(&self) -> Option<u64> {
        match self {
            Error::Panicked { tag, .. } | Error::Cancelled { tag } => *tag,
            Error::Io { tag, .. } => Some(*tag),
            Error::ThreadSpawn { .. } => None,
        }
    }
}

fn fmt_tag(tag: &Option<u64>) -> String {
    match tag {
        Some(t) => format!(" for request with tag {t}"),
        None => String::new(),
    }
}

/// The message of a panic payload (`panic!` with a literal or a formatted string).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic payload that is not a string)".to_owned()
    }
}
