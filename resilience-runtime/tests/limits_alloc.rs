//! The hot paths of the bulkhead and the rate limiters make no heap allocation: a
//! global allocator counts allocations made by this thread while counting is on.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use resilience_runtime::bulkhead::Adaptive;
use resilience_runtime::rate_limit::{KeyedRateLimiter, Rate, RateLimiter};
use resilience_runtime::{Bulkhead, Rejection};

struct Counting;

thread_local! {
    /// Whether this thread counts its allocations now.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// This thread's count (per thread: tests run on parallel threads).
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get) - before
}

/// Polls a future that completes at once.
fn ready<F: Future>(fut: F) -> F::Output {
    match pin!(fut).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("did not complete at once"),
    }
}

#[test]
fn the_counter_sees_allocations() {
    assert_eq!(allocations(|| drop(std::hint::black_box(Box::new(1)))), 1);
}

#[test]
fn a_free_bulkhead_slot_allocates_nothing() {
    let bh = Bulkhead::builder("alloc-bh")
        .max_concurrent(4)
        .build()
        .unwrap();
    let n = allocations(|| {
        for i in 0..1_000u32 {
            let r: Result<u32, Rejection> = ready(bh.call(async move { Ok(i) }));
            assert_eq!(r, Ok(i));
            let r: Result<u32, Rejection> = bh.call_blocking(|| Ok(i));
            assert_eq!(r, Ok(i));
            drop(bh.try_acquire().unwrap());
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn an_adaptive_bulkhead_slot_allocates_nothing() {
    let bh = Bulkhead::builder("alloc-adaptive")
        .adaptive(Adaptive::new(4, 1, 8))
        .build()
        .unwrap();
    let n = allocations(|| {
        for i in 0..1_000u32 {
            let r: Result<u32, Rejection> = ready(bh.call(async move { Ok(i) }));
            assert_eq!(r, Ok(i));
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn an_admitted_rate_limited_call_allocates_nothing() {
    let l = RateLimiter::builder("alloc-rl")
        .rate(Rate::per_second(1_000_000_000))
        .build()
        .unwrap();
    let n = allocations(|| {
        for i in 0..1_000u32 {
            l.check().unwrap();
            let r: Result<u32, Rejection> = ready(l.call(async move { Ok(i) }));
            assert_eq!(r, Ok(i));
            assert_eq!(l.call_blocking(|| Ok::<_, Rejection>(i)), Ok(i));
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn an_admitted_keyed_call_with_a_held_key_allocates_nothing() {
    let l = KeyedRateLimiter::builder("alloc-keyed")
        .rate(Rate::per_second(1_000_000_000))
        .build()
        .unwrap();
    for k in 0..16u64 {
        l.check(&k).unwrap();
    }
    l.check(&"tenant").unwrap();
    let n = allocations(|| {
        for i in 0..1_000u64 {
            l.check(&(i % 16)).unwrap();
            l.check(&"tenant").unwrap();
            let r: Result<u64, Rejection> = ready(l.call(i % 16, async move { Ok(i) }));
            assert_eq!(r, Ok(i));
            assert_eq!(l.call_blocking(i % 16, || Ok::<_, Rejection>(i)), Ok(i));
        }
    });
    assert_eq!(n, 0);
}
