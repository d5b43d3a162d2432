//! When io_uring is blocked — as by a container's seccomp profile (ENOSYS or EPERM from
//! `io_uring_setup`) — the probe and the constructor fail with an error that names the cause,
//! so the CLI can fall back to the pread backend and say why.
//!
//! The block is simulated with a seccomp filter installed on a fresh thread only: filters apply to
//! the thread that installs them and the threads it starts (the rings), not to the rest of the
//! test process.

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use lsio_uring::{UringBackend, UringConfig, io_uring_available};

const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;

/// Makes `io_uring_setup` fail with `errno` on the calling thread and the threads it starts.
fn block_io_uring_setup(errno: u32) {
    let ld_abs_w = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    let jeq = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    let ret = (libc::BPF_RET | libc::BPF_K) as u16;
    let f = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let mut filter = [
        f(ld_abs_w, 0, 0, 4), // seccomp_data.arch
        f(jeq, 0, 3, AUDIT_ARCH_X86_64),
        f(ld_abs_w, 0, 0, 0), // seccomp_data.nr
        f(jeq, 0, 1, libc::SYS_io_uring_setup as u32),
        f(ret, 0, 0, libc::SECCOMP_RET_ERRNO | errno),
        f(ret, 0, 0, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_mut_ptr() };
    // SAFETY: plain prctl calls; `prog` points at a live filter for the duration of the call,
    // and the kernel copies it.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0, "PR_SET_NO_NEW_PRIVS");
        assert_eq!(
            libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &raw const prog, 0, 0),
            0,
            "PR_SET_SECCOMP: {}",
            std::io::Error::last_os_error()
        );
    }
}

fn check_blocked(errno: i32, words: &'static [&'static str]) {
    std::thread::spawn(move || {
        block_io_uring_setup(errno as u32);
        let why = io_uring_available().expect_err("io_uring must look unavailable");
        assert_eq!(why.raw_os_error(), Some(errno));
        for w in words {
            assert!(why.to_string().contains(w), "{why}");
        }
        // The constructor's ring threads inherit the filter: it fails the same way, naming it.
        let e = UringBackend::with_config(UringConfig::default()).expect_err("no rings can be made");
        for w in words {
            assert!(e.to_string().contains(w), "{e}");
        }
    })
    .join()
    .expect("probe thread");
}

#[test]
fn blocked_with_enosys_says_so() {
    check_blocked(libc::ENOSYS, &["ENOSYS", "seccomp", "CONFIG_IO_URING"]);
}

#[test]
fn blocked_with_eperm_says_so() {
    check_blocked(libc::EPERM, &["EPERM", "io_uring_disabled"]);
}

#[test]
fn unaffected_threads_still_have_io_uring() {
    // The filters above stay on their own threads.
    io_uring_available().expect("io_uring here");
}
