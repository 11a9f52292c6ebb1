//! The bulkhead's shared state: one atomic word for the slots, a locked FIFO queue for
//! the waiters.
//!
//! # The state word
//!
//! ```text
//!  63      62 ..................... 32 31 ........................ 0
//! [closed][ waiting (31 bits)        ][ in flight (32 bits)        ]
//! ```
//!
//! - **Fast path.** A call takes a slot with one compare-and-swap when nobody waits, the
//!   bulkhead is open and fewer than `limit` calls run; it gives the slot back with one
//!   `fetch_sub`. Neither touches the lock.
//! - **Slow path.** While anyone waits, every change goes through the queue's lock:
//!   newcomers queue behind the waiters (first come, first served, so a newcomer never
//!   overtakes a waiter), and a finishing call hands its slot straight to the first
//!   waiter. The waiting count lives in the same word as the in-flight count, so a
//!   caller that is about to queue and a call that finishes without the lock cannot miss
//!   each other: the queuing compare-and-swap fails if the in-flight count moved.
//!
//! Invariant, whenever the lock is free: if `waiting > 0` then `in_flight >= limit`, or
//! a thread that lowered `in_flight` or raised `limit` is about to take the lock and
//! grant (see [`Slots::grant`]).

use std::task::Waker;

use crate::sync::{AtomicU64, AtomicUsize, Mutex, MutexGuard, Ordering};

/// One waiter in the state word.
const ONE_WAITER: u64 = 1 << 32;
/// Mask of the in-flight count.
const IN_FLIGHT: u64 = ONE_WAITER - 1;
/// The bulkhead refuses new calls.
const CLOSED: u64 = 1 << 63;
/// Mask of the waiting count.
const WAITING: u64 = !IN_FLIGHT & !CLOSED;

/// The largest concurrency limit a bulkhead accepts.
pub(crate) const MAX_LIMIT: usize = u32::MAX as usize;
/// The largest number of waiters a bulkhead holds at once.
pub(crate) const MAX_WAITING: usize = (1 << 31) - 1;

/// "No node" in the queue's links.
const NIL: u32 = u32::MAX;

/// A snapshot of the state word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(pub(crate) u64);

impl Snapshot {
    pub(crate) fn in_flight(self) -> usize {
        (self.0 & IN_FLIGHT) as usize
    }
    pub(crate) fn waiting(self) -> usize {
        ((self.0 & WAITING) >> 32) as usize
    }
    pub(crate) fn closed(self) -> bool {
        self.0 & CLOSED != 0
    }
}

/// What [`Slots::acquire_or_enqueue`] did.
pub(crate) enum Enqueued {
    /// A slot was free: the caller holds it.
    Acquired,
    /// The caller is queued at this node; poll it with [`Slots::poll_node`].
    Queued(u32),
    /// No slot and no waiting allowed (or the queue is at its cap).
    Full(Snapshot),
    /// The bulkhead is closed.
    Closed,
}

/// How a waiter left the queue.
pub(crate) enum Left {
    /// Still waiting: it gave up its place; the state as it left.
    Waiting(Snapshot),
    /// A slot had been handed over: the caller holds it.
    Granted,
    /// The bulkhead had closed.
    Closed,
}

/// The outcome of a queued wait, seen by the waiter.
pub(crate) enum Polled {
    /// Still waiting.
    Pending,
    /// A slot was handed over: the caller holds it.
    Granted,
    /// The bulkhead was closed while waiting.
    Closed,
}

/// Slots and waiters.
pub(crate) struct Slots {
    state: AtomicU64,
    limit: AtomicUsize,
    #[cfg(not(feature = "config"))]
    max_waiting: usize,
    /// Configuration may change it (feature `config`); read under the queue's lock.
    #[cfg(feature = "config")]
    max_waiting: AtomicUsize,
    queue: Mutex<Queue>,
}

impl Slots {
    /// `limit` slots (1 ..= [`MAX_LIMIT`]), at most `max_waiting` waiters.
    pub(crate) fn new(limit: usize, max_waiting: usize) -> Self {
        Slots {
            state: AtomicU64::new(0),
            limit: AtomicUsize::new(limit.clamp(1, MAX_LIMIT)),
            #[cfg(not(feature = "config"))]
            max_waiting: max_waiting.min(MAX_WAITING),
            #[cfg(feature = "config")]
            max_waiting: AtomicUsize::new(max_waiting.min(MAX_WAITING)),
            queue: Mutex::new(Queue::new()),
        }
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot(self.state.load(Ordering::Acquire))
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    #[inline(always)]
    pub(crate) fn max_waiting(&self) -> usize {
        #[cfg(feature = "config")]
        return self.max_waiting.load(Ordering::Relaxed);
        #[cfg(not(feature = "config"))]
        self.max_waiting
    }

    /// Sets how many calls may wait (feature `config`): calls already waiting keep
    /// their place even above a lowered bound; only newcomers are refused.
    #[cfg(feature = "config")]
    pub(crate) fn set_max_waiting(&self, n: usize) {
        self.max_waiting
            .store(n.min(MAX_WAITING), Ordering::Relaxed);
    }

    /// Takes a slot if one is free and nobody waits: the lock-free fast path.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        let limit = self.limit.load(Ordering::Relaxed) as u64;
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & !IN_FLIGHT != 0 || s & IN_FLIGHT >= limit {
                return false;
            }
            match self
                .state
                .compare_exchange_weak(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => s = actual,
            }
        }
    }

    /// Gives a slot back, handing it to the first waiter if there is one.
    #[inline]
    pub(crate) fn release(&self) {
        let prev = self.state.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(prev & IN_FLIGHT != 0, "bulkhead slot released twice");
        if prev & WAITING != 0 {
            self.grant();
        }
    }

    /// Takes a slot if one is free, else queues the caller (waking `waker` when a slot
    /// is handed over) if `may_wait` and the queue has room.
    pub(crate) fn acquire_or_enqueue(&self, may_wait: bool, waker: Option<Waker>) -> Enqueued {
        let mut queue = lock(&self.queue);
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if s & CLOSED != 0 {
                return Enqueued::Closed;
            }
            let waiting = Snapshot(s).waiting();
            let free = (s & IN_FLIGHT) < self.limit.load(Ordering::Relaxed) as u64;
            let (next, queued) = if waiting == 0 && free {
                (s + 1, false)
            } else if may_wait && waiting < self.max_waiting() {
                (s + ONE_WAITER, true)
            } else {
                return Enqueued::Full(Snapshot(s));
            };
            // Fails only if a call finished without the lock (in flight went down) or
            // one took a slot on the fast path: look again.
            match self
                .state
                .compare_exchange(s, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if queued => return Enqueued::Queued(queue.push(waker)),
                Ok(_) => return Enqueued::Acquired,
                Err(actual) => s = actual,
            }
        }
    }

    /// Looks at a queued waiter's node; on [`Polled::Granted`] or [`Polled::Closed`]
    /// the node is freed and must not be used again. While pending, `waker` replaces
    /// the stored waker.
    pub(crate) fn poll_node(&self, node: u32, waker: Option<&Waker>) -> Polled {
        let mut queue = lock(&self.queue);
        let entry = &mut queue.nodes[node as usize];
        match &mut entry.status {
            Status::Waiting(stored) => {
                if let Some(waker) = waker {
                    match stored {
                        Some(old) if old.will_wake(waker) => {}
                        _ => *stored = Some(waker.clone()),
                    }
                }
                Polled::Pending
            }
            Status::Granted => {
                queue.free(node);
                Polled::Granted
            }
            Status::Closed => {
                queue.free(node);
                Polled::Closed
            }
            Status::Vacant => unreachable!("bulkhead waiter polled after it finished"),
        }
    }

    /// A queued waiter leaves (cancelled, or its wait timed out); its node is freed.
    /// On [`Left::Granted`] the caller holds the slot that was handed over meanwhile
    /// and must use it or [`release`](Self::release) it.
    pub(crate) fn leave(&self, node: u32) -> Left {
        let mut queue = lock(&self.queue);
        let status = std::mem::replace(&mut queue.nodes[node as usize].status, Status::Vacant);
        let left = match status {
            Status::Waiting(_) => {
                queue.unlink(node);
                let prev = self.state.fetch_sub(ONE_WAITER, Ordering::AcqRel);
                Left::Waiting(Snapshot(prev - ONE_WAITER))
            }
            Status::Granted => Left::Granted,
            Status::Closed => Left::Closed,
            Status::Vacant => unreachable!("bulkhead waiter left after it finished"),
        };
        queue.free(node);
        left
    }

    /// Sets the concurrency limit; a raise lets waiters in at once. Calls beyond a
    /// lowered limit keep running: slots are only taken back as they finish.
    pub(crate) fn set_limit(&self, limit: usize) {
        let limit = limit.clamp(1, MAX_LIMIT);
        let old = self.limit.swap(limit, Ordering::AcqRel);
        if limit > old && self.state.load(Ordering::Acquire) & WAITING != 0 {
            self.grant();
        }
    }

    /// Refuses new calls from now on and sends every waiter away; calls already running
    /// finish normally. Returns whether this call closed it.
    pub(crate) fn close(&self) -> bool {
        let mut wakers = Vec::new();
        let was_open = {
            let mut queue = lock(&self.queue);
            let prev = self.state.fetch_or(CLOSED, Ordering::AcqRel);
            let mut refused = 0;
            while let Some(node) = queue.pop_front() {
                let status = &mut queue.nodes[node as usize].status;
                if let Status::Waiting(waker) = std::mem::replace(status, Status::Closed) {
                    wakers.extend(waker);
                }
                refused += 1;
            }
            self.state.fetch_sub(refused * ONE_WAITER, Ordering::AcqRel);
            prev & CLOSED == 0
        };
        wakers.into_iter().for_each(Waker::wake);
        was_open
    }

    /// Hands free slots to the first waiters, waking them outside the lock.
    fn grant(&self) {
        loop {
            let mut wake = WakeList::new();
            let more = {
                let mut queue = lock(&self.queue);
                self.grant_locked(&mut queue, &mut wake)
            };
            wake.wake_all();
            if !more {
                return;
            }
        }
    }

    /// Grants slots while waiters and free slots remain; returns true if it stopped
    /// only because `wake` is full.
    fn grant_locked(&self, queue: &mut Queue, wake: &mut WakeList) -> bool {
        loop {
            let s = self.state.load(Ordering::Acquire);
            if s & WAITING == 0 || (s & IN_FLIGHT) >= self.limit.load(Ordering::Relaxed) as u64 {
                return false;
            }
            if wake.is_full() {
                return true;
            }
            // `waiting` only changes under the lock, so the queue is not empty; the
            // in-flight count can only fall meanwhile (the fast path is shut while
            // anyone waits), so the slot is still free.
            let Some(node) = queue.pop_front() else {
                debug_assert!(false, "bulkhead waiting count without waiters");
                return false;
            };
            let status = &mut queue.nodes[node as usize].status;
            if let Status::Waiting(waker) = std::mem::replace(status, Status::Granted) {
                wake.push(waker);
            }
            // in flight + 1, waiting - 1, in one step.
            self.state
                .fetch_add(1u64.wrapping_sub(ONE_WAITER), Ordering::AcqRel);
        }
    }
}

impl std::fmt::Debug for Slots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.snapshot();
        f.debug_struct("Slots")
            .field("in_flight", &s.in_flight())
            .field("waiting", &s.waiting())
            .field("closed", &s.closed())
            .field("limit", &self.limit())
            .field("max_waiting", &self.max_waiting())
            .finish()
    }
}

/// Locks ignoring poisoning: the queue's invariants hold between any two statements
/// that could panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Wakers collected under the lock, woken after it is released. Fixed size so that
/// handing slots over does not allocate.
struct WakeList {
    wakers: [Option<Waker>; 8],
    len: usize,
}

impl WakeList {
    fn new() -> Self {
        WakeList {
            wakers: Default::default(),
            len: 0,
        }
    }
    fn is_full(&self) -> bool {
        self.len == self.wakers.len()
    }
    fn push(&mut self, waker: Option<Waker>) {
        self.wakers[self.len] = waker;
        self.len += 1;
    }
    fn wake_all(self) {
        self.wakers.into_iter().flatten().for_each(Waker::wake);
    }
}

/// A waiter's node.
enum Status {
    /// Free for reuse.
    Vacant,
    /// Queued; woken through the waker once granted or closed.
    Waiting(Option<Waker>),
    /// Out of the queue, holding a slot the waiter has not collected yet.
    Granted,
    /// Out of the queue, refused because the bulkhead closed.
    Closed,
}

struct Node {
    prev: u32,
    next: u32,
    status: Status,
}

/// A doubly linked FIFO of waiters kept in a slab of nodes: queuing, leaving from
/// anywhere and taking the first are O(1), and nodes are reused, so a steady stream of
/// waiters stops allocating once the slab has grown to the largest queue seen.
struct Queue {
    nodes: Vec<Node>,
    head: u32,
    tail: u32,
    /// First vacant node, linked through `next`.
    free: u32,
}

impl Queue {
    fn new() -> Self {
        Queue {
            nodes: Vec::new(),
            head: NIL,
            tail: NIL,
            free: NIL,
        }
    }

    /// Queues a waiter at the back; returns its node.
    fn push(&mut self, waker: Option<Waker>) -> u32 {
        let node = if self.free != NIL {
            let node = self.free;
            self.free = self.nodes[node as usize].next;
            node
        } else {
            self.nodes.push(Node {
                prev: NIL,
                next: NIL,
                status: Status::Vacant,
            });
            (self.nodes.len() - 1) as u32
        };
        let tail = self.tail;
        self.nodes[node as usize] = Node {
            prev: tail,
            next: NIL,
            status: Status::Waiting(waker),
        };
        if tail == NIL {
            self.head = node;
        } else {
            self.nodes[tail as usize].next = node;
        }
        self.tail = node;
        node
    }

    /// Takes the first waiter out of the queue (its node stays allocated).
    fn pop_front(&mut self) -> Option<u32> {
        let node = self.head;
        if node == NIL {
            return None;
        }
        self.unlink(node);
        Some(node)
    }

    /// Takes a queued node out of the queue (its node stays allocated).
    fn unlink(&mut self, node: u32) {
        let Node { prev, next, .. } = self.nodes[node as usize];
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
    }

    /// Returns a node, already out of the queue, to the vacant list.
    fn free(&mut self, node: u32) {
        self.nodes[node as usize] = Node {
            prev: NIL,
            next: self.free,
            status: Status::Vacant,
        };
        self.free = node;
    }
}
