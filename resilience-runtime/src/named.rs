//! Policies shared by name: the map behind `registry`'s look-ups, and the record of
//! registrations that named an existing policy with other settings. Touched when a
//! function first uses a policy and when one is looked up by hand, never on a call's
//! hot path. (Policies depend on this module; the public `registry` module depends on
//! the policies.)

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::RwLock;

/// A map from policy name to a shared policy instance. Touched when a policy is first
/// used by a function and when it is looked up by hand, never on a call's hot path.
pub(crate) struct Registry<V> {
    /// Made on first use (`HashMap::new` is not `const`).
    entries: RwLock<Option<Entries<V>>>,
}

/// Each instance by name, with a description of the settings it was registered with.
type Entries<V> = HashMap<Cow<'static, str>, (V, String)>;

impl<V: Clone> Registry<V> {
    pub(crate) const fn new() -> Self {
        Registry {
            entries: RwLock::new(None),
        }
    }

    /// The instance registered under `name`, or the one `make` builds, registered now.
    /// The `bool` is true when the instance already existed.
    pub(crate) fn get_or_insert_with(
        &self,
        name: Cow<'static, str>,
        make: impl FnOnce() -> V,
    ) -> (V, bool) {
        if let Some(existing) = self.get(&name) {
            return (existing, true);
        }
        let mut guard = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let map = guard.get_or_insert_with(HashMap::new);
        if let Some((existing, _)) = map.get(&name) {
            return (existing.clone(), true);
        }
        let value = make();
        map.insert(name, (value.clone(), String::new()));
        (value, false)
    }

    /// The instance registered under `name`.
    pub(crate) fn get(&self, name: &str) -> Option<V> {
        let guard = self.entries.read().unwrap_or_else(|e| e.into_inner());
        guard.as_ref()?.get(name).map(|(v, _)| v.clone())
    }

    /// Every registered instance, sorted by name.
    pub(crate) fn all(&self) -> Vec<(Cow<'static, str>, V)> {
        let guard = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<_> = guard
            .iter()
            .flat_map(|map| map.iter().map(|(k, (v, _))| (k.clone(), v.clone())))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

impl<V: Clone> Registry<V> {
    /// The instance registered under `name`, or the one `make` builds, registered now
    /// with `settings`, a description of its settings. When one existed with other
    /// settings, the difference is recorded as a [`ConfigConflict`].
    pub(crate) fn register(
        &self,
        policy: &'static str,
        name: Cow<'static, str>,
        settings: String,
        make: impl FnOnce() -> V,
    ) -> V {
        let mut guard = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let map = guard.get_or_insert_with(HashMap::new);
        if let Some((existing, kept)) = map.get(&name) {
            let existing = existing.clone();
            if *kept != settings {
                let kept = kept.clone();
                drop(guard);
                report_conflict(policy, name, kept, settings);
            }
            return existing;
        }
        let value = make();
        map.insert(name, (value.clone(), settings));
        value
    }
}

/// A registration that named an existing policy with other settings. The first
/// configuration registered under a name wins; the later one was ignored (its caller
/// got the existing policy) and is recorded here instead of failing at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigConflict {
    /// The kind of policy, e.g. `"circuit_breaker"`.
    pub policy: &'static str,
    /// The shared name.
    pub name: Cow<'static, str>,
    /// The configuration in force (the first registered).
    pub kept: String,
    /// The configuration that was ignored.
    pub ignored: String,
}

impl std::fmt::Display for ConfigConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} '{}' was registered again with other settings; the first ones are kept: {} (ignored: {})",
            self.policy, self.name, self.kept, self.ignored
        )
    }
}

static CONFLICTS: std::sync::Mutex<Vec<ConfigConflict>> = std::sync::Mutex::new(Vec::new());

/// Most conflicts kept; later distinct ones are dropped.
const MAX_CONFLICTS: usize = 1_000;

/// Every configuration conflict recorded so far (each distinct one once), oldest first.
pub(crate) fn config_conflicts() -> Vec<ConfigConflict> {
    CONFLICTS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

pub(crate) fn report_conflict(
    policy: &'static str,
    name: Cow<'static, str>,
    kept: String,
    ignored: String,
) {
    let conflict = ConfigConflict {
        policy,
        name,
        kept,
        ignored,
    };
    let mut all = CONFLICTS.lock().unwrap_or_else(|e| e.into_inner());
    if all.len() < MAX_CONFLICTS && !all.contains(&conflict) {
        all.push(conflict);
    }
}
