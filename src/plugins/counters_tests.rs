//! Tests of the counter stores: memory windows, the SQLite file, the per-plugin
//! limit and digests of long keys.

use super::*;

#[tokio::test]
async fn memory_counters_are_windowed_and_namespaced() {
    let c = Counters::default();
    assert_eq!(c.add("p", "a".into(), 5, 3600).await.unwrap(), 5);
    assert_eq!(c.add("p", "a".into(), -2, 3600).await.unwrap(), 3);
    // The same key with another window is another counter.
    assert_eq!(c.add("p", "a".into(), 1, 0).await.unwrap(), 1);
    assert_eq!(c.get("a".into(), 3600).await.unwrap(), 3);
    assert_eq!(c.get("b".into(), 3600).await.unwrap(), 0);
    assert_eq!(c.backend(), "memory");
}

#[tokio::test]
async fn counters_are_listed_and_reset_by_plugin_and_key() {
    let c = Counters::default();
    c.add("tokens", "tokens\u{1f}tokens:key a".into(), 5, 3600)
        .await
        .unwrap();
    c.add("tokens", "tokens\u{1f}tokens:key b".into(), 7, 3600)
        .await
        .unwrap();
    c.add("rpm", "rpm\u{1f}requests:a".into(), 1, 0)
        .await
        .unwrap();
    let l = c.list().await.unwrap();
    let seen: Vec<_> = l
        .iter()
        .map(|e| (e.plugin.as_str(), e.key.as_str(), e.value))
        .collect();
    assert_eq!(
        seen,
        [
            ("rpm", "requests:a", 1),
            ("tokens", "tokens:key a", 5),
            ("tokens", "tokens:key b", 7)
        ]
    );
    assert_eq!(l[0].resets_in_secs, 0);
    assert!((1..=3600).contains(&l[1].resets_in_secs));
    let one = CounterFilter {
        plugin: Some("tokens".into()),
        key: Some("tokens:key a".into()),
    };
    assert_eq!(c.reset(&one).await.unwrap(), 1);
    assert_eq!(
        c.get("tokens\u{1f}tokens:key a".into(), 3600)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        c.get("tokens\u{1f}tokens:key b".into(), 3600)
            .await
            .unwrap(),
        7
    );
    let plugin = CounterFilter {
        plugin: Some("tokens".into()),
        key: None,
    };
    assert_eq!(c.reset(&plugin).await.unwrap(), 1);
    assert_eq!(c.reset(&CounterFilter::default()).await.unwrap(), 1);
    assert!(c.list().await.unwrap().is_empty());
}

#[test]
fn a_sweep_drops_only_ended_windows() {
    let c = Counters::default();
    let now = now_secs();
    c.memory
        .lock()
        .insert(("old".into(), 60), (window_start(now, 60) - 60, 9));
    c.memory
        .lock()
        .insert(("live".into(), 60), (window_start(now, 60), 4));
    c.memory.lock().insert(("forever".into(), 0), (0, 1));
    c.sweep(now);
    let map = c.memory.lock();
    assert!(!map.contains_key(&("old".to_string(), 60)));
    assert!(map.contains_key(&("live".to_string(), 60)));
    assert!(map.contains_key(&("forever".to_string(), 0)));
}

#[tokio::test]
async fn fresh_keys_stop_at_the_plugin_limit_and_long_keys_are_digests() {
    let c = Counters::default();
    c.max_per_plugin.store(100, Ordering::Relaxed);
    for i in 0..100 {
        c.add("p", namespaced("p", &format!("k{i}")), 1, 3600)
            .await
            .unwrap();
    }
    let err = c
        .add("p", namespaced("p", "k100"), 1, 3600)
        .await
        .unwrap_err();
    assert!(matches!(err, CounterError::Full(_, 100)), "{err}");
    // Another plugin, and an existing key, are unaffected.
    c.add("q", namespaced("q", "k0"), 1, 3600).await.unwrap();
    assert_eq!(c.add("p", namespaced("p", "k5"), 1, 3600).await.unwrap(), 2);
    let long = "u".repeat(1 << 20);
    let name = namespaced("q", &long);
    assert!(name.len() < 100, "{}", name.len());
    assert_eq!(name, namespaced("q", &long));
}
