//! The thread pool: spawn, scopes, join, panics, and the stress cases (a million tiny tasks,
//! tasks spawning tasks, dropping a busy pool).

#![cfg(not(loom))]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lsio_scheduler::{Error, PoolConfig, ThreadPool};

fn pool(threads: usize) -> ThreadPool {
    ThreadPool::new(PoolConfig { threads, name: "test".into() }).unwrap()
}

#[test]
fn spawn_returns_results() {
    let p = pool(2);
    let handles: Vec<_> = (0..100u64).map(|i| p.spawn(move || i * i)).collect();
    let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, (0..100u64).map(|i| i * i).sum());
    assert_eq!(p.threads(), 2);
    assert_eq!(p.current_thread_index(), None);
    let idx = p.spawn({
        let p = p.clone();
        move || p.current_thread_index()
    });
    assert!(idx.join().unwrap().unwrap() < 2);
}

#[test]
fn a_panic_is_an_error_and_the_pool_survives() {
    let p = pool(2);
    let bad = p.spawn(|| -> u32 { panic!("boom {}", 7) });
    match bad.join() {
        Err(Error::Panicked { message, tag: None }) => assert_eq!(message, "boom 7"),
        other => panic!("expected a panic error, got {other:?}"),
    }
    let static_msg = p.spawn(|| -> u32 { panic!("static") });
    assert!(matches!(static_msg.join(), Err(Error::Panicked { ref message, .. }) if message == "static"));
    // Every thread still works.
    let handles: Vec<_> = (0..50).map(|i| p.spawn(move || i + 1)).collect();
    assert_eq!(handles.into_iter().map(|h| h.join().unwrap()).sum::<i32>(), (1..=50).sum());
    let r = p.scope(|s| {
        s.spawn(|_| panic!("in scope"));
        s.spawn(|_| panic!("again"));
    });
    let Err(Error::Panicked { message, .. }) = r else { panic!("expected a panic error") };
    assert!(message.contains("in scope") || message.contains("again"), "{message}");
    assert!(message.contains("1 more"), "{message}");
    assert_eq!(p.join(|| 1, || 2).unwrap(), (1, 2));
    assert!(matches!(p.join(|| 1, || -> i32 { panic!("b") }), Err(Error::Panicked { .. })));
    assert!(matches!(p.join(|| -> i32 { panic!("a") }, || 2), Err(Error::Panicked { .. })));
}

#[test]
fn scoped_tasks_borrow_and_nest() {
    let p = pool(2);
    let data: Vec<u64> = (0..1000).collect();
    let mut sums = [0u64; 10];
    p.scope(|s| {
        for (chunk, out) in data.chunks(100).zip(sums.iter_mut()) {
            s.spawn(move |_| *out = chunk.iter().sum());
        }
    })
    .unwrap();
    assert_eq!(sums.iter().sum::<u64>(), data.iter().sum());

    let counter = AtomicUsize::new(0);
    p.scope(|s| {
        for _ in 0..10 {
            s.spawn(|s| {
                for _ in 0..10 {
                    s.spawn(|_| {
                        counter.fetch_add(1, Ordering::Relaxed);
                    });
                }
            });
        }
    })
    .unwrap();
    assert_eq!(counter.load(Ordering::Relaxed), 100);
}

#[test]
fn a_scope_inside_a_task_runs_other_work_while_it_waits() {
    // One thread: a task that opens a scope must run the scope's tasks itself.
    let p = pool(1);
    let p2 = p.clone();
    let h = p.spawn(move || {
        let total = AtomicUsize::new(0);
        p2.scope(|s| {
            for i in 0..100 {
                let total = &total;
                s.spawn(move |_| {
                    total.fetch_add(i, Ordering::Relaxed);
                });
            }
        })
        .unwrap();
        total.into_inner()
    });
    assert_eq!(h.join().unwrap(), (0..100).sum());

    // A task joining another task on a one-thread pool does not deadlock either.
    let p3 = p.clone();
    let h = p.spawn(move || {
        let inner = p3.spawn(|| 41);
        inner.join().unwrap() + 1
    });
    assert_eq!(h.join().unwrap(), 42);
}

fn fib(p: &ThreadPool, n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = p.join(|| fib(p, n - 1), || fib(p, n - 2)).unwrap();
    a + b
}

#[test]
fn tasks_spawning_tasks() {
    let p = pool(2);
    let pp = p.clone();
    assert_eq!(p.spawn(move || fib(&pp, 18)).join().unwrap(), 2584);

    // A tree of detached tasks, each spawning children through a pool clone.
    let done = Arc::new(AtomicUsize::new(0));
    fn grow(p: ThreadPool, depth: u32, done: Arc<AtomicUsize>) {
        done.fetch_add(1, Ordering::Relaxed);
        if depth == 0 {
            return;
        }
        for _ in 0..3 {
            let (p2, d2) = (p.clone(), done.clone());
            drop(p.spawn(move || grow(p2, depth - 1, d2)));
        }
    }
    let (p2, d2) = (p.clone(), done.clone());
    drop(p.spawn(move || grow(p2, 7, d2)));
    let want = (3usize.pow(8) - 1) / 2;
    let start = Instant::now();
    while done.load(Ordering::Relaxed) < want {
        assert!(start.elapsed() < Duration::from_secs(20), "tree stalled at {}", done.load(Ordering::Relaxed));
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn one_million_tiny_tasks() {
    let p = pool(2);
    let n = AtomicUsize::new(0);
    let start = Instant::now();
    p.scope(|s| {
        for _ in 0..1_000_000 {
            s.spawn(|_| {
                n.fetch_add(1, Ordering::Relaxed);
            });
        }
    })
    .unwrap();
    assert_eq!(n.load(Ordering::Relaxed), 1_000_000);
    eprintln!("1M scoped tasks: {:?}", start.elapsed());

    // And a million spawned from inside the pool (local deques, stealing).
    let n = AtomicUsize::new(0);
    p.scope(|s| {
        for _ in 0..4 {
            s.spawn(|s| {
                for _ in 0..250_000 {
                    s.spawn(|_| {
                        n.fetch_add(1, Ordering::Relaxed);
                    });
                }
            });
        }
    })
    .unwrap();
    assert_eq!(n.load(Ordering::Relaxed), 1_000_000);
}

#[test]
fn detached_tasks_all_run() {
    let p = pool(2);
    let n = Arc::new(AtomicUsize::new(0));
    for _ in 0..100_000 {
        let n = n.clone();
        drop(p.spawn(move || {
            n.fetch_add(1, Ordering::Relaxed);
        }));
    }
    // Detached tasks that panic take nothing down with them.
    for _ in 0..100 {
        drop(p.spawn(|| panic!("detached")));
    }
    assert_eq!(p.spawn(|| 7).join().unwrap(), 7);
    drop(p); // Joins the threads after the queued tasks ran.
    assert_eq!(n.load(Ordering::Relaxed), 100_000);
}

#[test]
fn dropping_a_busy_pool_neither_hangs_nor_leaks() {
    let marker = Arc::new(());
    let p = pool(2);
    let mut handles = Vec::new();
    for i in 0..1000 {
        let m = marker.clone();
        handles.push(p.spawn(move || {
            let _m = m;
            if i % 100 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            i
        }));
    }
    drop(p);
    // Queued tasks ran before the threads stopped; every capture was released.
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), i);
    }
    assert_eq!(Arc::strong_count(&marker), 1);

    // The last clone dropped from inside one of the pool's own tasks.
    let p = pool(2);
    let p2 = p.clone();
    let h = p.spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        drop(p2);
        5
    });
    drop(p);
    assert_eq!(h.join().unwrap(), 5);
}

#[test]
fn join_from_outside_and_blocking_join() {
    let p = pool(2);
    let h = p.spawn(|| {
        std::thread::sleep(Duration::from_millis(30));
        "late"
    });
    assert!(!h.is_finished());
    assert_eq!(h.join().unwrap(), "late");
}

#[test]
fn default_config_uses_every_core() {
    let p = ThreadPool::new(PoolConfig::default()).unwrap();
    assert_eq!(p.threads(), std::thread::available_parallelism().unwrap().get());
    assert_eq!(p.name(), "lsio-worker");
    assert!(format!("{p:?}").contains("lsio-worker"));
}

#[test]
fn install_runs_on_a_worker_and_pools_nest() {
    let a = pool(2);
    let b = pool(1);
    assert!(a.install(|| a.current_thread_index().is_some()).unwrap());
    assert!(matches!(a.install(|| -> u8 { panic!("inside") }), Err(Error::Panicked { .. })));
    // A task of pool `a` opens a scope on pool `b`, which borrows the task's stack; the worker of
    // `a` keeps running `a`'s jobs while it waits.
    let (a2, b2) = (a.clone(), b.clone());
    let total = a
        .spawn(move || {
            let parts: Vec<u64> = (1..=100).collect();
            let sum = AtomicUsize::new(0);
            b2.scope(|s| {
                for chunk in parts.chunks(10) {
                    let sum = &sum;
                    s.spawn(move |_| {
                        sum.fetch_add(chunk.iter().sum::<u64>() as usize, Ordering::Relaxed);
                    });
                }
            })
            .unwrap();
            let inner = a2.spawn(|| 1).join().unwrap();
            sum.into_inner() + inner
        })
        .join()
        .unwrap();
    assert_eq!(total, 5050 + 1);
}
