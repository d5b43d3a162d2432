//! Idle workers sleep (no spinning: about 0% CPU) and wake promptly on new work. A test binary of
//! its own, so that no other test's threads add to the CPU time it measures.

#![cfg(not(loom))]

use std::time::{Duration, Instant};

use lsio_scheduler::ThreadPool;

/// User plus system CPU time of the whole process.
fn cpu_time() -> Duration {
    // SAFETY: `getrusage` only writes into the zeroed struct we pass.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut u), 0);
        u
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

#[test]
fn idle_workers_sleep_and_wake_promptly() {
    let pool = ThreadPool::with_threads(4).unwrap();
    // Some work first, so that every worker has been busy.
    for _ in 0..3 {
        let hs: Vec<_> = (0..1000).map(|i| pool.spawn(move || i * 2)).collect();
        hs.into_iter().for_each(|h| drop(h.join()));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while pool.sleeping_threads() < 4 {
        assert!(Instant::now() < deadline, "workers never fell asleep");
        std::thread::sleep(Duration::from_millis(1));
    }
    let before = cpu_time();
    std::thread::sleep(Duration::from_millis(400));
    let used = cpu_time() - before;
    // Four spinning threads would burn ~1.6 s here (or all the CPU they can get).
    assert!(used < Duration::from_millis(40), "idle pool used {used:?} of CPU in 400 ms");
    assert_eq!(pool.sleeping_threads(), 4);

    // Wakes on new work, from outside and from a task.
    for _ in 0..20 {
        let start = Instant::now();
        let h = pool.spawn(move || start.elapsed());
        let latency = h.join().unwrap();
        assert!(latency < Duration::from_millis(50), "woke after {latency:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
    let p2 = pool.clone();
    let nested = pool.spawn(move || {
        let hs: Vec<_> = (0..8).map(|i| p2.spawn(move || i)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<i32>()
    });
    assert_eq!(nested.join().unwrap(), 28);
}
