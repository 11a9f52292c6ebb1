//! The closed breaker's call path makes no heap allocation: a counting global
//! allocator watches every call, async and blocking, for each kind of window.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use resilience_runtime::circuit_breaker::Window;
use resilience_runtime::{CircuitBreaker, CircuitState, KeyedCircuitBreaker, Rejection};

struct Counting;

thread_local! {
    // Per thread, so tests running in parallel do not see each other's allocations.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

/// Runs a future that never waits to completion, without a runtime.
fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the future waited"),
    }
}

#[derive(Debug)]
enum Error {
    Down,
    #[allow(dead_code)]
    Rejected(Rejection),
}

impl From<Rejection> for Error {
    fn from(r: Rejection) -> Self {
        Error::Rejected(r)
    }
}

/// 1 000 calls, one in `fail_every` failing (0: none), async and blocking in turn.
fn calls(b: &CircuitBreaker, fail_every: usize) {
    for i in 0..1_000 {
        let failed = fail_every != 0 && i % fail_every == 0;
        let outcome = move || if failed { Err(Error::Down) } else { Ok(i) };
        if i % 2 == 0 {
            let _ = b.call_blocking(outcome);
        } else {
            let _ = run(b.call(async move { outcome() }));
        }
    }
}

fn check(name: &str, builder: resilience_runtime::circuit_breaker::CircuitBreakerBuilder) {
    let b = builder.failure_rate(0.9).build().unwrap();
    calls(&b, 0); // warm up: fill the window
    assert_eq!(allocations_in(|| calls(&b, 0)), 0, "{name}: successes");
    assert_eq!(allocations_in(|| calls(&b, 10)), 0, "{name}: some failures");
    assert_eq!(b.state(), CircuitState::Closed, "{name}");
}

#[test]
fn closed_calls_allocate_nothing() {
    // The counter sees allocations.
    assert_eq!(
        allocations_in(|| drop(std::hint::black_box(Box::new(1)))),
        1
    );
    check("count(100)", CircuitBreaker::builder("alloc-default"));
    check(
        "consecutive",
        CircuitBreaker::builder("alloc-streak").consecutive_failures(5),
    );
    check(
        "time window",
        CircuitBreaker::builder("alloc-time").window(Window::Time(Duration::from_secs(60))),
    );
    check(
        "slow calls",
        CircuitBreaker::builder("alloc-slow").slow_call(Duration::from_secs(1)),
    );
}

#[test]
fn rejections_of_a_static_name_allocate_nothing() {
    let b = CircuitBreaker::builder("alloc-open").build().unwrap();
    b.force_open();
    let n = allocations_in(|| {
        for _ in 0..100 {
            assert!(b.call_blocking(|| Ok::<_, Error>(())).is_err());
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn keyed_calls_on_a_known_key_allocate_nothing() {
    let keyed = KeyedCircuitBreaker::new(CircuitBreaker::builder("alloc-keyed"), 100).unwrap();
    for k in 0..10u64 {
        keyed.call_blocking(k, || Ok::<_, Error>(())).unwrap();
    }
    let n = allocations_in(|| {
        for i in 0..1_000u64 {
            keyed.call_blocking(i % 10, || Ok::<_, Error>(())).unwrap();
        }
    });
    assert_eq!(n, 0);
}
