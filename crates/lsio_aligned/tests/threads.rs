//! Cross-thread behaviour of pooled buffers through the public API: views made on one thread
//! and dropped on another, the pool dropped while other threads still hold its buffers, and
//! several threads getting and returning buffers at once.

use std::sync::mpsc;
use std::thread;

use lsio_aligned::{AlignedBytes, BufferPool, PoolConfig};

fn pool(max_bytes: usize) -> BufferPool {
    BufferPool::new(PoolConfig { alignment: 64, size_classes: vec![256, 1024, 4096], max_bytes }).expect("valid config")
}

#[test]
fn last_view_dropped_on_another_thread_returns_memory() {
    let pool = pool(1 << 20);
    let mut buf = pool.get(1000);
    buf.extend_from_slice(&[3; 1000]);
    let frozen = buf.freeze();
    let (a, b) = (frozen.slice(..500), frozen.slice(500..));
    drop(frozen);
    let bytes = a.into_bytes();
    let arrow = b.into_arrow_buffer();
    let t1 = thread::spawn(move || bytes.iter().map(|&x| u64::from(x)).sum::<u64>());
    let t2 = thread::spawn(move || arrow.as_slice().len());
    assert_eq!(t1.join().unwrap(), 1500);
    assert_eq!(t2.join().unwrap(), 500);
    let s = pool.stats();
    assert_eq!(s.returned, 1);
    assert_eq!(s.idle_bytes, 1024);
}

#[test]
fn pool_dropped_while_other_threads_hold_buffers() {
    let pool = pool(1 << 20);
    let (tx, rx) = mpsc::channel::<AlignedBytes>();
    let consumer = thread::spawn(move || {
        let mut total = 0usize;
        for b in rx {
            assert!(b.iter().all(|&x| x == b[0]));
            total += b.len();
        }
        total
    });
    for i in 0..20u8 {
        let mut buf = pool.get(200 + usize::from(i) * 100);
        buf.extend_from_slice(&[i; 200]);
        tx.send(buf.freeze()).unwrap();
    }
    drop(pool); // buffers still in flight are freed (not returned) when the consumer drops them
    drop(tx);
    assert_eq!(consumer.join().unwrap(), 20 * 200);
}

#[test]
fn producers_and_consumers_share_a_pool() {
    let pool = pool(16 * 1024);
    let (tx, rx) = mpsc::sync_channel::<AlignedBytes>(8);
    let producers: Vec<_> = (0..2u8)
        .map(|p| {
            let pool = pool.clone();
            let tx = tx.clone();
            thread::spawn(move || {
                for i in 0..300usize {
                    let len = (i * 131 + usize::from(p) * 17) % 5000;
                    let mut buf = pool.get(len);
                    let fill = (i % 200) as u8 + p;
                    let spare = buf.spare_capacity_mut();
                    for slot in &mut spare[..len] {
                        slot.write(fill);
                    }
                    // SAFETY: the first `len` bytes were just written.
                    unsafe { buf.set_len(len) };
                    let frozen = buf.freeze();
                    let half = frozen.slice(len / 2..);
                    drop(frozen);
                    tx.send(half).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let mut received = 0;
    for b in rx {
        if let Some(&first) = b.first() {
            assert!(b.iter().all(|&x| x == first));
        }
        received += 1;
    }
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(received, 600);
    let s = pool.stats();
    let pooled = s.hits + s.misses;
    assert_eq!(pooled + s.oversize, 600);
    assert_eq!(s.returned + s.discarded, pooled);
    assert!(s.idle_bytes <= 16 * 1024);
}
