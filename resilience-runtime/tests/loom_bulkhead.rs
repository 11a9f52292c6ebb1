//! Loom models of the bulkhead's slot and waiter accounting: every interleaving of two
//! threads (a slot holder and a waiter) keeps the counts exact, hands a released slot
//! to the waiter without losing its wake-up, and lets a cancelled waiter leave
//! without losing or creating a slot.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p resilience-runtime --test loom_bulkhead --release`
#![cfg(loom)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use loom::thread;
use resilience_runtime::{Bulkhead, Rejection};

/// A bulkhead of `n` slots whose callers wait without a deadline (no timer: tokio is
/// not loom-aware, and the wait's bookkeeping is what is modelled).
fn bulkhead(n: usize) -> Bulkhead {
    Bulkhead::builder("loom")
        .max_concurrent(n)
        .max_wait(Duration::MAX)
        .build()
        .unwrap()
}

fn assert_idle(bh: &Bulkhead, n: usize) {
    let m = bh.metrics();
    assert_eq!((m.in_flight, m.waiting), (0, 0));
    // Exactly n slots are left: none lost, none created.
    let held: Vec<_> = (0..n).map(|_| bh.try_acquire().unwrap()).collect();
    assert!(bh.try_acquire().is_err());
    drop(held);
}

#[test]
fn a_released_slot_reaches_the_waiter() {
    loom::model(|| {
        let bh = bulkhead(1);
        let permit = bh.try_acquire().unwrap();
        let waiter = {
            let bh = bh.clone();
            thread::spawn(move || {
                loom::future::block_on(async {
                    let p = bh.acquire().await.unwrap();
                    drop(p);
                })
            })
        };
        drop(permit);
        waiter.join().unwrap();
        assert_idle(&bh, 1);
    });
}

#[test]
fn two_callers_never_share_one_slot() {
    loom::model(|| {
        let bh = bulkhead(1);
        let inside = loom::sync::Arc::new(loom::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (bh, inside) = (bh.clone(), inside.clone());
                thread::spawn(move || {
                    use loom::sync::atomic::Ordering::SeqCst;
                    let r: Result<(), Rejection> = loom::future::block_on(bh.call(async {
                        assert_eq!(inside.fetch_add(1, SeqCst), 0, "two calls in one slot");
                        inside.fetch_sub(1, SeqCst);
                        Ok(())
                    }));
                    r.unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_idle(&bh, 1);
    });
}

#[test]
fn a_cancelled_waiter_neither_loses_nor_creates_a_slot() {
    loom::model(|| {
        let bh = bulkhead(1);
        let permit = bh.try_acquire().unwrap();
        let canceller = {
            let bh = bh.clone();
            thread::spawn(move || {
                // Enter the line (or take the slot if already free), then give up.
                let mut acquire = pin!(bh.acquire());
                let polled = acquire
                    .as_mut()
                    .poll(&mut Context::from_waker(Waker::noop()));
                if let Poll::Ready(p) = polled {
                    drop(p.unwrap());
                }
            })
        };
        drop(permit);
        canceller.join().unwrap();
        assert_idle(&bh, 1);
    });
}

#[test]
fn a_waiter_cancelled_as_the_slot_is_handed_over_passes_it_on() {
    use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
    loom::model(|| {
        let bh = bulkhead(1);
        let permit = bh.try_acquire().unwrap();
        let queued = loom::sync::Arc::new(AtomicBool::new(false));
        let waiter = {
            let (bh, queued) = (bh.clone(), queued.clone());
            thread::spawn(move || {
                let mut acquire = Box::pin(bh.acquire());
                let polled = acquire
                    .as_mut()
                    .poll(&mut Context::from_waker(Waker::noop()));
                assert!(polled.is_pending(), "the slot is held: it must queue");
                queued.store(true, SeqCst);
                // Cancelled, perhaps just after the slot was handed to it.
                drop(acquire);
            })
        };
        while !queued.load(SeqCst) {
            thread::yield_now();
        }
        drop(permit);
        waiter.join().unwrap();
        assert_idle(&bh, 1);
    });
}

#[test]
fn close_sends_the_waiter_away() {
    loom::model(|| {
        let bh = bulkhead(1);
        let permit = bh.try_acquire().unwrap();
        let waiter = {
            let bh = bh.clone();
            thread::spawn(move || loom::future::block_on(bh.acquire()).map(drop))
        };
        bh.close();
        let r = waiter.join().unwrap();
        assert!(matches!(r, Err(Rejection::ShuttingDown { .. })));
        drop(permit);
        let m = bh.metrics();
        assert_eq!((m.in_flight, m.waiting, m.closed), (0, 0, true));
    });
}
