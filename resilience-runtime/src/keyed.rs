//! A bounded, type-erased map from keys to shared policy instances, dropping the least
//! recently used key first: the storage behind keyed policies (`key = expr`).
//!
//! # API (stable; used by keyed circuit breakers and keyed rate limiters)
//!
//! ```text
//! pub(crate) struct KeyedMap<V: Clone>;
//! impl<V: Clone> KeyedMap<V> {
//!     fn new(max_keys: usize) -> Self;            // 0 is taken as 1
//!     fn max_keys(&self) -> usize;
//!     fn len(&self) -> usize;
//!     fn get<K: PolicyKey>(&self, key: &K) -> Option<V>;  // counts as a use
//!     fn get_or_insert_with<K: PolicyKey>(&self, key: &K, make: impl FnOnce() -> V) -> V;
//!     fn read<K: PolicyKey, R>(&self, key: &K, f: impl FnOnce(&V) -> R) -> Option<R>; // shared, a use
//!     fn read_or_insert<K: PolicyKey, R>(&self, key: &K, make: impl FnOnce() -> V, f: impl FnOnce(&V) -> R) -> R;
//!     fn with<K: PolicyKey, R>(&self, key: &K, f: impl FnOnce(&mut V) -> R) -> Option<R>; // in place, a use
//!     fn with_or_insert<K: PolicyKey, R>(&self, key: &K, make: impl FnOnce() -> V, f: impl FnOnce(&mut V) -> R) -> R;
//!     fn remove_if<K: PolicyKey>(&self, key: &K, remove: impl FnOnce(&V) -> bool) -> bool;
//!     fn values(&self) -> Vec<V>;                   // every held value, no order
//!     fn clear(&self);
//! }
//! // PolicyKey = Hash + Eq + Clone + Send + Sync + 'static
//! ```
//!
//! The map is not generic over the key type, so a `static` (which cannot name the
//! type of a `key = expr` expression) can hold one: keys are stored as
//! `Box<dyn Any + Send + Sync>` next to their hash, and compared by downcasting. A key
//! of another type than the stored one is simply a different key.
//!
//! # Costs
//!
//! - A look-up of a present key hashes it once, reads one of [`SHARDS`] shards
//!   (chosen by the hash; each shard on cache lines of its own), compares, and makes
//!   no heap allocation. `get` and `get_or_insert_with` clone the value; `read` and
//!   `read_or_insert` lend it to a closure instead, so a value behind an `Arc` costs
//!   no reference-count write.
//! - Reading writes no memory another thread writes: each thread marks its reads in
//!   a line of its own (its counting stripe's, see `stats`), and a writer of the shard
//!   waits for the marks to clear. So threads that share a hot key do not bounce a
//!   lock word between their cores, and none waits for another. `with` and
//!   `with_or_insert` (the value `&mut`) and every insertion and removal are writers:
//!   they take the shard's mutex and wait for its readers (those of the threads that
//!   have read this map, at most one per stripe). A thread without a stripe, and a
//!   reader that meets a writer, read under the shard's mutex instead.
//! - Recency is a stamp per entry taken from one map-wide counter. A look-up writes
//!   that counter only when its entry is not already among the most recent stamps
//!   (within `max_keys / 64` of the newest), so a thread that keeps using the same few
//!   keys does not write shared memory at all. For `max_keys < 64` the order is exact;
//!   above that, keys used within the last `max_keys / 64` stamps may be ordered among
//!   themselves arbitrarily, which never drops a key used more recently than one kept
//!   outside that window.
//! - Inserting a new key allocates (the boxed key, the shard's slot). When the map is
//!   full, the entry with the oldest stamp is dropped. Finding it scans the map once
//!   per `max(1, max_keys / 16)` evictions (capped at 1024): the scan keeps that many
//!   oldest entries as candidates, and a candidate is dropped only if it was not used
//!   since, which makes each drop the true least recently used entry.
//! - Concurrent inserts of new keys may hold the map above `max_keys` by at most the
//!   number of threads inserting at that instant, until each has dropped its extra key.
//!
//! `make` runs under the shard's lock, so two threads that ask for the same new key at
//! once get the same value; it must be short and must not touch the same map. The
//! closures of `read`, `with` and their `_or_insert` forms also run under the shard's
//! lock: the same holds for them (a writer would wait for the reader it runs in).

use std::any::{Any, TypeId};
use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};

/// Keys are hashed with foldhash (hashbrown's default), seeded per map: several times
/// faster than SipHash on short strings, which a cache's fresh hit pays on every call.
type RandomState = foldhash::fast::RandomState;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// What a key of a keyed policy (`key = expr`) must be: hashable, comparable,
/// clonable, shareable across threads and owned. Implemented for every
/// `Hash + Eq + Clone + Send + Sync + 'static` type; its methods are the map's access
/// to those traits, so that a type that is not a key is reported once, as such.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the key of a keyed policy",
    label = "a key must be `Hash + Eq + Clone + Send + Sync + 'static`",
    note = "give an owned, hashable value, e.g. `key = tenant.to_string()`, `key = region.id` or `key = price.to_bits()`"
)]
pub trait PolicyKey: Send + Sync + 'static {
    #[doc(hidden)]
    fn hash_key<H: Hasher>(&self, state: &mut H);
    #[doc(hidden)]
    fn eq_key(&self, other: &Self) -> bool;
    #[doc(hidden)]
    fn clone_key(&self) -> Self
    where
        Self: Sized;
}

#[diagnostic::do_not_recommend]
impl<K: Hash + Eq + Clone + Send + Sync + 'static> PolicyKey for K {
    #[inline]
    fn hash_key<H: Hasher>(&self, state: &mut H) {
        self.hash(state);
    }
    #[inline]
    fn eq_key(&self, other: &Self) -> bool {
        self == other
    }
    #[inline]
    fn clone_key(&self) -> Self {
        self.clone()
    }
}

/// Hashes a key through [`PolicyKey`].
struct KeyHash<'a, K>(&'a K);

impl<K: PolicyKey> Hash for KeyHash<'_, K> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash_key(state);
    }
}

/// How many keys a keyed policy holds unless told otherwise (`max_keys`).
pub const DEFAULT_MAX_KEYS: usize = 10_000;

/// Number of independently locked parts of a map.
pub(crate) const SHARDS: usize = 16;

/// A bounded map from keys of any one type to shared values; see the module docs.
pub(crate) struct KeyedMap<V: Clone> {
    shards: [Padded<ShardCell<V>>; SHARDS],
    /// Per counting stripe (one thread at a time), the reads it holds of each shard.
    readers: Box<[Padded<[AtomicU32; SHARDS]>]>,
    /// One more than the highest stripe that has read: writers wait for these only.
    read_stripes: AtomicUsize,
    hasher: RandomState,
    max_keys: usize,
    /// Look-ups may skip refreshing an entry whose stamp is within this of the newest.
    slack: u64,
    len: AtomicUsize,
    /// The newest recency stamp handed out.
    stamp: AtomicU64,
    eviction: Mutex<Vec<Candidate>>,
}

/// Keeps a shard's lock word away from the other shards' (128 bytes: two lines, since
/// the adjacent-line prefetcher pairs them), so threads on different shards do not
/// write each other's lines.
#[repr(align(128))]
struct Padded<T>(T);

/// One shard's entries and what guards them: a writer holds `lock` with `writing`
/// set, once every fast reader has left (see the module docs).
struct ShardCell<V> {
    /// Held by a writer, and by a reader that does not take the fast path.
    lock: Mutex<()>,
    /// A writer holds `lock` and is waiting for readers, or writing.
    writing: AtomicBool,
    entries: UnsafeCell<Shard<V>>,
}

// SAFETY: `entries` is reached only through `ReadGuard` (shared, by several threads at
// once: `V: Sync`) and `WriteGuard` (exclusive, from any thread: `V: Send`); see their
// constructors for why no reader overlaps a writer.
unsafe impl<V: Send + Sync> Sync for ShardCell<V> {}
unsafe impl<V: Send> Send for ShardCell<V> {}

/// Shared access to one shard's entries.
enum ReadGuard<'a, V> {
    /// Marked in this thread's stripe; no writer runs until the mark is cleared.
    Fast {
        shard: &'a ShardCell<V>,
        mark: &'a AtomicU32,
    },
    /// Under the shard's mutex, which writers hold.
    Locked {
        shard: &'a ShardCell<V>,
        _lock: MutexGuard<'a, ()>,
    },
}

impl<V> std::ops::Deref for ReadGuard<'_, V> {
    type Target = Shard<V>;
    #[inline]
    fn deref(&self) -> &Shard<V> {
        let (ReadGuard::Fast { shard, .. } | ReadGuard::Locked { shard, .. }) = self;
        // SAFETY: no writer runs while this guard lives (see `KeyedMap::read_shard`).
        unsafe { &*shard.entries.get() }
    }
}

impl<V> Drop for ReadGuard<'_, V> {
    #[inline]
    fn drop(&mut self) {
        if let ReadGuard::Fast { mark, .. } = self {
            // Only this thread writes its mark; the release orders the reads before it.
            mark.store(mark.load(Ordering::Relaxed) - 1, Ordering::Release);
        }
    }
}

/// Exclusive access to one shard's entries.
struct WriteGuard<'a, V> {
    shard: &'a ShardCell<V>,
    _lock: MutexGuard<'a, ()>,
}

impl<V> std::ops::Deref for WriteGuard<'_, V> {
    type Target = Shard<V>;
    fn deref(&self) -> &Shard<V> {
        // SAFETY: the writer is alone (see `KeyedMap::write_shard`).
        unsafe { &*self.shard.entries.get() }
    }
}

impl<V> std::ops::DerefMut for WriteGuard<'_, V> {
    fn deref_mut(&mut self) -> &mut Shard<V> {
        // SAFETY: the writer is alone (see `KeyedMap::write_shard`).
        unsafe { &mut *self.shard.entries.get() }
    }
}

impl<V> Drop for WriteGuard<'_, V> {
    fn drop(&mut self) {
        // Before the mutex is let go (fields drop after this); the release publishes
        // the writes to the fast readers that see it.
        self.shard.writing.store(false, Ordering::Release);
    }
}

/// One shard: entries by full hash (hashed again by identity), collisions in a `Vec`.
type Shard<V> = HashMap<u64, Slot<V>, BuildHasherDefault<IdentityHasher>>;

/// The entries of one full hash: nearly always one, held in place (a look-up follows
/// no pointer to reach it); two keys only when their 64-bit hashes collide.
enum Slot<V> {
    One(Entry<V>),
    /// Empty (no allocation) or colliding keys.
    Many(Vec<Entry<V>>),
}

impl<V> Default for Slot<V> {
    fn default() -> Self {
        Slot::Many(Vec::new())
    }
}

impl<V> std::ops::Deref for Slot<V> {
    type Target = [Entry<V>];
    #[inline]
    fn deref(&self) -> &[Entry<V>] {
        match self {
            Slot::One(entry) => std::slice::from_ref(entry),
            Slot::Many(entries) => entries,
        }
    }
}

impl<V> std::ops::DerefMut for Slot<V> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [Entry<V>] {
        match self {
            Slot::One(entry) => std::slice::from_mut(entry),
            Slot::Many(entries) => entries,
        }
    }
}

impl<V> Slot<V> {
    fn push(&mut self, entry: Entry<V>) {
        *self = match std::mem::take(self) {
            Slot::Many(entries) if entries.is_empty() => Slot::One(entry),
            Slot::One(first) => Slot::Many(vec![first, entry]),
            Slot::Many(mut entries) => {
                entries.push(entry);
                Slot::Many(entries)
            }
        };
    }

    /// Removes the `i`th entry (the last takes its place).
    fn swap_remove(&mut self, i: usize) {
        match self {
            Slot::One(_) => *self = Slot::default(),
            Slot::Many(entries) => {
                entries.swap_remove(i);
            }
        }
    }
}

struct Entry<V> {
    key: Box<dyn Any + Send + Sync>,
    /// `key`'s type, compared without a call through `key`'s vtable.
    key_type: TypeId,
    value: V,
    /// Unique for the map's life: the stamp the entry was inserted with.
    id: u64,
    last_used: AtomicU64,
}

impl<V> Entry<V> {
    /// The entry's key, if it is a `K`.
    #[inline]
    fn key_as<K: 'static>(&self) -> Option<&K> {
        if self.key_type != TypeId::of::<K>() {
            return None;
        }
        let key: *const (dyn Any + Send + Sync) = &*self.key;
        // SAFETY: `key` was boxed from a `K`, as `key_type` says.
        Some(unsafe { &*key.cast::<K>() })
    }
}

/// An entry that was among the oldest at the last scan.
#[derive(Clone, Copy)]
struct Candidate {
    hash: u64,
    id: u64,
    last_used: u64,
}

impl<V: Clone> KeyedMap<V> {
    /// An empty map holding at most `max_keys` keys (0 is taken as 1).
    pub(crate) fn new(max_keys: usize) -> Self {
        let max_keys = max_keys.max(1);
        KeyedMap {
            shards: std::array::from_fn(|_| {
                Padded(ShardCell {
                    lock: Mutex::new(()),
                    writing: AtomicBool::new(false),
                    entries: UnsafeCell::new(HashMap::default()),
                })
            }),
            readers: (0..reader_stripes())
                .map(|_| Padded(std::array::from_fn(|_| AtomicU32::new(0))))
                .collect(),
            read_stripes: AtomicUsize::new(0),
            hasher: RandomState::default(),
            max_keys,
            slack: (max_keys / 64) as u64,
            len: AtomicUsize::new(0),
            stamp: AtomicU64::new(0),
            eviction: Mutex::new(Vec::new()),
        }
    }

    /// The most keys held at once.
    pub(crate) fn max_keys(&self) -> usize {
        self.max_keys
    }

    /// Keys held now.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// The value held for `key`, if any; counts as a use of the key.
    pub(crate) fn get<K: PolicyKey>(&self, key: &K) -> Option<V> {
        self.read(key, V::clone)
    }

    /// The value held for `key`, or the one `make` builds, inserted now (dropping the
    /// least recently used key if the map is full).
    pub(crate) fn get_or_insert_with<K: PolicyKey>(&self, key: &K, make: impl FnOnce() -> V) -> V {
        self.read_or_insert(key, make, V::clone)
    }

    /// Runs `f` on the value held for `key`, under its shard's read lock (threads on
    /// the same key run it at once), if there is one; counts as a use. Nothing is
    /// cloned.
    #[inline]
    pub(crate) fn read<K: PolicyKey, R>(&self, key: &K, f: impl FnOnce(&V) -> R) -> Option<R> {
        let hash = self.hasher.hash_one(KeyHash(key));
        let shard = self.read_shard(hash);
        let entry = find(&shard, hash, key)?;
        self.touch(entry);
        Some(f(&entry.value))
    }

    /// Runs `f` on the value held for `key`, inserting `make()` first when there is
    /// none (dropping the least recently used key if the map is full); counts as a
    /// use. A present key is read under the shard's read lock, as [`read`](Self::read).
    #[inline]
    pub(crate) fn read_or_insert<K: PolicyKey, R>(
        &self,
        key: &K,
        make: impl FnOnce() -> V,
        f: impl FnOnce(&V) -> R,
    ) -> R {
        let hash = self.hasher.hash_one(KeyHash(key));
        {
            let shard = self.read_shard(hash);
            if let Some(entry) = find(&shard, hash, key) {
                self.touch(entry);
                return f(&entry.value);
            }
        }
        self.insert_then(hash, key, make, |value| f(value))
    }

    /// The slow path of [`read_or_insert`](Self::read_or_insert) and
    /// [`with_or_insert`](Self::with_or_insert): under the write lock, `key` again
    /// (another thread may have inserted it since the read), else `make()` inserted.
    #[cold]
    #[inline(never)]
    fn insert_then<K: PolicyKey, R>(
        &self,
        hash: u64,
        key: &K,
        make: impl FnOnce() -> V,
        f: impl FnOnce(&mut V) -> R,
    ) -> R {
        let result = {
            let mut shard = self.write_shard(hash);
            if let Some(entry) = find_mut(&mut shard, hash, key) {
                self.touch(entry);
                return f(&mut entry.value);
            }
            let id = self.stamp.fetch_add(1, Ordering::Relaxed) + 1;
            let mut value = make();
            let result = f(&mut value);
            shard.entry(hash).or_default().push(Entry {
                key: Box::new(key.clone_key()),
                key_type: TypeId::of::<K>(),
                value,
                id,
                last_used: AtomicU64::new(id),
            });
            result
        };
        if self.len.fetch_add(1, Ordering::Relaxed) >= self.max_keys {
            self.evict_one();
        }
        result
    }

    /// Runs `f` on the value held for `key`, under its shard's lock, if there is one;
    /// counts as a use. Nothing is cloned: a cache answers from the entry in place.
    #[inline]
    pub(crate) fn with<K: PolicyKey, R>(&self, key: &K, f: impl FnOnce(&mut V) -> R) -> Option<R> {
        let hash = self.hasher.hash_one(KeyHash(key));
        let mut shard = self.write_shard(hash);
        let entry = find_mut(&mut shard, hash, key)?;
        self.touch(entry);
        Some(f(&mut entry.value))
    }

    /// Runs `f` on the value held for `key`, inserting `make()` first when there is
    /// none (dropping the least recently used key if the map is full), under the
    /// shard's lock; counts as a use.
    pub(crate) fn with_or_insert<K: PolicyKey, R>(
        &self,
        key: &K,
        make: impl FnOnce() -> V,
        f: impl FnOnce(&mut V) -> R,
    ) -> R {
        let hash = self.hasher.hash_one(KeyHash(key));
        {
            let mut shard = self.write_shard(hash);
            if let Some(entry) = find_mut(&mut shard, hash, key) {
                self.touch(entry);
                return f(&mut entry.value);
            }
        }
        self.insert_then(hash, key, make, f)
    }

    /// Drops `key` if it is held and `remove(value)` says so; true when dropped.
    pub(crate) fn remove_if<K: PolicyKey>(&self, key: &K, remove: impl FnOnce(&V) -> bool) -> bool {
        let hash = self.hasher.hash_one(KeyHash(key));
        let mut shard = self.write_shard(hash);
        let Some(slot) = shard.get_mut(&hash) else {
            return false;
        };
        let Some(i) = slot
            .iter()
            .position(|e| e.key_as::<K>().is_some_and(|k| k.eq_key(key)))
        else {
            return false;
        };
        if !remove(&slot[i].value) {
            return false;
        }
        slot.swap_remove(i);
        if slot.is_empty() {
            shard.remove(&hash);
        }
        self.len.fetch_sub(1, Ordering::Relaxed);
        true
    }

    /// Every value held, in no particular order.
    pub(crate) fn values(&self) -> Vec<V> {
        let mut values = Vec::with_capacity(self.len());
        for shard in &self.shards {
            let shard = locked_read(&shard.0);
            values.extend(
                shard
                    .values()
                    .flat_map(|s| s.iter())
                    .map(|e| e.value.clone()),
            );
        }
        values
    }

    /// Drops every key.
    pub(crate) fn clear(&self) {
        let mut candidates = lock(&self.eviction);
        candidates.clear();
        for i in 0..SHARDS {
            let mut shard = self.write_index(i);
            let n: usize = shard.values().map(|s| s.len()).sum();
            shard.clear();
            self.len.fetch_sub(n, Ordering::Relaxed);
        }
    }

    /// The shard of `hash`. The inner map indexes by the low bits and tags by the top
    /// ones: shard by bits it does not use.
    #[inline]
    fn index_of(hash: u64) -> usize {
        (hash >> 32) as usize % SHARDS
    }

    /// Reads the shard of `hash`: marked in this thread's stripe, without a shared
    /// write, unless a writer holds the shard (or the thread has no stripe); then under
    /// the shard's mutex.
    #[inline]
    fn read_shard(&self, hash: u64) -> ReadGuard<'_, V> {
        let i = Self::index_of(hash);
        let shard = &self.shards[i].0;
        let mut stripe = crate::stats::thread_stripe();
        if stripe >= self.readers.len() {
            stripe = crate::stats::assign_thread_stripe();
        }
        if let Some(marks) = self.readers.get(stripe) {
            // Sequentially consistent (a plain load on x86): a stripe counted by
            // another thread's `fetch_max` and seen here is seen by every writer that
            // could miss this reader's mark.
            if stripe >= self.read_stripes.load(Ordering::SeqCst) {
                self.read_stripes.fetch_max(stripe + 1, Ordering::SeqCst);
            }
            let mark = &marks.0[i];
            let held = mark.load(Ordering::Relaxed);
            // Mark, then look for a writer; a writer sets `writing`, then looks for
            // marks. With both sequentially consistent, at least one sees the other:
            // a reader that sees no writer is seen by every later writer, which waits.
            mark.swap(held + 1, Ordering::SeqCst);
            if !shard.writing.load(Ordering::SeqCst) {
                return ReadGuard::Fast { shard, mark };
            }
            mark.store(held, Ordering::Release);
        }
        locked_read(shard)
    }

    fn write_shard(&self, hash: u64) -> WriteGuard<'_, V> {
        self.write_index(Self::index_of(hash))
    }

    /// Writes shard `i`: its mutex (no other writer, no locked reader), `writing` set
    /// (no new fast reader), then the fast readers' marks awaited.
    fn write_index(&self, i: usize) -> WriteGuard<'_, V> {
        let shard = &self.shards[i].0;
        let lock = lock(&shard.lock);
        shard.writing.swap(true, Ordering::SeqCst);
        let stripes = self.read_stripes.load(Ordering::SeqCst);
        for marks in &self.readers[..stripes.min(self.readers.len())] {
            let mut spins = 0u32;
            // Acquire: the reader's reads happen before this writer's writes.
            while marks.0[i].load(Ordering::SeqCst) != 0 {
                spins += 1;
                if spins < 64 {
                    std::hint::spin_loop();
                } else {
                    // The reader may be descheduled: let it run.
                    std::thread::yield_now();
                }
            }
        }
        WriteGuard { shard, _lock: lock }
    }

    /// Marks `entry` as just used, writing the shared counter only when the entry is
    /// not already among the most recently stamped.
    #[inline]
    fn touch(&self, entry: &Entry<V>) {
        let newest = self.stamp.load(Ordering::Relaxed);
        if newest - entry.last_used.load(Ordering::Relaxed).min(newest) > self.slack {
            let stamp = self.stamp.fetch_add(1, Ordering::Relaxed) + 1;
            entry.last_used.fetch_max(stamp, Ordering::Relaxed);
        }
    }

    /// Drops the least recently used entry.
    #[cold]
    fn evict_one(&self) {
        let mut candidates = lock(&self.eviction);
        // Two passes at most: the first may find every candidate used since the scan.
        for _ in 0..2 {
            // Candidates are sorted newest first, so the oldest pops first.
            while let Some(c) = candidates.pop() {
                let mut shard = self.write_shard(c.hash);
                let Some(slot) = shard.get_mut(&c.hash) else {
                    continue;
                };
                let Some(i) = slot.iter().position(|e| e.id == c.id) else {
                    continue;
                };
                if slot[i].last_used.load(Ordering::Relaxed) != c.last_used {
                    continue; // used since the scan: no longer among the oldest
                }
                slot.swap_remove(i);
                if slot.is_empty() {
                    shard.remove(&c.hash);
                }
                self.len.fetch_sub(1, Ordering::Relaxed);
                return;
            }
            self.scan(&mut candidates);
        }
    }

    /// Refills `candidates` with the oldest entries, newest first.
    fn scan(&self, candidates: &mut Vec<Candidate>) {
        let keep = (self.max_keys / 16).clamp(1, 1024);
        let mut all = Vec::with_capacity(self.len() + SHARDS);
        for shard in &self.shards {
            let shard = locked_read(&shard.0);
            all.extend(shard.iter().flat_map(|(&hash, slot)| {
                slot.iter().map(move |e| Candidate {
                    hash,
                    id: e.id,
                    last_used: e.last_used.load(Ordering::Relaxed),
                })
            }));
        }
        if all.len() > keep {
            all.select_nth_unstable_by_key(keep, |c| c.last_used);
            all.truncate(keep);
        }
        all.sort_unstable_by_key(|c| std::cmp::Reverse(c.last_used));
        *candidates = all;
    }
}

fn find<'a, K: PolicyKey, V>(shard: &'a Shard<V>, hash: u64, key: &K) -> Option<&'a Entry<V>> {
    shard
        .get(&hash)?
        .iter()
        .find(|e| e.key_as::<K>().is_some_and(|k| k.eq_key(key)))
}

fn find_mut<'a, K: PolicyKey, V>(
    shard: &'a mut Shard<V>,
    hash: u64,
    key: &K,
) -> Option<&'a mut Entry<V>> {
    shard
        .get_mut(&hash)?
        .iter_mut()
        .find(|e| e.key_as::<K>().is_some_and(|k| k.eq_key(key)))
}

/// Locks ignoring poisoning: the map's invariants hold between any two statements.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads a shard under its mutex: no writer runs meanwhile (fast readers may).
#[cold]
fn locked_read<V>(shard: &ShardCell<V>) -> ReadGuard<'_, V> {
    ReadGuard::Locked {
        shard,
        _lock: lock(&shard.lock),
    }
}

/// Reader marks a map keeps: one line per counting stripe the machine can have at
/// once (as `stats` sizes them: twice the cores, 8 to 64). A thread whose stripe is
/// beyond them reads under the shard's mutex.
fn reader_stripes() -> usize {
    static STRIPES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *STRIPES.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(4, usize::from);
        (cores * 2).clamp(8, crate::stats::MAX_STRIPES)
    })
}

/// The keys of a shard are already hashes.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn same_key_same_value() {
        let map = KeyedMap::new(10);
        let a = map.get_or_insert_with(&"a", || Arc::new(1));
        let again = map.get_or_insert_with(&"a", || Arc::new(2));
        assert!(Arc::ptr_eq(&a, &again));
        assert_eq!(map.len(), 1);
        assert_eq!(map.get(&"b"), None);
        assert_eq!(map.get(&"a").as_deref(), Some(&1));
    }

    #[test]
    fn keys_of_other_types_are_other_keys() {
        let map = KeyedMap::new(10);
        map.get_or_insert_with(&1u32, || 1);
        map.get_or_insert_with(&1u64, || 2);
        assert_eq!(map.get(&1u32), Some(1));
        assert_eq!(map.get(&1u64), Some(2));
        assert_eq!(map.get(&1i32), None);
    }

    #[test]
    fn drops_least_recently_used_first() {
        let map = KeyedMap::new(3);
        for k in ["a", "b", "c"] {
            map.get_or_insert_with(&k, || k);
        }
        map.get(&"a"); // b is now the oldest
        map.get_or_insert_with(&"d", || "d");
        assert_eq!(map.len(), 3);
        assert_eq!(map.get(&"b"), None);
        map.get_or_insert_with(&"c", || "c"); // a is now the oldest
        map.get_or_insert_with(&"e", || "e");
        assert_eq!(map.get(&"a"), None);
        let mut held = map.values();
        held.sort();
        assert_eq!(held, ["c", "d", "e"]);
    }

    #[test]
    fn exact_order_below_64_keys() {
        let map = KeyedMap::new(50);
        for k in 0..50u32 {
            map.get_or_insert_with(&k, || k);
        }
        // Use every even key again, newest last, in reverse.
        for k in (0..50u32).rev().filter(|k| k % 2 == 0) {
            map.get(&k);
        }
        // Inserting 25 new keys drops exactly the 25 odd ones, oldest first.
        for (i, k) in (100..125u32).enumerate() {
            map.get_or_insert_with(&k, || k);
            assert_eq!(map.get(&(2 * i as u32 + 1)), None);
            assert_eq!(map.len(), 50);
            // The next odd key is still held (peek without `get`, which would use it).
            if i < 24 {
                let next = 2 * i as u32 + 3;
                let hash = map.hasher.hash_one(KeyHash(&next));
                assert!(find(&map.read_shard(hash), hash, &next).is_some());
            }
        }
        // Then the even ones, from the one used first (48) to the last (0).
        for k in 200..225u32 {
            map.get_or_insert_with(&k, || k);
        }
        let mut held = map.values();
        held.sort();
        assert_eq!(held, (100..125).chain(200..225).collect::<Vec<_>>());
    }

    #[test]
    fn bounded_under_churn() {
        let map = KeyedMap::new(1000);
        for k in 0..20_000u32 {
            map.get_or_insert_with(&k, || k);
            map.get(&7u32); // kept alive by use
        }
        assert_eq!(map.len(), 1000);
        assert_eq!(map.values().len(), 1000);
        assert_eq!(map.get(&7u32), Some(7));
        assert_eq!(map.get(&19_999u32), Some(19_999));
        assert_eq!(map.get(&0u32), None);
        map.clear();
        assert_eq!(map.len(), 0);
        assert!(map.values().is_empty());
    }

    #[test]
    fn zero_max_keys_is_one() {
        let map = KeyedMap::new(0);
        assert_eq!(map.max_keys(), 1);
        map.get_or_insert_with(&1, || 1);
        map.get_or_insert_with(&2, || 2);
        assert_eq!(map.values(), [2]);
    }

    /// Readers of a hot key (the fast path) while writers insert, change and drop
    /// other keys of the same shards: every read sees its key's own value, and the
    /// writers' changes are all there afterwards.
    #[test]
    fn readers_and_writers_at_once() {
        const HOT: u64 = u64::MAX;
        let map = Arc::new(KeyedMap::new(10_000));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (map, stop) = (Arc::clone(&map), Arc::clone(&stop));
                std::thread::spawn(move || {
                    let mut reads = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        assert_eq!(map.read_or_insert(&HOT, || HOT, |v| *v), HOT);
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        let writers: Vec<_> = (0..2u64)
            .map(|t| {
                let map = Arc::clone(&map);
                std::thread::spawn(move || {
                    for i in 0..3_000u64 {
                        let k = t * 1_000_000 + i;
                        assert_eq!(map.get_or_insert_with(&k, || k), k);
                        map.with(&k, |v| *v += 1);
                        if i % 3 == 0 {
                            assert!(map.remove_if(&k, |_| true));
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            assert!(r.join().unwrap() > 0);
        }
        assert_eq!(map.len(), 1 + 2 * 2_000);
        assert_eq!(map.get(&5u64), Some(6));
        assert_eq!(map.get(&3u64), None);
    }

    /// The entries of one hash: one in place, then colliding keys in a `Vec`, down
    /// to empty again.
    #[test]
    fn colliding_keys_share_a_slot() {
        let entry = |k: u32| Entry {
            key: Box::new(k),
            key_type: TypeId::of::<u32>(),
            value: k,
            id: u64::from(k),
            last_used: AtomicU64::new(0),
        };
        let mut slot = Slot::default();
        assert!(slot.is_empty());
        slot.push(entry(1));
        assert!(matches!(slot, Slot::One(_)));
        slot.push(entry(2));
        slot.push(entry(3));
        assert_eq!(slot.iter().map(|e| e.value).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(slot[1].key_as::<u32>(), Some(&2));
        assert_eq!(slot[1].key_as::<u64>(), None);
        slot.swap_remove(0);
        assert_eq!(slot.iter().map(|e| e.value).collect::<Vec<_>>(), [3, 2]);
        slot.swap_remove(1);
        slot.swap_remove(0);
        assert!(slot.is_empty());
        let mut one = Slot::default();
        one.push(entry(4));
        one.swap_remove(0);
        assert!(one.is_empty());
    }

    #[test]
    fn concurrent_inserts_stay_bounded() {
        let map = Arc::new(KeyedMap::new(100));
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let map = Arc::clone(&map);
                std::thread::spawn(move || {
                    for i in 0..5_000u64 {
                        let k = t * 1_000_000 + i % 300;
                        assert_eq!(map.get_or_insert_with(&k, || k), k);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(map.len(), 100);
        assert_eq!(map.values().len(), 100);
    }
}
