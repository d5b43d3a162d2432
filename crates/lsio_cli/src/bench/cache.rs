//! Making cold runs cold: dropping the page cache before each run.

use std::fs::File;
use std::os::fd::AsRawFd;

use serde::Serialize;

use crate::bench::data::DataFile;

/// How cold runs drop the page cache (`--drop-caches`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CacheDrop {
    /// As root: `sync` and `3` into `/proc/sys/vm/drop_caches`; otherwise (or if that is
    /// refused) `posix_fadvise(DONTNEED)` on the data files.
    #[default]
    Auto,
    /// Only `posix_fadvise(DONTNEED)` on the data files (no effect on the rest of the system).
    Fadvise,
    /// Never: cold runs are warm.
    Never,
}

/// How the cache is actually dropped, once tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropMethod {
    DropCaches,
    Fadvise,
    Nothing,
}

impl DropMethod {
    pub fn describe(self) -> &'static str {
        match self {
            DropMethod::DropCaches => "dropped with sync + /proc/sys/vm/drop_caches",
            DropMethod::Fadvise => "data files evicted with posix_fadvise(DONTNEED)",
            DropMethod::Nothing => "not dropped: cold runs are warm",
        }
    }
}

/// Drops the page cache before cold runs, degrading once (with a note) when it cannot.
#[derive(Debug)]
pub struct CacheDropper {
    method: DropMethod,
}

impl CacheDropper {
    pub fn new(mode: CacheDrop) -> Self {
        let method = match mode {
            CacheDrop::Auto => DropMethod::DropCaches,
            CacheDrop::Fadvise => DropMethod::Fadvise,
            CacheDrop::Never => DropMethod::Nothing,
        };
        CacheDropper { method }
    }

    /// The method in force (after any fallback).
    pub fn method(&self) -> DropMethod {
        self.method
    }

    /// Drops the cached pages of `files` (or of everything). Returns a note the first time the
    /// method degrades (not root, `/proc/sys` read-only, ...).
    pub fn drop_cache(&mut self, files: &[DataFile]) -> Option<String> {
        let mut note = None;
        if self.method == DropMethod::DropCaches {
            match drop_caches() {
                Ok(()) => return None,
                Err(why) => {
                    self.method = DropMethod::Fadvise;
                    note = Some(format!(
                        "cannot drop the page cache ({why}): evicting the data files with posix_fadvise(DONTNEED) instead"
                    ));
                }
            }
        }
        if self.method == DropMethod::Fadvise
            && let Err(why) = fadvise_dontneed(files)
        {
            self.method = DropMethod::Nothing;
            note = Some(format!("cannot drop the page cache ({why}): cold runs are warm"));
        }
        note
    }
}

fn drop_caches() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root".into());
    }
    // SAFETY: sync has no preconditions.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", b"3\n").map_err(|e| format!("/proc/sys/vm/drop_caches: {e}"))
}

fn fadvise_dontneed(files: &[DataFile]) -> Result<(), String> {
    for f in files {
        let file = File::open(&f.path).map_err(|e| format!("{}: {e}", f.path.display()))?;
        // Dirty pages are not dropped: write them first.
        file.sync_data().map_err(|e| format!("{}: {e}", f.path.display()))?;
        // SAFETY: a valid, open descriptor; the advice only affects the page cache.
        let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        if rc != 0 {
            return Err(format!("posix_fadvise on {}: {}", f.path.display(), std::io::Error::from_raw_os_error(rc)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fadvise_and_never() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![1u8; 1 << 16]).unwrap();
        let files = [DataFile { path: path.clone(), id: 0, len: 1 << 16 }];
        let mut d = CacheDropper::new(CacheDrop::Fadvise);
        assert_eq!(d.drop_cache(&files), None);
        assert_eq!(d.method(), DropMethod::Fadvise);
        let mut n = CacheDropper::new(CacheDrop::Never);
        assert_eq!(n.drop_cache(&files), None);
        // A missing file degrades to "warm", once.
        let gone = [DataFile { path: dir.path().join("missing"), id: 0, len: 0 }];
        let note = d.drop_cache(&gone).unwrap();
        assert!(note.contains("cold runs are warm"), "{note}");
        assert_eq!(d.method(), DropMethod::Nothing);
        assert_eq!(d.drop_cache(&gone), None);
    }
}
