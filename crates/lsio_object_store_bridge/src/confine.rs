//! Keeping [`LsioStore`](crate::LsioStore) paths inside its root: which object paths are refused,
//! and how a path is checked against symlinks that lead out.
//!
//! An `object_store::path::Path` is already a list of non-empty parts without `/` that are not
//! `.` or `..` (object_store percent-encodes such input: `Path::from("..")` is the part `%2E%2E`),
//! and it has no leading `/`, so it cannot be absolute. On disk a part is a file name as it is
//! (`a%2Fb` is a file called `a%2Fb`, as in `LocalFileSystem`); nothing is ever percent-decoded.
//! On top of that, a part is refused when:
//! * it is `.` or `..`, or decodes to them (`%2E%2E`, `.%2e`): a layer that decodes would traverse;
//! * it decodes to a NUL byte or to bytes that are not UTF-8 (`%00`, `%FF`): odd encodings;
//! * it is an in-progress upload's staging name (`name#123`);
//!
//! and a path whose existing prefix resolves (through symlinks) outside the root is refused.

use std::io;
use std::path::{Path as FsPath, PathBuf};

use object_store::path::Path;

use crate::error::BridgeError;

fn refused(location: &Path, reason: impl Into<String>) -> BridgeError {
    BridgeError::PathRefused { path: location.to_string(), reason: reason.into() }
}

/// Percent-decodes `s`; a `%` that does not start a `%XX` escape stays as it is.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Whether a file name is an in-progress upload's staging file (`name#123`).
pub(crate) fn is_staging_name(name: &str) -> bool {
    match name.rsplit_once('#') {
        Some((_, suffix)) => !suffix.is_empty() && suffix.bytes().all(|c| c.is_ascii_digit()),
        None => false,
    }
}

/// Checks every part of `location` (see the module documentation).
pub(crate) fn check_parts(location: &Path) -> Result<(), BridgeError> {
    let raw: &str = location.as_ref();
    if raw.starts_with('/') {
        return Err(refused(location, "absolute paths are refused"));
    }
    for part in location.parts() {
        let part: &str = part.as_ref();
        if part.is_empty() || part == "." || part == ".." {
            return Err(refused(location, "`.` and `..` are refused"));
        }
        let decoded = percent_decode(part);
        if decoded == b"." || decoded == b".." {
            return Err(refused(location, format!("`{part}` is an encoded `.` or `..`")));
        }
        if decoded.contains(&0) {
            return Err(refused(location, format!("`{part}` encodes a NUL byte")));
        }
        if std::str::from_utf8(&decoded).is_err() {
            return Err(refused(location, format!("`{part}` encodes bytes that are not UTF-8")));
        }
    }
    if location.filename().is_some_and(is_staging_name) {
        return Err(refused(location, "names ending in `#` and digits are in-progress uploads"));
    }
    Ok(())
}

/// `root` joined with the parts of `location`, lexically (no filesystem access).
pub(crate) fn join(root: &FsPath, location: &Path) -> PathBuf {
    let mut p = root.to_path_buf();
    for part in location.parts() {
        p.push(part.as_ref() as &str);
    }
    p
}

/// The canonical path of an existing object, refused if a symlink leads it out of `root`.
pub(crate) fn resolve_existing(root: &FsPath, location: &Path) -> Result<PathBuf, BridgeError> {
    check_parts(location)?;
    let lexical = join(root, location);
    match std::fs::canonicalize(&lexical) {
        Ok(real) if real.starts_with(root) => Ok(real),
        Ok(_) => Err(refused(location, "a symlink leads out of the store's root")),
        Err(source) => Err(BridgeError::Io { op: "resolving", path: lexical, source }),
    }
}

/// Where an object may be created: its lexical path, after checking that the deepest existing
/// directory on the way resolves inside `root` (missing directories are then created inside it).
/// The last component is not followed: a rename onto it replaces a symlink, not its target.
pub(crate) fn resolve_for_write(root: &FsPath, location: &Path) -> Result<PathBuf, BridgeError> {
    check_parts(location)?;
    if location.parts().next().is_none() {
        return Err(refused(location, "the root is not an object"));
    }
    let lexical = join(root, location);
    let mut ancestor = lexical.parent();
    while let Some(dir) = ancestor {
        match std::fs::canonicalize(dir) {
            Ok(real) if real.starts_with(root) => return Ok(lexical),
            Ok(_) => return Err(refused(location, "a symlink leads out of the store's root")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => ancestor = dir.parent(),
            Err(source) => return Err(BridgeError::Io { op: "resolving", path: dir.to_path_buf(), source }),
        }
    }
    Err(refused(location, "no directory of the path exists"))
}

/// The lexical path of an object to delete or rename away: its directory must resolve inside
/// `root`; the last component is not followed (deleting a symlink deletes the link).
pub(crate) fn resolve_entry(root: &FsPath, location: &Path) -> Result<PathBuf, BridgeError> {
    check_parts(location)?;
    let lexical = join(root, location);
    if let Some(parent) = lexical.parent() {
        match std::fs::canonicalize(parent) {
            Ok(real) if real.starts_with(root) => {}
            Ok(_) => return Err(refused(location, "a symlink leads out of the store's root")),
            Err(source) => return Err(BridgeError::Io { op: "resolving", path: lexical, source }),
        }
    }
    Ok(lexical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_dot_segments_and_odd_encodings() {
        for bad in ["a/%2E%2E/b", "%2e%2E", ".%2E", "%2E", "x/%00", "%FF", "a/b#12"] {
            let p = Path::parse(bad).expect("object_store accepts it");
            assert!(check_parts(&p).is_err(), "{bad} should be refused");
        }
        // What `Path::from` makes of `..` is refused too.
        assert!(check_parts(&Path::from("../etc/passwd")).is_err());
        for good in ["a/b%2Fc/foo.file", "%48%45%4C%4C%4F/x", "%Q.parquet", "🇦🇺/$shenanigans@@~.txt", "a#b", "x#1a"]
        {
            let p = Path::parse(good).expect("object_store accepts it");
            assert!(check_parts(&p).is_ok(), "{good} should be accepted");
        }
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("%2e%2E"), b"..");
        assert_eq!(percent_decode("%Q%"), b"%Q%");
        assert_eq!(percent_decode("a%2"), b"a%2");
        assert!(is_staging_name("f#1") && !is_staging_name("f#") && !is_staging_name("f#1x"));
    }
}
