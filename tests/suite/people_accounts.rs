//! Local accounts end to end: the first admin made by `switchboard users add` (its
//! password an Argon2id hash in the store), sign-in throttled per address and locked
//! per account (the lock in the audit log), personal tokens no higher than their
//! maker's role and named in the audit log, and a disabled person's sessions and tokens
//! ending on every replica within a second.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;
use crate::mock::Mock;
use crate::people::{Session, add_person, config, sign_in};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");
const PW: &str = "a long enough password";

fn users_add(config: &std::path::Path, name: &str, role: &str, password: &str) -> String {
    let mut child = Command::new(BIN)
        .args(["users", "add", name, "--role", role, "-c"])
        .arg(config)
        .env("ADMIN_TOKEN", ADMIN_TOKEN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn audit(gw: &Gw) -> Vec<Value> {
    let (_, v) = gw
        .admin_json(Method::GET, "/admin/audit?limit=200", None)
        .await;
    v["entries"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn the_first_admin_argon2_lockout_throttle_and_personal_tokens() {
    let mock = Mock::start().await;
    let (text, store) = config("accounts");
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("people-accounts-{}.toml", std::process::id()));
    std::fs::write(&path, config_text(&mock, &text)).unwrap();
    let said = users_add(&path, "root", "admin", PW);
    assert!(said.contains("root (admin) added"), "{said}");
    // Kept as an Argon2id hash, never the password.
    let conn = rusqlite::Connection::open(&store).unwrap();
    let hash: String = conn
        .query_row(
            "SELECT password FROM switchboard_people WHERE name = 'root'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(PW));
    drop(conn);

    let gw = start(&mock, &text).await;
    let root = Session::open(&gw.admin, "root", PW).await;
    let (_, me) = root.ask(Method::GET, "/admin/session", None).await;
    assert_eq!(me["actor"], "root (admin)");

    // Five wrong passwords in a row lock the account, and the lock is audited; the
    // right password is refused while it lasts.
    add_person(&gw, "eve", "operator", PW).await;
    for i in 1..=5 {
        let (to, cookie) = sign_in(&gw.admin, "eve", "wrong password!").await;
        assert!(cookie.is_none());
        assert_eq!(
            to,
            if i == 5 { "/?locked" } else { "/?denied" },
            "attempt {i}"
        );
    }
    let (to, _) = sign_in(&gw.admin, "eve", PW).await;
    assert_eq!(to, "/?locked");
    let locked = audit(&gw).await;
    assert!(
        locked
            .iter()
            .any(|e| e["action"] == "person.locked" && e["subject"] == "eve"),
        "{locked:?}"
    );
    // An admin unlocks by setting a new password.
    let (status, _) = root
        .ask(
            Method::PATCH,
            "/admin/people/eve",
            Some(json!({ "password": "another long password" })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        sign_in(&gw.admin, "eve", "another long password").await.0,
        "/"
    );

    // A personal token: no higher than its maker's role, shown once, hashed at rest,
    // named in the audit log with the role it acted with.
    let eve = Session::open(&gw.admin, "eve", "another long password").await;
    let (status, v) = eve
        .ask(
            Method::POST,
            "/admin/tokens",
            Some(json!({ "label": "ci", "role": "admin" })),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (403, json!("role_forbidden"))
    );
    let (status, v) = eve
        .ask(
            Method::POST,
            "/admin/tokens",
            Some(json!({ "label": "ci", "role": "viewer", "expires_in": 3600 })),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let secret = v["secret"].as_str().unwrap().to_string();
    let id = v["token"]["id"].as_str().unwrap().to_string();
    assert!(secret.starts_with("sbp_"));
    let conn = rusqlite::Connection::open(&store).unwrap();
    let kept: String = conn
        .query_row(
            "SELECT hash FROM switchboard_grants WHERE id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, sha256_hex(&secret));
    let admin_url = |p: &str| format!("{}{p}", gw.admin);
    let r = gw
        .ask(Method::GET, &admin_url("/admin/config"), &secret, None)
        .await;
    assert_eq!(r.status(), 200);
    let r = gw
        .ask(Method::POST, &admin_url("/admin/reload"), &secret, None)
        .await;
    assert_eq!(r.status(), 403);
    // A token makes no tokens (a leaked one cannot outlive its revocation).
    let r = gw
        .ask(
            Method::POST,
            &admin_url("/admin/tokens"),
            &secret,
            Some(&json!({})),
        )
        .await;
    assert_eq!(r.status(), 403);
    let (_, listed) = eve.ask(Method::GET, "/admin/tokens", None).await;
    assert_eq!(listed["tokens"][0]["id"], json!(id));
    assert!(listed.to_string().find(&secret).is_none());
    let entry = audit(&gw)
        .await
        .into_iter()
        .find(|e| e["action"] == "token.create")
        .unwrap();
    assert_eq!(entry["actor"], "eve (operator)");
    // An operator's change, through a session, names them and their role.
    let (status, _) = eve.ask(Method::POST, "/admin/cache/clear", None).await;
    assert!(status == 200, "{status}");

    // Disabling a person ends their sessions and tokens at once.
    let (status, _) = root.ask(Method::DELETE, "/admin/people/eve", None).await;
    assert_eq!(status, 200);
    let r = gw
        .ask(Method::GET, &admin_url("/admin/config"), &secret, None)
        .await;
    assert_eq!(r.status(), 401);
    let (status, _) = eve.ask(Method::GET, "/admin/session", None).await;
    assert_eq!(status, 401);
    let who: Vec<_> = audit(&gw)
        .await
        .iter()
        .map(|e| e["actor"].clone())
        .collect();
    assert!(who.contains(&json!("root (admin)")), "{who:?}");
    // The admin token names itself too.
    assert!(who.contains(&json!("admin-token (admin)")), "{who:?}");

    // Per address: ten failures in a minute (eve's, the refused token's, these) and
    // this address is refused unheard, even with a right password.
    let mut tries = 0;
    while no_redirects_post(&gw.admin, "nobody", "guess guess guess").await != 429 {
        tries += 1;
        assert!(tries <= 10, "no throttle after {tries} failures");
    }
    assert!(tries >= 2, "throttled after {tries} more failures");
    assert_eq!(no_redirects_post(&gw.admin, "root", PW).await, 429);
}

async fn no_redirects_post(admin: &str, user: &str, password: &str) -> u16 {
    crate::people::no_redirects()
        .post(format!("{admin}/console/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(crate::people::form(user, password))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_person_is_signed_out_of_every_replica_within_a_second() {
    let (pg, mock) = (Postgres::start().await, Mock::start().await);
    let url = pg.url();
    let env = [("PG_URL", url.as_str())];
    let cfg = r#"
[store]
postgres_url_env = "PG_URL"

[providers.p]
adapter = "builtin:openai"
base_url = "{mock}/p/v1"

[models."m"]
targets = [{ provider = "p", model = "x" }]
"#;
    let a = start_env(&mock, "", cfg, &env).await;
    let b = start_env(&mock, "", cfg, &env).await;
    add_person(&a, "sam", "viewer", PW).await;
    // Made on one replica: signs in on the other within a second.
    let mut signed = None;
    for _ in 0..30 {
        let (to, cookie) = sign_in(&b.admin, "sam", PW).await;
        if to == "/" {
            signed = cookie;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cookie = signed.expect("sam signs in on the other replica");
    let on = |gw: &Gw| {
        let (admin, cookie) = (gw.admin.clone(), cookie.clone());
        async move { crate::people::session_status(&admin, &cookie).await }
    };
    // The session opened on B is good on A at once (read through).
    assert_eq!(on(&a).await, 200);
    assert_eq!(on(&b).await, 200);
    let r = a
        .ask(
            Method::DELETE,
            &format!("{}/admin/people/sam", a.admin),
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(on(&a).await, 401);
    let started = std::time::Instant::now();
    while on(&b).await != 401 {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "B still honours the session"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let kept = pg.psql("SELECT count(*) FROM switchboard_grants WHERE revoked_at IS NOT NULL");
    assert_eq!(kept.trim(), "1");
}

/// Guesses sent all at once meet the lock as guesses sent one by one do: each is
/// counted before its password is tried, and those past the fifth are not tried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_are_counted_before_they_are_tried() {
    let mock = Mock::start().await;
    let (text, _) = config("parallel");
    let gw = start(&mock, &text).await;
    add_person(&gw, "pat", "viewer", PW).await;
    let checks = |text: String| {
        text.lines()
            .find_map(|l| l.strip_prefix("switchboard_password_checks_total "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let before = checks(gw.metrics_text().await);
    let tries: Vec<_> = (0..9)
        .map(|i| {
            let admin = gw.admin.clone();
            tokio::spawn(async move { sign_in(&admin, "pat", &format!("wrong guess {i}")).await.0 })
        })
        .collect();
    let mut said = Vec::new();
    for t in tries {
        said.push(t.await.unwrap());
    }
    let denied = said.iter().filter(|s| *s == "/?denied").count();
    let locked = said.iter().filter(|s| *s == "/?locked").count();
    assert_eq!(denied + locked, 9, "{said:?}");
    // At most the five failures the lock allows were tried (one of them may say so).
    assert!(
        denied <= 5,
        "{denied} guesses were tried past the lock: {said:?}"
    );
    let entries = audit(&gw).await;
    let locks = entries
        .iter()
        .filter(|e| e["action"] == "person.locked")
        .count();
    assert_eq!(locks, 1, "{entries:?}");
    let tried = checks(gw.metrics_text().await) - before;
    assert!(
        tried <= 5,
        "{tried} passwords were checked for 9 parallel guesses"
    );
    assert_eq!(sign_in(&gw.admin, "pat", PW).await.0, "/?locked");
}

/// Sign-in comes from the console's own pages only, and a console session opened
/// with the admin token ends when that token is no longer the one in force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_same_origin_and_token_sessions_follow_the_token() {
    let mock = Mock::start().await;
    let (text, _) = config("origin");
    let gw = start(&mock, &text).await;
    add_person(&gw, "oli", "viewer", PW).await;
    let login = |headers: Vec<(&'static str, String)>, body: String| {
        let admin = gw.admin.clone();
        async move {
            let mut r = crate::people::no_redirects()
                .post(format!("{admin}/console/login"))
                .header("content-type", "application/x-www-form-urlencoded");
            for (k, v) in headers {
                r = r.header(k, v);
            }
            r.body(body).send().await.unwrap()
        }
    };
    for (name, value) in [
        ("origin", "http://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let r = login(
            vec![(name, value.to_string())],
            crate::people::form("oli", PW),
        )
        .await;
        assert_eq!(r.status(), 403, "{name}: {value}");
        assert!(r.headers().get("set-cookie").is_none());
    }
    let origin = format!("http://{}", gw.admin.trim_start_matches("http://"));
    let same = vec![
        ("origin", origin),
        ("sec-fetch-site", "same-origin".to_string()),
    ];
    let r = login(same, crate::people::form("oli", PW)).await;
    assert_eq!(r.headers()["location"], "/");

    // Another replica on the same store with another admin token: a session the
    // first one's token opened is not its.
    let other = start_env(
        &mock,
        "",
        &text,
        &[("ADMIN_TOKEN", "a-different-admin-token")],
    )
    .await;
    let r = login(vec![], format!("token={ADMIN_TOKEN}")).await;
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let status = crate::people::session_status;
    assert_eq!(status(&gw.admin, &cookie).await, 200);
    assert_eq!(status(&other.admin, &cookie).await, 401);
}
