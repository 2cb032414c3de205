//! Validation tests: defaults, secrets, and errors that name key and line.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    let env = |k: &str| match k {
        "SET" => Some("secret-value".to_string()),
        _ => None,
    };
    Config::parse(text, Path::new("."), &env)
}

fn err(text: &str) -> String {
    parse(text)
        .expect_err("config should be refused")
        .to_string()
}

const PROVIDER: &str =
    "[providers.p]\nadapter = \"builtin:openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\n";

#[test]
fn a_minimal_config_gets_defaults_and_warnings() {
    let c = parse(&format!(
        "{PROVIDER}[models.\"m\"]\ntargets = [{{ provider = \"p\", model = \"x\" }}]\n"
    ))
    .unwrap();
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.server.max_body_bytes, 16 << 20);
    let r = &c.routes["m"];
    assert_eq!(
        r.strategy.source,
        PluginSource::Builtin("round-robin".into())
    );
    assert_eq!(r.targets[0].weight, 1);
    assert!(c.warnings.iter().any(|w| w.contains("open to anyone")));
}

#[test]
fn secrets_come_from_the_environment_and_never_print() {
    let c = parse(&format!(
        "[[keys]]\nname = \"k\"\nsecret_env = \"SET\"\n{PROVIDER}api_key_env = \"SET\"\n[providers.q]\nadapter = \"builtin:openai\"\nbase_url = \"http://x/v1\"\napi_key_env = \"UNSET\"\n"
    ))
    .unwrap();
    assert_eq!(
        c.keys[0].sha256,
        <[u8; 32]>::from(Sha256::digest(b"secret-value"))
    );
    assert_eq!(
        c.providers["p"].api_key.as_ref().unwrap().expose(),
        "secret-value"
    );
    assert!(
        !format!("{c:?}").contains("secret-value"),
        "a secret leaked into Debug output"
    );
    assert!(
        c.providers["q"]
            .inactive
            .as_ref()
            .unwrap()
            .to_string()
            .contains("UNSET")
    );
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("provider 'q' is inactive"))
    );
}

#[test]
fn references_and_values_are_checked_with_lines() {
    let route = |extra: &str| {
        format!(
            "{PROVIDER}\n[models.\"m\"]\ntargets = [{{ provider = \"p\", model = \"x\" }}]\n{extra}"
        )
    };
    assert!(
        err(&route("strategy = \"fancy\""))
            .contains("line 7: models.\"m\".strategy: 'fancy' is not a [strategies] entry")
    );
    assert!(err(&route("policies = [\"builtin:nope\"]")).contains("unknown plugin 'builtin:nope'"));
    assert!(err(&route("redactors = [\"missing.wasm\"]")).contains("does not exist"));
    assert!(err(&format!("{PROVIDER}[models.\"m\"]\ntargets = [{{ provider = \"p\", model = \"x\", input_price = -1.0 }}]\n")).contains("non-negative"));
    assert!(
        err("[[keys]]\nname = \"k\"\nsha256 = \"abc\"\n")
            .contains("line 3: keys[0] (k).sha256: must be 64 hex digits")
    );
    assert!(err("[[keys]]\nname = \"k\"\n").contains("exactly one of secret_env or sha256"));
    assert!(
        err(&format!(
            "[[keys]]\nname = \"k\"\nsecret_env = \"SET\"\nmodels = [\"ghost\"]\n{PROVIDER}"
        ))
        .contains("unknown model 'ghost'")
    );
    assert!(
        err("[providers.p]\nadapter = \"builtin:openai\"\nbase_url = \"ftp://x\"\n")
            .contains("line 3")
    );
    assert!(err("[server]\nlisten = \"nowhere\"\n").contains("line 2: server.listen"));
    assert!(err("[policies.x]\nplugin = \"builtin:request-limit\"\non_error = \"maybe\"\n[models.\"m\"]\ntargets = []\n").contains("at least one target"));
    assert!(err(&format!("{PROVIDER}[policies.x]\nplugin = \"builtin:request-limit\"\non_error = \"maybe\"\n[models.\"m\"]\ntargets = [{{ provider = \"p\", model = \"x\" }}]\npolicies = [\"x\"]\n")).contains("\"fail-closed\" or \"fail-open\""));
}

#[test]
fn cache_settings_are_checked() {
    let model = |cache: &str| {
        format!(
            "{PROVIDER}[models.\"m\"]\ntargets = [{{ provider = \"p\", model = \"x\" }}]\ncache = {cache}\n"
        )
    };
    let c = parse(&model("{ ttl = \"10m\", per_key = true }")).unwrap();
    let rc = c.routes["m"].cache.unwrap();
    assert_eq!(rc.ttl, Duration::from_secs(600));
    assert!(rc.per_key);
    assert_eq!(rc.max_entry_bytes, c.cache.max_entry_bytes);
    assert!(c.cache.redis.is_none());

    let e = err(&model("{ ttl = \"soon\" }"));
    assert!(
        e.contains("models.\"m\".cache.ttl") && e.contains("line 6"),
        "{e}"
    );
    let e = err(&model("{ ttl = \"1m\", max_entry_bytes = 99999999999 }"));
    assert!(e.contains("cache.max_entry_bytes"), "{e}");
    let e = err(&model("{ ttl = \"1m\", size = 3 }"));
    assert!(e.contains("unknown field `size`"), "{e}");

    let with = |table: &str| format!("[cache]\n{table}\n{}", model("{ ttl = \"1m\" }"));
    let c = parse(&with("redis_url_env = \"SET_URL\"")).map(|_| ());
    assert!(c.unwrap_err().to_string().contains("SET_URL is not set"));
    let e = err(&with("redis_url = \"http://nope\""));
    assert!(e.contains("cache.redis_url") && e.contains("line 2"), "{e}");
    let e = err(&with("max_bytes = 10"));
    assert!(e.contains("cache.max_bytes"), "{e}");
    let c = parse(&with("redis_url = \"redis://:pw@127.0.0.1:6379/0\"")).unwrap();
    let r = c.cache.redis.unwrap();
    assert_eq!(r.prefix, "switchboard:cache:");
    assert!(!format!("{r:?}").contains("pw"), "the URL is a secret");
}

#[test]
fn response_redaction_follows_the_route_redactors() {
    let route = |extra: &str| {
        format!(
            "{PROVIDER}[models.\"m\"]\ntargets = [{{ provider = \"p\", model = \"x\" }}]\n{extra}\n"
        )
    };
    let pii = "redactors = [\"builtin:redact-pii\"]\n";
    assert_eq!(parse(&route("")).unwrap().routes["m"].redact_response, None);
    let on = parse(&route(pii)).unwrap().routes["m"].redact_response;
    assert_eq!(on.map(|r| r.window), Some(DEFAULT_REDACT_WINDOW));
    let wide = parse(&route(&format!("{pii}redact_window = 200"))).unwrap();
    assert_eq!(wide.routes["m"].redact_response.unwrap().window, 200);
    let off = parse(&route(&format!("{pii}redact_response = false"))).unwrap();
    assert_eq!(off.routes["m"].redact_response, None);
    assert!(
        err(&route(&format!("{pii}redact_window = 0")))
            .contains("line 7: models.\"m\".redact_window: must be 1 to 4096")
    );
    assert!(err(&route("redact_window = 10")).contains("the route has no redactors"));
}

#[test]
fn counters_live_in_memory_sqlite_or_redis() {
    assert_eq!(parse("").unwrap().counters, CountersConfig::default());
    let c = parse("[counters]\nsqlite_path = \"state/counters.db\"\n").unwrap();
    assert_eq!(
        c.counters.sqlite_path.unwrap(),
        Path::new("./state/counters.db")
    );
    let r = parse("[counters]\nredis_url = \"redis://127.0.0.1:6379/0\"\n").unwrap();
    let redis = r.counters.redis.unwrap();
    assert_eq!(redis.prefix, "switchboard:counters:");
    assert_eq!(redis.timeout, std::time::Duration::from_millis(250));
    assert!(
        err("[counters]\nredis_url = \"redis://127.0.0.1:6379/0\"\nsqlite_path = \"c.db\"\n")
            .contains("line 3: counters.sqlite_path: counters in Redis are kept there")
    );
    assert!(
        err("[counters]\nredis_url = \"nope\"\n")
            .contains("counters.redis_url: is not a Redis URL")
    );
    assert!(err("[counters]\nredis_url_env = \"UNSET\"\n").contains("UNSET is not set"));
}

#[test]
fn stored_responses_and_usage_go_to_postgres_when_the_store_names_it() {
    let url = "postgres://sb:pw-9f8e7d@127.0.0.1:5432/switchboard";
    let env = |k: &str| (k == "PG").then(|| url.to_string());
    let text = "[store]\npostgres_url_env = \"PG\"\n\n[responses]\nretention_days = 3\n";
    let c = Config::parse(text, Path::new("."), &env).unwrap();
    let r = c.responses.unwrap();
    assert_eq!(r.db, StoreDb::Postgres(Secret::new(url.into())));
    assert_eq!(r.retention_days, 3);
    assert!(!format!("{:?}", r.db).contains("pw-9f8e7d"));
    let text = "[store]\npostgres_url_env = \"PG\"\n\n[usage]\nretention_days = 9\n";
    let u = Config::parse(text, Path::new("."), &env)
        .unwrap()
        .usage
        .unwrap();
    assert_eq!(u.db, StoreDb::Postgres(Secret::new(url.into())));
    assert_eq!(u.retention_days, 9);
    let e = err("\n[usage]\n");
    assert!(
        e.contains("usage.sqlite_path") && e.contains("line 2"),
        "{e}"
    );
    // Without PostgreSQL a file is needed; a bad or missing URL is refused by name.
    let e = err("[responses]\nretention_days = 3\n");
    assert!(
        e.contains("responses.sqlite_path") && e.contains("line 1"),
        "{e}"
    );
    let c = parse("[store]\npostgres_url = \"postgres://sb@db.internal/switchboard\"\n[usage]\n")
        .unwrap();
    assert!(matches!(c.usage.unwrap().db, StoreDb::Postgres(_)));
    let e = err("[store]\npostgres_url = \"mysql:/x y\"\n");
    assert!(
        e.contains("store.postgres_url") && e.contains("not a PostgreSQL URL"),
        "{e}"
    );
    let e = err("[store]\npostgres_url_env = \"SET\"\n[responses]\n");
    assert!(e.contains("does not hold a PostgreSQL URL"), "{e}");
    let e = err("[store]\npostgres_url_env = \"UNSET\"\n[responses]\n");
    assert!(e.contains("UNSET is not set"), "{e}");
    let c = parse("[responses]\nsqlite_path = \"state/r.db\"\n").unwrap();
    assert_eq!(
        c.responses.unwrap().db,
        StoreDb::Sqlite(Path::new("./state/r.db").into())
    );
}
