//! The `statx` answer a ring fills in: a file's size and its `O_DIRECT` alignment.

use std::mem::MaybeUninit;

/// What `statx` is asked for.
pub(crate) const STATX_MASK: u32 = libc::STATX_SIZE | libc::STATX_DIOALIGN | libc::STATX_DIO_READ_ALIGN;

/// Used when a filesystem does not report its `O_DIRECT` alignment (`STATX_DIOALIGN` needs Linux
/// 6.1 and filesystem support).
pub(crate) const FALLBACK_DIO_ALIGN: u32 = 4096;

/// The parts of a `statx` answer the backend uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StatInfo {
    pub(crate) size: u64,
    /// Required alignment of `O_DIRECT` buffers, if the filesystem said.
    pub(crate) dio_mem_align: Option<u32>,
    /// Required alignment of `O_DIRECT` read offsets and lengths, if the filesystem said.
    pub(crate) dio_offset_align: Option<u32>,
}

impl StatInfo {
    /// Reads the fields the kernel filled in.
    ///
    /// # Safety
    /// A `statx` operation asked with [`STATX_MASK`] completed successfully into `buf`, so the
    /// kernel initialised the whole structure (it writes all of `struct statx`, zeroing what it
    /// does not report).
    pub(crate) unsafe fn from_kernel(buf: &MaybeUninit<libc::statx>) -> StatInfo {
        // SAFETY: initialised by the kernel, per this function's contract.
        let s = unsafe { buf.assume_init_ref() };
        Self::parse(s.stx_mask, s.stx_size, s.stx_dio_mem_align, s.stx_dio_offset_align, s.stx_dio_read_offset_align)
    }

    /// Interprets the raw fields: alignments only count when their mask bit is set and they are
    /// non-zero; the finer read alignment (`STATX_DIO_READ_ALIGN`, Linux 6.14) wins when given.
    pub(crate) fn parse(mask: u32, size: u64, mem: u32, offset: u32, read_offset: u32) -> StatInfo {
        let dio = mask & libc::STATX_DIOALIGN != 0;
        let dio_read = mask & libc::STATX_DIO_READ_ALIGN != 0;
        let dio_mem_align = (dio && mem > 0).then_some(mem);
        let dio_offset_align =
            if dio_read && read_offset > 0 { Some(read_offset) } else { (dio && offset > 0).then_some(offset) };
        StatInfo { size, dio_mem_align, dio_offset_align }
    }

    /// Buffer alignment for `O_DIRECT` reads (a power of two).
    pub(crate) fn mem_align(&self) -> usize {
        pow2(self.dio_mem_align.unwrap_or(FALLBACK_DIO_ALIGN)) as usize
    }

    /// Offset and length alignment for `O_DIRECT` reads (a power of two).
    pub(crate) fn offset_align(&self) -> u64 {
        u64::from(pow2(self.dio_offset_align.unwrap_or(FALLBACK_DIO_ALIGN)))
    }
}

fn pow2(v: u32) -> u32 {
    v.checked_next_power_of_two().unwrap_or(FALLBACK_DIO_ALIGN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_alignments() {
        let s = StatInfo::parse(libc::STATX_SIZE, 10, 4, 512, 0);
        assert_eq!((s.mem_align(), s.offset_align()), (4096, 4096));
        let s = StatInfo::parse(libc::STATX_SIZE | libc::STATX_DIOALIGN, 10, 4, 512, 0);
        assert_eq!((s.mem_align(), s.offset_align()), (4, 512));
        let s = StatInfo::parse(libc::STATX_DIOALIGN | libc::STATX_DIO_READ_ALIGN, 10, 4, 4096, 512);
        assert_eq!(s.offset_align(), 512);
        let s = StatInfo::parse(libc::STATX_DIOALIGN, 10, 0, 0, 0);
        assert_eq!((s.dio_mem_align, s.dio_offset_align), (None, None));
    }
}
