//! The plugin host itself: compiled components are cached on disk by content hash
//! (and a corrupt cache entry is recompiled, not trusted), and instances are
//! recycled after the configured number of calls.

use std::collections::BTreeMap;
use std::time::Duration;

use switchboard::config::{EngineConfig, OnError, PluginLimits, PluginSource, PluginSpec};
use switchboard::plugins::PluginRuntime;
use switchboard::plugins::calls;
use switchboard::plugins::world::Strategy;
use switchboard::types::{Health, RouteRequest, TargetStats};

fn engine(dir: &std::path::Path, recycle_after: u32) -> EngineConfig {
    EngineConfig {
        cache_dir: dir.to_path_buf(),
        cache_max_bytes: 512 << 20,
        function_cache_bytes: 64 << 20,
        max_instances: 32,
        max_idle: 4,
        recycle_after,
        default_limits: PluginLimits {
            deadline: Duration::from_millis(100),
            memory_bytes: 32 << 20,
        },
        isolation: Default::default(),
    }
}

fn spec(name: &str) -> PluginSpec {
    PluginSpec {
        name: format!("builtin:{name}"),
        source: PluginSource::Builtin(name.into()),
        settings: BTreeMap::new(),
        limits: PluginLimits {
            deadline: Duration::from_millis(100),
            memory_bytes: 32 << 20,
        },
        on_error: OnError::FailClosed,
    }
}

fn cached_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
                .collect()
        })
        .unwrap_or_default()
}

fn targets(n: usize) -> Vec<TargetStats> {
    (0..n)
        .map(|i| TargetStats {
            provider: format!("p{i}"),
            model: "m".into(),
            weight: 1,
            priority: i as u32,
            health: Health::Healthy,
            in_flight: 0,
            latency_ewma_us: 0,
            ttft_ewma_us: 0,
            error_rate: 0.0,
            input_price_per_mtok: 0.0,
            output_price_per_mtok: 0.0,
            ratelimit_remaining_requests: None,
            ratelimit_remaining_tokens: None,
            retry_after_secs: None,
        })
        .collect()
}

#[tokio::test]
async fn compiled_components_are_cached_by_content_and_a_corrupt_entry_is_redone() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rt = PluginRuntime::new(&engine(&dir, 100)).unwrap();
    rt.load::<Strategy>(&spec("priority"), "test")
        .await
        .unwrap();
    let files = cached_files(&dir);
    assert_eq!(files.len(), 1, "one compiled artifact for one component");
    use std::os::unix::fs::MetadataExt;
    let first = std::fs::metadata(&files[0]).unwrap().ino();

    // A second engine (a restart) uses the cached artifact instead of compiling.
    let rt2 = PluginRuntime::new(&engine(&dir, 100)).unwrap();
    rt2.load::<Strategy>(&spec("priority"), "test")
        .await
        .unwrap();
    assert_eq!(
        std::fs::metadata(&files[0]).unwrap().ino(),
        first,
        "the entry was written again"
    );

    // Corrupt it: the next engine recompiles and rewrites it, and the plugin works.
    std::fs::write(&files[0], b"garbage").unwrap();
    let rt3 = PluginRuntime::new(&engine(&dir, 100)).unwrap();
    let pool = rt3
        .load::<Strategy>(&spec("priority"), "test")
        .await
        .unwrap();
    assert!(
        std::fs::metadata(&files[0]).unwrap().len() > 1000,
        "corrupt cache entry was not rewritten"
    );
    let req = RouteRequest {
        route: "r".into(),
        sequence: 0,
        random: 0,
        estimated_input_tokens: 0,
        max_output_tokens: None,
        stream: false,
        text: None,
        shape: Default::default(),
    };
    assert_eq!(
        calls::select(&pool, &req, &targets(3)).await.unwrap(),
        vec![0, 1, 2]
    );

    // Another component gets its own entry.
    rt3.load::<Strategy>(&spec("weighted"), "test")
        .await
        .unwrap();
    assert_eq!(cached_files(&dir).len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_rebuilt_file_replaces_its_entry_and_the_cache_stays_bounded() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cache-bound-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let wasm = dir.join("mine.wasm");
    let file_spec = || PluginSpec {
        name: "mine".into(),
        source: PluginSource::File(wasm.clone()),
        ..spec("priority")
    };
    // Two different builds of one file (non-reproducible rebuilds differ like this):
    // one entry, replaced, never two.
    std::fs::copy(env!("SWITCHBOARD_GUEST_STRATEGY_CANARY"), &wasm).unwrap();
    let rt = PluginRuntime::new(&engine(&dir, 100)).unwrap();
    rt.load::<Strategy>(&file_spec(), "a").await.unwrap();
    let mut rebuilt = std::fs::read(&wasm).unwrap();
    // A custom section appended: another build of the same component.
    rebuilt.extend_from_slice(&[0, 6, 4, b'n', b'o', b't', b'e', 1]);
    std::fs::write(&wasm, &rebuilt).unwrap();
    let rt = PluginRuntime::new(&engine(&dir, 100)).unwrap();
    rt.load::<Strategy>(&file_spec(), "a").await.unwrap();
    assert_eq!(
        cached_files(&dir).len(),
        1,
        "a rebuild piled up a second entry"
    );
    // Past the bound, the least recently used entry goes.
    let oldest = cached_files(&dir)[0].clone();
    let one = std::fs::metadata(&oldest).unwrap().len();
    let mut small = engine(&dir, 100);
    small.cache_max_bytes = one + one / 2;
    let rt = PluginRuntime::new(&small).unwrap();
    rt.load::<Strategy>(&spec("weighted"), "b").await.unwrap();
    let left = cached_files(&dir);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(!oldest.exists(), "the least recently used entry stayed");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn instances_are_reused_then_recycled() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cache-recycle");
    let rt = PluginRuntime::new(&engine(&dir, 3)).unwrap();
    let pool = rt
        .load::<Strategy>(&spec("round-robin"), "test")
        .await
        .unwrap();
    let t = targets(2);
    for seq in 0..9u64 {
        let req = RouteRequest {
            route: "r".into(),
            sequence: seq,
            random: 0,
            estimated_input_tokens: 0,
            max_output_tokens: None,
            stream: false,
            text: None,
            shape: Default::default(),
        };
        let order = calls::select(&pool, &req, &t).await.unwrap();
        assert_eq!(order[0], (seq % 2) as usize);
    }
    let made = pool
        .stats
        .instantiations
        .load(std::sync::atomic::Ordering::Relaxed);
    // 9 sequential calls, 3 per instance: 3 instances (the prewarmed one included).
    assert_eq!(made, 3, "instances were not reused/recycled as configured");
}

/// A call whose future is dropped while the guest is suspended at a yield (a client
/// gone, a deadline) leaves its instance mid-call: that instance must not serve the
/// next call (wasmtime cannot enter it again; before, the next call trapped).
#[tokio::test]
async fn an_instance_left_mid_call_is_not_reused() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cache-mid-call");
    let rt = PluginRuntime::new(&engine(&dir, 1000)).unwrap();
    let mut hostile = spec("priority");
    hostile.name = "hostile".into();
    hostile.source = PluginSource::File(env!("SWITCHBOARD_GUEST_TEST_HOSTILE").into());
    hostile.limits.deadline = Duration::from_secs(5);
    let pool = rt.load::<Strategy>(&hostile, "test").await.unwrap();
    let t = targets(2);
    let req = |route: &str| RouteRequest {
        route: route.into(),
        sequence: 0,
        random: 0,
        estimated_input_tokens: 0,
        max_output_tokens: None,
        stream: false,
        text: None,
        shape: Default::default(),
    };
    for _ in 0..3 {
        let cut = tokio::time::timeout(
            Duration::from_millis(30),
            calls::select(&pool, &req("loop"), &t),
        )
        .await;
        assert!(cut.is_err(), "the looping call was cut off");
        let order = calls::select(&pool, &req("fine"), &t).await;
        assert_eq!(order.unwrap(), vec![0, 1]);
    }
    assert_eq!(
        pool.stats.failures(switchboard::plugins::FailureKind::Trap),
        0
    );
}
