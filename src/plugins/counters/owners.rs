//! Which caller (gateway key) made each live counter of each plugin, so that no one
//! key can fill a plugin's counter table for everyone: a caller holds at most its
//! share (`plugins.max_counters_per_key`), and past it — or when the whole table is
//! full — the coldest counters of the caller holding the most are shed, never another
//! caller's. "Coldest" is the earliest made that still lives: a queue per caller,
//! cheap on the hot path, where a true least-recently-used order would cost an
//! index update on every count.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Who asks for a counter update: the plugin, and the gateway key whose request the
/// call serves (`None` outside a request: such counters are never shed).
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub plugin: &'a str,
    pub key: Option<&'a str>,
}

/// The counters each caller made, per plugin, oldest first. `K` names a counter in
/// its store (a memory map key, a Redis key).
pub struct Owners<K> {
    by: HashMap<(String, Arc<str>), VecDeque<K>>,
}

impl<K> Default for Owners<K> {
    fn default() -> Self {
        Owners { by: HashMap::new() }
    }
}

impl<K: Clone> Owners<K> {
    /// `caller` made counter `k`.
    pub fn made(&mut self, plugin: &str, caller: &Arc<str>, k: K) {
        self.by
            .entry((plugin.to_string(), caller.clone()))
            .or_default()
            .push_back(k);
    }

    /// The counters `caller` made for `plugin` (some may have ended since: callers
    /// prune with `prune`).
    pub fn count(&self, plugin: &str, caller: &str) -> usize {
        self.by
            .get(&(plugin.to_string(), Arc::from(caller)))
            .map_or(0, VecDeque::len)
    }

    /// Forgets the counters `gone` says have ended, for `plugin`'s `caller`.
    pub fn prune(&mut self, plugin: &str, caller: &str, gone: impl Fn(&K) -> bool) {
        if let Some(q) = self.by.get_mut(&(plugin.to_string(), Arc::from(caller))) {
            q.retain(|k| !gone(k));
        }
    }

    /// Takes the oldest counter `caller` made for `plugin`, to be shed.
    pub fn shed(&mut self, plugin: &str, caller: &str) -> Option<K> {
        let key = (plugin.to_string(), Arc::from(caller));
        let q = self.by.get_mut(&key)?;
        let k = q.pop_front();
        if q.is_empty() {
            self.by.remove(&key);
        }
        k
    }

    /// The caller holding the most of `plugin`'s counters.
    pub fn largest(&self, plugin: &str) -> Option<Arc<str>> {
        self.by
            .iter()
            .filter(|((p, _), q)| p == plugin && !q.is_empty())
            .max_by_key(|(_, q)| q.len())
            .map(|((_, c), _)| c.clone())
    }

    /// Keeps only the counters `live` says still exist.
    pub fn retain(&mut self, live: impl Fn(&K) -> bool) {
        for q in self.by.values_mut() {
            q.retain(|k| live(k));
        }
        self.by.retain(|_, q| !q.is_empty());
    }

    /// Forgets everything (the counters were reloaded or reset).
    pub fn clear(&mut self) {
        self.by.clear();
    }

    /// Forgets `plugin`'s counters.
    pub fn clear_plugin(&mut self, plugin: &str) {
        self.by.retain(|(p, _), _| p != plugin);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_caller_sheds_its_oldest_first() {
        let mut o: Owners<u32> = Owners::default();
        let a: Arc<str> = Arc::from("a");
        let b: Arc<str> = Arc::from("b");
        for i in 0..5 {
            o.made("p", &a, i);
        }
        o.made("p", &b, 100);
        o.made("q", &b, 7);
        assert_eq!(o.count("p", "a"), 5);
        assert_eq!(o.largest("p").as_deref(), Some("a"));
        assert_eq!(o.shed("p", "a"), Some(0));
        o.prune("p", "a", |k| *k == 1);
        assert_eq!(o.shed("p", "a"), Some(2));
        assert_eq!(o.count("p", "a"), 2);
        assert_eq!(o.count("q", "b"), 1);
    }
}
