//! Is io_uring usable here? The probe the CLI runs before choosing a backend, and the clear
//! errors that ring setup failures turn into.

use std::fmt;
use std::io;

use io_uring::{IoUring, Probe, opcode};

/// Why io_uring cannot be used on this machine (or by this process).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UringUnavailable {
    reason: String,
    errno: Option<i32>,
}

impl UringUnavailable {
    /// What is wrong, in words (names the errno and, where it matters, the sysctl).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The errno `io_uring_setup` (or the probe) failed with, if it did.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.errno
    }
}

impl fmt::Display for UringUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for UringUnavailable {}

impl From<UringUnavailable> for io::Error {
    fn from(e: UringUnavailable) -> io::Error {
        let kind = match e.errno {
            Some(libc::EPERM) | Some(libc::EACCES) => io::ErrorKind::PermissionDenied,
            Some(libc::ENOMEM) => io::ErrorKind::OutOfMemory,
            Some(libc::EINVAL) => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::Unsupported,
        };
        io::Error::new(kind, e.reason)
    }
}

/// The operations every ring uses.
const NEEDED: [(u8, &str); 8] = [
    (opcode::OpenAt::CODE, "OPENAT"),
    (opcode::Statx::CODE, "STATX"),
    (opcode::Read::CODE, "READ"),
    (opcode::ReadFixed::CODE, "READ_FIXED"),
    (opcode::Writev::CODE, "WRITEV"),
    (opcode::Fsync::CODE, "FSYNC"),
    (opcode::Close::CODE, "CLOSE"),
    (opcode::PollAdd::CODE, "POLL_ADD"),
];

/// Checks that this process can create an io_uring and that the kernel supports every operation
/// the backend uses, so a caller can fall back to [`lsio_io::PreadBackend`] and say why.
///
/// ```
/// match lsio_uring::io_uring_available() {
///     Ok(()) => println!("io_uring is available"),
///     Err(why) => println!("falling back to pread: {why}"),
/// }
/// ```
pub fn io_uring_available() -> Result<(), UringUnavailable> {
    let ring = IoUring::new(4).map_err(|e| classify_setup_error(&e, 4))?;
    let mut probe = Probe::new();
    if let Err(e) = ring.submitter().register_probe(&mut probe) {
        return Err(UringUnavailable {
            reason: format!("io_uring works but cannot be probed for its operations (needs Linux 5.6 or later): {e}"),
            errno: e.raw_os_error(),
        });
    }
    let missing: Vec<&str> =
        NEEDED.iter().filter(|(code, _)| !probe.is_supported(*code)).map(|(_, name)| *name).collect();
    if !missing.is_empty() {
        return Err(UringUnavailable {
            reason: format!(
                "this kernel's io_uring lacks the operations {} (Linux 5.6 or later is needed)",
                missing.join(", ")
            ),
            errno: None,
        });
    }
    Ok(())
}

/// `/proc/sys/kernel/io_uring_disabled` (0 = enabled, 1 = only for `kernel.io_uring_group` and
/// privileged processes, 2 = disabled), if the kernel has the sysctl.
pub(crate) fn io_uring_disabled_sysctl() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").ok()?.trim().parse().ok()
}

/// Turns a failed `io_uring_setup` into an error that names the likely cause.
pub(crate) fn classify_setup_error(e: &io::Error, entries: u32) -> UringUnavailable {
    let errno = e.raw_os_error();
    let sysctl = io_uring_disabled_sysctl();
    let reason = match errno {
        Some(libc::ENOSYS) => format!(
            "io_uring is unavailable: io_uring_setup failed with ENOSYS ({e}); the kernel was built \
             without io_uring (CONFIG_IO_URING) or a seccomp filter (container runtime) blocks it"
        ),
        Some(libc::EPERM) | Some(libc::EACCES) => match sysctl {
            Some(2) => format!(
                "io_uring is disabled on this machine: io_uring_setup failed with EPERM ({e}) and \
                 /proc/sys/kernel/io_uring_disabled is 2"
            ),
            Some(1) => format!(
                "io_uring is restricted on this machine: io_uring_setup failed with EPERM ({e}); \
                 /proc/sys/kernel/io_uring_disabled is 1, so only members of kernel.io_uring_group \
                 and privileged processes may use it"
            ),
            _ => format!(
                "io_uring is not permitted: io_uring_setup failed with {} ({e}); a seccomp filter \
                 or a security module blocks it (kernel.io_uring_disabled is {})",
                if errno == Some(libc::EPERM) { "EPERM" } else { "EACCES" },
                sysctl.map_or("absent".to_owned(), |v| v.to_string())
            ),
        },
        Some(libc::EINVAL) => format!(
            "io_uring_setup rejected the ring parameters with EINVAL ({e}): queue depth {entries} \
             (the kernel allows 1..=32768 entries) or setup flags this kernel does not support"
        ),
        Some(libc::ENOMEM) => format!(
            "io_uring_setup failed with ENOMEM ({e}) for a ring of {entries} entries: not enough \
             memory or locked memory (RLIMIT_MEMLOCK)"
        ),
        Some(libc::EMFILE) | Some(libc::ENFILE) => {
            format!("io_uring_setup failed: too many open files ({e})")
        }
        _ => format!("io_uring_setup failed for a ring of {entries} entries: {e}"),
    };
    UringUnavailable { reason, errno }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_their_cause() {
        let e = classify_setup_error(&io::Error::from_raw_os_error(libc::ENOSYS), 64);
        assert!(e.reason().contains("ENOSYS") && e.reason().contains("seccomp"), "{e}");
        let e = classify_setup_error(&io::Error::from_raw_os_error(libc::EPERM), 64);
        assert!(e.reason().contains("EPERM"), "{e}");
        let e = classify_setup_error(&io::Error::from_raw_os_error(libc::EINVAL), 1 << 20);
        assert!(e.reason().contains("1048576") && e.reason().contains("32768"), "{e}");
        let io: io::Error = e.into();
        assert_eq!(io.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn available_here() {
        // The project's machines run Linux 6.x with io_uring enabled.
        io_uring_available().expect("io_uring available");
    }
}
