//! Checks what a backend returned: every request answered once, with its range, its length, and
//! blocks whose headers say they come from that file at that offset.

use std::ops::Range;

use crate::bench::data::{BLOCK, check_block};
use crate::bench::scenario::Scenario;

/// Checks the answers to one run of a scenario. See the module documentation.
#[derive(Debug)]
pub struct Verifier<'a> {
    scenario: &'a Scenario,
    seen: Vec<bool>,
    answered: usize,
    bytes: u64,
}

impl<'a> Verifier<'a> {
    pub fn new(scenario: &'a Scenario) -> Self {
        Verifier { scenario, seen: vec![false; scenario.reads.len()], answered: 0, bytes: 0 }
    }

    /// Checks the answer to request `tag`: `range` is what the backend says it read.
    pub fn check(&mut self, tag: u64, range: &Range<u64>, bytes: &[u8]) -> Result<(), String> {
        let Some(read) = usize::try_from(tag).ok().and_then(|t| self.scenario.reads.get(t)) else {
            return Err(format!("answer with unknown tag {tag}"));
        };
        let t = tag as usize;
        if self.seen[t] {
            return Err(format!("request {tag} answered twice"));
        }
        if *range != read.range {
            return Err(format!(
                "request {tag} asked for bytes {}..{} and got {}..{}",
                read.range.start, read.range.end, range.start, range.end
            ));
        }
        let want = read.range.end - read.range.start;
        if bytes.len() as u64 != want {
            return Err(format!("request {tag} asked for {want} bytes and got {}", bytes.len()));
        }
        let file = &self.scenario.files[read.file as usize];
        // Ranges are whole blocks (sizes are validated as multiples of 4 KiB).
        for (i, block) in bytes.chunks_exact(BLOCK as usize).enumerate() {
            let offset = read.range.start + i as u64 * BLOCK;
            check_block(block, file.id, offset).map_err(|e| format!("request {tag} ({}): {e}", file.path.display()))?;
        }
        self.seen[t] = true;
        self.answered += 1;
        self.bytes += want;
        Ok(())
    }

    /// Bytes verified, once every request was answered.
    pub fn finish(self) -> Result<u64, String> {
        if self.answered != self.seen.len() {
            return Err(format!(
                "{} of {} requests were never answered",
                self.seen.len() - self.answered,
                self.seen.len()
            ));
        }
        Ok(self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::data::{DataSet, fill_blocks};
    use crate::bench::scenario::{RunOptions, ScenarioKind, Sizes};

    #[test]
    fn catches_wrong_missing_and_duplicate_answers() {
        let sizes = Sizes { file_size: 1 << 20, reads: 4, ..Sizes::FULL };
        let s = Scenario::new(
            ScenarioKind::Rand4k,
            &sizes,
            &DataSet::new("/x"),
            RunOptions { qd: 1, direct: false, cold: false },
        );
        let block = |off: u64| {
            let mut b = vec![0u8; 4096];
            fill_blocks(&mut b, crate::bench::data::BIG_FILE_ID, off);
            b
        };
        let mut v = Verifier::new(&s);
        let r0 = s.reads[0].range.clone();
        v.check(0, &r0, &block(r0.start)).unwrap();
        assert!(v.check(0, &r0, &block(r0.start)).unwrap_err().contains("twice"));
        let r1 = s.reads[1].range.clone();
        assert!(v.check(1, &r1, &block(r1.start + 4096)).is_err(), "wrong block");
        assert!(v.check(1, &r0, &block(r0.start)).is_err(), "wrong range");
        assert!(v.check(1, &r1, &block(r1.start)[..100]).is_err(), "short");
        assert!(v.check(99, &r1, &block(r1.start)).is_err(), "unknown tag");
        assert!(v.finish().unwrap_err().contains("3 of 4"));

        let mut v = Verifier::new(&s);
        for (i, r) in s.reads.iter().enumerate() {
            v.check(i as u64, &r.range, &block(r.range.start)).unwrap();
        }
        assert_eq!(v.finish().unwrap(), 4 * 4096);
    }
}
