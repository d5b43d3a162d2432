//! The benchmark's data set: files filled with a known pattern, made once and reused.
//!
//! Every 4 KiB block of a data file starts with two little-endian `u64` words — the block's offset
//! in the file and the file's id — and ends with a word derived from both; the words between are
//! filler that no reader relies on. A backend that returns the wrong block, the wrong file, or a
//! block of zeros fails [`check_block`] (see [`crate::bench::verify`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use crate::error::{Error, Result};
use crate::size::{approx_size, compact_size};

/// The unit of the pattern: every block of this many bytes carries its own header.
pub const BLOCK: u64 = 4096;

const WORDS: usize = (BLOCK / 8) as usize;

/// The id written into every block of the large file (small files use their index).
pub const BIG_FILE_ID: u64 = u64::MAX;

fn mix(mut x: u64) -> u64 {
    // splitmix64's finaliser: cheap, and every input bit reaches every output bit.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The last word of the block at `offset` in file `file_id`.
pub fn block_trailer(file_id: u64, offset: u64) -> u64 {
    // The constant keeps the trailer of offset 0 in file 0 from being 0 (a block of zeros).
    mix(offset ^ file_id.rotate_left(32) ^ 0x6c73_696f_6c73_696f)
}

/// Fills `buf` (a whole number of blocks) with the pattern of the blocks starting at `offset`.
pub fn fill_blocks(buf: &mut [u8], file_id: u64, offset: u64) {
    debug_assert_eq!(buf.len() as u64 % BLOCK, 0);
    for (i, block) in buf.chunks_exact_mut(BLOCK as usize).enumerate() {
        let off = offset + i as u64 * BLOCK;
        let trailer = block_trailer(file_id, off);
        for (w, word) in block.chunks_exact_mut(8).enumerate() {
            let v = match w {
                0 => off,
                1 => file_id,
                _ if w == WORDS - 1 => trailer,
                _ => trailer.wrapping_add((w as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            };
            word.copy_from_slice(&v.to_le_bytes());
        }
    }
}

fn word(block: &[u8], index: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&block[index * 8..index * 8 + 8]);
    u64::from_le_bytes(w)
}

/// Checks the header and trailer of one whole block read from `offset` of file `file_id`.
pub fn check_block(block: &[u8], file_id: u64, offset: u64) -> std::result::Result<(), String> {
    if block.len() as u64 != BLOCK {
        return Err(format!("block at {offset} has {} bytes", block.len()));
    }
    let (got_off, got_id, got_trailer) = (word(block, 0), word(block, 1), word(block, WORDS - 1));
    if got_off != offset || got_id != file_id {
        return Err(format!(
            "block at offset {offset} of file #{file_id} holds the block at offset {got_off} of file #{got_id}"
        ));
    }
    if got_trailer != block_trailer(file_id, offset) {
        return Err(format!("block at offset {offset} of file #{file_id} has a wrong trailer"));
    }
    Ok(())
}

/// One data file: where it is, its id in the pattern, and its length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataFile {
    pub path: PathBuf,
    pub id: u64,
    pub len: u64,
}

impl DataFile {
    /// Whether the file exists with the right length and pattern (first and last block checked).
    pub fn is_valid(&self) -> bool {
        let Ok(file) = File::open(&self.path) else { return false };
        match file.metadata() {
            Ok(m) if m.is_file() && m.len() == self.len => {}
            _ => return false,
        }
        if self.len < BLOCK {
            return true;
        }
        let mut block = vec![0u8; BLOCK as usize];
        let last = (self.len / BLOCK - 1) * BLOCK;
        [0, last]
            .iter()
            .all(|&off| file.read_exact_at(&mut block, off).is_ok() && check_block(&block, self.id, off).is_ok())
    }

    /// Writes the file (whole blocks; a tail shorter than a block is zeros), reporting progress.
    pub fn write(&self, progress: &ProgressBar) -> Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&self.path)
            .map_err(|e| Error::io("create", &self.path, e))?;
        let mut buf = vec![0u8; (4 << 20).min(self.len.div_ceil(BLOCK) * BLOCK) as usize];
        let mut off = 0;
        while off < self.len {
            let n = (self.len - off).min(buf.len() as u64);
            let whole = n / BLOCK * BLOCK;
            fill_blocks(&mut buf[..whole as usize], self.id, off);
            buf[whole as usize..n as usize].fill(0);
            file.write_all(&buf[..n as usize]).map_err(|e| Error::io("write", &self.path, e))?;
            off += n;
            progress.inc(n);
        }
        file.flush().map_err(|e| Error::io("write", &self.path, e))
    }
}

/// Where the data of a benchmark lives, and which files it has.
#[derive(Clone, Debug)]
pub struct DataSet {
    pub dir: PathBuf,
}

impl DataSet {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DataSet { dir: dir.into() }
    }

    /// The large file (`lsio-1GiB.dat`) of `rand4k`, `chunks256k`, `gapped` and `hot`.
    pub fn big_file(&self, len: u64) -> DataFile {
        DataFile { path: self.dir.join(format!("lsio-{}.dat", compact_size(len))), id: BIG_FILE_ID, len }
    }

    /// The directory of the small files of `files`.
    pub fn small_dir(&self, len: u64) -> PathBuf {
        self.dir.join(format!("files-{}", compact_size(len)))
    }

    /// The name fio's `--filename_format` gives small file `i` (`f.$filenum`).
    pub const SMALL_FORMAT: &'static str = "f.$filenum";

    /// Small file `i` of `files` (named so fio's `--filename_format=f.$filenum` finds it).
    pub fn small_file(&self, len: u64, i: u64) -> DataFile {
        DataFile { path: self.small_dir(len).join(format!("f.{i}")), id: i, len }
    }

    /// Makes the directories and every file of `files` that is missing or wrong, with a progress
    /// bar on stderr (when it is a terminal) and one line saying what is written.
    pub fn ensure(&self, files: &[DataFile], quiet: bool) -> Result<()> {
        make_dir(&self.dir)?;
        let mut todo = Vec::new();
        for f in files {
            if let Some(parent) = f.path.parent() {
                make_dir(parent)?;
            }
            if !f.is_valid() {
                todo.push(f);
            }
        }
        // Fail early, with the path, when the directory cannot be read or written.
        fs::read_dir(&self.dir).map_err(|e| Error::io("read data directory", &self.dir, e))?;
        if todo.is_empty() {
            return Ok(());
        }
        let total: u64 = todo.iter().map(|f| f.len).sum();
        let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(total) };
        if !quiet {
            bar.suspend(|| {
                eprintln!(
                    "lsio: writing {} of test data ({} file(s)) to {}",
                    approx_size(total as f64),
                    todo.len(),
                    self.dir.display()
                )
            });
            if let Ok(style) =
                ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message("writing test data");
        }
        for f in todo {
            f.write(&bar)?;
        }
        bar.finish_and_clear();
        Ok(())
    }
}

fn make_dir(dir: &Path) -> Result<()> {
    match fs::create_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) => Err(Error::io("create data directory", dir, e)),
    }
}

/// Reads files whole through the page cache, so that a warm run finds them there.
pub fn warm(files: &[DataFile]) -> Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    for f in files {
        let mut file = File::open(&f.path).map_err(|e| Error::io("open", &f.path, e))?;
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("read", &f.path, e)),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_checks_offset_file_and_trailer() {
        let mut buf = vec![0u8; 3 * BLOCK as usize];
        fill_blocks(&mut buf, 7, 8192);
        for (i, b) in buf.chunks(BLOCK as usize).enumerate() {
            check_block(b, 7, 8192 + i as u64 * BLOCK).unwrap();
        }
        assert!(check_block(&buf[..BLOCK as usize], 7, 4096).is_err());
        assert!(check_block(&buf[..BLOCK as usize], 8, 8192).is_err());
        assert!(check_block(&[0u8; BLOCK as usize], 0, 0).is_err());
        let mut bad = buf[..BLOCK as usize].to_vec();
        bad[BLOCK as usize - 1] ^= 1;
        assert!(check_block(&bad, 7, 8192).is_err());
    }

    #[test]
    fn files_are_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let set = DataSet::new(dir.path().join("data"));
        let files = vec![set.big_file(64 << 10), set.small_file(8192, 0), set.small_file(8192, 1)];
        set.ensure(&files, true).unwrap();
        assert!(files.iter().all(DataFile::is_valid));
        let before = fs::metadata(&files[0].path).unwrap().modified().unwrap();
        set.ensure(&files, true).unwrap();
        assert_eq!(fs::metadata(&files[0].path).unwrap().modified().unwrap(), before);
        // A file of the wrong length is rewritten.
        fs::write(&files[1].path, b"short").unwrap();
        assert!(!files[1].is_valid());
        set.ensure(&files, true).unwrap();
        assert!(files[1].is_valid());
        warm(&files).unwrap();
    }
}
