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

#[tokio::test]
async fn a_settle_counts_in_the_window_its_reservation_was_made_in() {
    let c = Counters::default();
    let who = Caller {
        plugin: "p",
        key: Some("k"),
    };
    let t0 = window_start(now_secs(), 60) - 120;
    // Reserved 900 in a window two minutes ago; a request of the current window adds 100.
    assert_eq!(c.add_at(who, "b".into(), 900, 60, t0).await.unwrap(), 900);
    assert_eq!(c.add("p", "b".into(), 100, 60).await.unwrap(), 100);
    // The old reservation settles (real 0): the current window is not credited.
    c.add_at(who, "b".into(), -900, 60, t0).await.unwrap();
    assert_eq!(c.get("b".into(), 60).await.unwrap(), 100);
}

#[tokio::test]
async fn counters_never_wrap_and_never_go_below_zero() {
    let c = Counters::default();
    assert_eq!(c.add("p", "a".into(), i64::MAX, 0).await.unwrap(), i64::MAX);
    let err = c.add("p", "a".into(), 1, 0).await.unwrap_err();
    assert!(matches!(err, CounterError::Overflow), "{err}");
    assert_eq!(c.get("a".into(), 0).await.unwrap(), i64::MAX, "unchanged");
    // A release larger than what is counted (after an operator's reset) stops at zero.
    assert_eq!(c.add("p", "z".into(), -5, 0).await.unwrap(), 0);
    assert_eq!(c.add("p", "z".into(), 3, 0).await.unwrap(), 3);
}

#[tokio::test]
async fn one_key_past_its_share_sheds_its_own_oldest_and_no_one_else_is_refused() {
    let c = Counters::default();
    c.max_per_plugin.store(100, Ordering::Relaxed);
    c.max_per_key.store(10, Ordering::Relaxed);
    let loud = Caller {
        plugin: "p",
        key: Some("loud"),
    };
    let quiet = Caller {
        plugin: "p",
        key: Some("quiet"),
    };
    let now = now_secs();
    for i in 0..1000 {
        c.add_at(loud, format!("u{i}"), 1, 3600, now).await.unwrap();
    }
    // The loud key holds its share, its newest; its oldest were shed.
    assert_eq!(c.owners.lock().count("p", "loud"), 10);
    assert_eq!(c.get("u999".into(), 3600).await.unwrap(), 1);
    assert_eq!(c.get("u0".into(), 3600).await.unwrap(), 0);
    assert_eq!(c.shed.load(Ordering::Relaxed), 990);
    for i in 0..10 {
        c.add_at(quiet, format!("q{i}"), 1, 3600, now)
            .await
            .unwrap();
    }
    assert_eq!(c.refused.load(Ordering::Relaxed), 0);
}

/// The counter-arithmetic fuzz target on memory counters (the suite runs it on Redis).
#[tokio::test]
async fn fuzz_counter_arithmetic_keeps_its_invariant() {
    let cases: usize = std::env::var("SWITCHBOARD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let c = Counters::default();
    super::fuzz::run(&c, cases, 23).await.unwrap();
}
