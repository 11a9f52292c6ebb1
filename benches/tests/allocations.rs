//! Every hot path of ours makes no heap allocation: the success path of each attribute
//! (closed breaker, free bulkhead slot, admitted rate-limit call, ...), counted by a
//! global allocator that counts.

use resilience_bench::alloc::{CountingAllocator, allocations, allocations_per_call};
use resilience_bench::cases::{CASES, Role};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn the_counter_sees_allocations() {
    let before = allocations();
    let v = std::hint::black_box(vec![1u8; 16]);
    assert!(
        allocations() > before,
        "the counting allocator is not installed"
    );
    drop(v);
}

#[test]
fn no_hot_path_of_ours_allocates() {
    let ours: Vec<_> = CASES.iter().filter(|c| c.role == Role::Ours).collect();
    assert!(ours.len() >= 6, "every attribute has a case");
    let allocating: Vec<_> = ours
        .iter()
        .map(|c| (c.id, allocations_per_call(c, 2_000)))
        .filter(|(_, per_call)| *per_call > 0.0)
        .collect();
    assert!(
        allocating.is_empty(),
        "allocations per call: {allocating:?}"
    );
}

#[test]
fn a_per_call_allocation_is_counted() {
    // A case that boxes its future on every call shows exactly one allocation per
    // call: the batch's own allocations cancel out.
    let boxed = resilience_bench::cases::case(
        "test",
        "boxes_per_call",
        "boxes per call",
        Role::Anchor,
        resilience_bench::batch!(|i| Box::pin(async move { Ok(std::hint::black_box(i)) })),
    );
    assert_eq!(allocations_per_call(&boxed, 1_000), 1.0);
}
