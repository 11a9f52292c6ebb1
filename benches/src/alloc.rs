//! Counting allocations per call.
//!
//! A binary that wants the counts installs [`CountingAllocator`] as its global
//! allocator; [`allocations_per_call`] then tells how many heap allocations one call of
//! a case makes in the steady state.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use crate::cases::Case;
use crate::harness::time_one;

thread_local! {
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting the allocations (and reallocations) of each thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAllocator;

#[inline]
fn bump() {
    let _ = COUNT.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to `System` with the same arguments.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: as the caller promised for `alloc`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: as the caller promised for `alloc_zeroed`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: as the caller promised for `realloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as the caller promised for `dealloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations made so far on this thread (0 unless [`CountingAllocator`] is the
/// global allocator).
pub fn allocations() -> u64 {
    COUNT.try_with(Cell::get).unwrap_or(0)
}

/// Heap allocations per call of `case` in the steady state: after a warm-up, a batch
/// of `calls` and one of `2 × calls` are counted; their difference over `calls` is the
/// per-call figure, whatever a batch costs once (its own box, entering the runtime).
pub fn allocations_per_call(case: &Case, calls: u64) -> f64 {
    time_one(case.make, 1_000);
    let before = allocations();
    time_one(case.make, calls);
    let once = allocations() - before;
    let before = allocations();
    time_one(case.make, 2 * calls);
    let twice = allocations() - before;
    twice.saturating_sub(once) as f64 / calls as f64
}
