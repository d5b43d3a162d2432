//! Loom models of the scheduler's hand-written synchronisation: the sleep/wake protocol of idle
//! workers, the latches that scope owners and task joiners wait on, and the batch poller's run
//! flag. Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p lsio_scheduler --release --test loom
//! ```

#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;
use lsio_scheduler::__loom::{Latch, RunFlag, Sleep};

fn builder(preemptions: usize) -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(preemptions);
    b
}

/// Takes one job from a counter of queued jobs.
fn take(jobs: &AtomicUsize) -> bool {
    let mut n = jobs.load(Ordering::Acquire);
    while n > 0 {
        match jobs.compare_exchange(n, n - 1, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return true,
            Err(m) => n = m,
        }
    }
    false
}

/// A producer pushes work and notifies; the worker must never sleep through it (loom reports a
/// deadlock if it does).
#[test]
fn notify_one_is_never_lost() {
    builder(4).check(|| {
        let sleep = Arc::new(Sleep::new(1));
        let jobs = Arc::new(AtomicUsize::new(0));
        let producer = {
            let (sleep, jobs) = (sleep.clone(), jobs.clone());
            thread::spawn(move || {
                for _ in 0..2 {
                    jobs.fetch_add(1, Ordering::Release);
                    sleep.notify_one();
                }
            })
        };
        let mut done = 0;
        while done < 2 {
            if take(&jobs) {
                done += 1;
                continue;
            }
            sleep.sleep(0, || jobs.load(Ordering::Acquire) > 0);
        }
        producer.join().unwrap();
    });
}

/// Two workers share the work of one producer; the one finishing the last job announces the end
/// with `wake_all` (the pool's terminate path). Every worker must get out.
#[test]
fn two_workers_share_work_and_all_wake_at_the_end() {
    builder(2).check(|| {
        const TOTAL: usize = 2;
        let sleep = Arc::new(Sleep::new(2));
        let jobs = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..2)
            .map(|i| {
                let (sleep, jobs, done, finished) = (sleep.clone(), jobs.clone(), done.clone(), finished.clone());
                thread::spawn(move || {
                    loop {
                        if take(&jobs) {
                            if done.fetch_add(1, Ordering::AcqRel) + 1 == TOTAL {
                                finished.store(true, Ordering::Release);
                                sleep.wake_all();
                            }
                            continue;
                        }
                        if finished.load(Ordering::Acquire) {
                            return;
                        }
                        sleep.sleep(i, || jobs.load(Ordering::Acquire) > 0 || finished.load(Ordering::Acquire));
                    }
                })
            })
            .collect();
        for _ in 0..TOTAL {
            jobs.fetch_add(1, Ordering::Release);
            sleep.notify_one();
        }
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(done.load(Ordering::Relaxed), TOTAL);
    });
}

/// A scope owner (worker 0) waits for two tasks finishing on other threads. As in `scope.rs`, the
/// scope's state is reference-counted, its reference count is the count of unfinished work, and
/// dropping the last reference sets the owner's latch (with the outcome), which wakes the owner.
#[test]
fn the_last_task_of_a_scope_wakes_its_owner() {
    struct State {
        done: Arc<Latch<usize>>,
        panics: AtomicUsize,
    }
    impl Drop for State {
        fn drop(&mut self) {
            let panics = self.panics.load(Ordering::Relaxed);
            self.done.set_with(|v| *v = panics);
        }
    }
    builder(3).check(|| {
        let sleep = Arc::new(Sleep::new(1));
        let done = Arc::new(Latch::with_value(usize::MAX));
        assert!(done.register_worker(sleep.clone(), 0));
        let state = Arc::new(State { done: done.clone(), panics: AtomicUsize::new(0) });
        let tasks: Vec<_> = (0..2)
            .map(|i| {
                let state = state.clone();
                thread::spawn(move || {
                    if i == 1 {
                        state.panics.fetch_add(1, Ordering::Relaxed); // a task that panicked
                    }
                    drop(state);
                })
            })
            .collect();
        drop(state); // the body returns
        while !done.probe() {
            sleep.sleep(0, || done.probe());
        }
        // Every task's writes are in the outcome.
        assert_eq!(done.with_value_locked(|v| *v), 1);
        for t in tasks {
            t.join().unwrap();
        }
    });
}

/// A worker registers as a task's joiner while the task sets its latch.
#[test]
fn a_joiner_registering_late_or_early_is_woken() {
    builder(4).check(|| {
        let sleep = Arc::new(Sleep::new(1));
        let latch = Arc::new(Latch::new());
        let value = Arc::new(AtomicUsize::new(0));
        let task = {
            let (latch, value) = (latch.clone(), value.clone());
            thread::spawn(move || {
                value.store(42, Ordering::Relaxed);
                latch.set();
            })
        };
        if latch.register_worker(sleep.clone(), 0) {
            while !latch.probe() {
                sleep.sleep(0, || latch.probe());
            }
        }
        // What the setter wrote before setting is visible (through the flag or the mutex).
        assert_eq!(value.load(Ordering::Relaxed), 42);
        task.join().unwrap();
    });
}

/// A joiner that sees the flag finds the task's result (written under the lock with it).
#[test]
fn the_flag_is_never_ahead_of_the_value() {
    builder(4).check(|| {
        let sleep = Arc::new(Sleep::new(1));
        let latch = Arc::new(Latch::with_value(0u32));
        let task = {
            let latch = latch.clone();
            thread::spawn(move || latch.set_with(|v| *v = 42))
        };
        // The probe-only path (`TaskHandle::is_finished`, the first check of `join`)...
        if latch.probe() {
            assert_eq!(latch.with_value_locked(|v| *v), 42);
        }
        // ...and the waiting path.
        if latch.register_worker(sleep.clone(), 0) {
            while !latch.probe() {
                sleep.sleep(0, || latch.probe());
            }
        }
        assert_eq!(latch.with_value_locked(|v| *v), 42);
        task.join().unwrap();
    });
}

/// A thread outside the pool blocks on the latch.
#[test]
fn a_blocking_waiter_is_woken() {
    loom::model(|| {
        let latch = Arc::new(Latch::new());
        let t = {
            let latch = latch.clone();
            thread::spawn(move || latch.set())
        };
        latch.wait_blocking();
        t.join().unwrap();
        assert!(latch.probe());
    });
}

/// The batch poller: a source (the backend's completion stream) stores items and wakes the
/// waker registered by the last poll that found nothing; wakes go through the run flag, which
/// schedules poll jobs on two executor threads (the pool). Every item must be consumed without a
/// wake being lost (loom reports the executors deadlocked if one is).
#[test]
fn the_run_flag_never_loses_a_wake() {
    struct Source {
        state: Mutex<(usize, bool)>, // items ready, a waker registered
    }
    struct Exec {
        queue: Mutex<(usize, bool)>, // poll jobs queued, finished
        cv: Condvar,
    }
    struct Poller {
        flag: RunFlag,
        source: Source,
        batch: Mutex<usize>, // items consumed; the lock serialises polls as the real mutex does
        exec: Exec,
    }
    const ITEMS: usize = 2;
    impl Poller {
        fn wake(&self) {
            if self.flag.request() {
                let mut q = self.exec.queue.lock().unwrap();
                q.0 += 1;
                drop(q);
                self.exec.cv.notify_one();
            }
        }
        fn poll(&self) {
            self.flag.begin();
            let mut consumed = self.batch.lock().unwrap();
            loop {
                let mut s = self.source.state.lock().unwrap();
                if s.0 > 0 {
                    s.0 -= 1;
                    drop(s);
                    *consumed += 1;
                    if *consumed == ITEMS {
                        let mut q = self.exec.queue.lock().unwrap();
                        q.1 = true;
                        drop(q);
                        self.exec.cv.notify_all();
                        return;
                    }
                } else {
                    s.1 = true; // register the waker, then return Pending
                    return;
                }
            }
        }
    }
    builder(4).check(|| {
        let p = Arc::new(Poller {
            flag: RunFlag::new(),
            source: Source { state: Mutex::new((0, false)) },
            batch: Mutex::new(0),
            exec: Exec { queue: Mutex::new((0, false)), cv: Condvar::new() },
        });
        let executors: Vec<_> = (0..2)
            .map(|_| {
                let p = p.clone();
                thread::spawn(move || {
                    loop {
                        let mut q = p.exec.queue.lock().unwrap();
                        while q.0 == 0 && !q.1 {
                            q = p.exec.cv.wait(q).unwrap();
                        }
                        if q.0 == 0 {
                            return; // finished
                        }
                        q.0 -= 1;
                        drop(q);
                        p.poll();
                    }
                })
            })
            .collect();
        // The first poll, as `submit` does.
        p.wake();
        // The backend completes the items.
        for _ in 0..ITEMS {
            let mut s = p.source.state.lock().unwrap();
            s.0 += 1;
            let registered = std::mem::take(&mut s.1);
            drop(s);
            if registered {
                p.wake();
            }
        }
        for e in executors {
            e.join().unwrap();
        }
        assert_eq!(*p.batch.lock().unwrap(), ITEMS);
    });
}
