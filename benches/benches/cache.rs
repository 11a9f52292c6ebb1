//! A fresh `#[cache]` hit against the well-kept concurrent caches' `get`, in one run:
//! `Cache::get` by hand and the attribute's fresh hit, next to quick_cache's and moka's
//! `get`, all with `String` keys (64 of them, every one present), one thread, then two
//! threads sharing one instance, through the same harness as the `overhead` suite.
//!
//! ```text
//! cargo bench -p resilience-bench --bench cache
//! ```

use std::hint::black_box;
use std::sync::LazyLock;
use std::time::Duration;

use resilience_bench::batch;
use resilience_bench::cases::{BenchError, Out, Role, case};
use resilience_bench::suite;
use resilience_runtime::cache::Cache;

/// Keys held by every cache.
const KEYS: usize = 64;

static NAMES: LazyLock<Vec<String>> =
    LazyLock::new(|| (0..KEYS).map(|i| format!("sku-{i:05}")).collect());

static OURS: LazyLock<Cache> = LazyLock::new(|| {
    let cache = Cache::builder("bench-cache")
        .ttl(Duration::from_secs(3600))
        .build()
        .expect("valid settings");
    for (i, key) in NAMES.iter().enumerate() {
        let stored: Result<u64, BenchError> = cache.call_blocking(key.clone(), || Ok(i as u64));
        assert!(stored.is_ok());
    }
    cache
});

static QUICK: LazyLock<quick_cache::sync::Cache<String, u64>> = LazyLock::new(|| {
    let cache = quick_cache::sync::Cache::new(10_000);
    for (i, key) in NAMES.iter().enumerate() {
        cache.insert(key.clone(), i as u64);
    }
    cache
});

static MOKA: LazyLock<moka::sync::Cache<String, u64>> = LazyLock::new(|| {
    let cache = moka::sync::Cache::builder()
        .max_capacity(10_000)
        .time_to_live(Duration::from_secs(3600))
        .build();
    for (i, key) in NAMES.iter().enumerate() {
        cache.insert(key.clone(), i as u64);
    }
    cache
});

fn key(i: u64) -> &'static String {
    &NAMES[(i % KEYS as u64) as usize]
}

fn found(v: Option<u64>) -> Out {
    v.map(black_box).ok_or(BenchError::Anchor)
}

fn ours_get(i: u64) -> Out {
    found(OURS.get::<String, u64>(key(i)))
}

fn quick_cache_get(i: u64) -> Out {
    found(QUICK.get(key(i)))
}

fn moka_get(i: u64) -> Out {
    found(MOKA.get(key(i)))
}

/// The attribute, keyed by a `u64` (a `String` key expression would allocate its own
/// copy per call): the whole generated call path of a fresh hit.
#[resilience_runtime::cache(key = id, ttl = "1h", name = "bench-cache-attr")]
fn attribute_hit(id: u64) -> Result<u64, BenchError> {
    Ok(black_box(id))
}

fn main() {
    use Role::{Anchor, Ours};
    let cases = [
        case(
            "cache (fresh hit)",
            "hand_cache_get",
            "Cache::get (String key)",
            Ours,
            batch!(sync, |i| ours_get(i)),
        ),
        case(
            "cache (fresh hit)",
            "attr_cache_hit",
            "#[cache] fresh hit (u64 key)",
            Ours,
            batch!(sync, |i| attribute_hit(i % KEYS as u64)),
        ),
        case(
            "cache (fresh hit)",
            "hand_quick_cache_get",
            "quick_cache sync::Cache::get (String key)",
            Anchor,
            batch!(sync, |i| quick_cache_get(i)),
        ),
        case(
            "cache (fresh hit)",
            "hand_moka_get",
            "moka sync::Cache::get (String key)",
            Anchor,
            batch!(sync, |i| moka_get(i)),
        ),
    ]
    .map(|c| c.shared());
    suite::run(&cases);
}
