//! People and roles: local accounts (Argon2id in the store, sign-in throttled per
//! address and locked per account, the lock audited), personal API tokens, sessions
//! revoked with their person, the permission table enforced for every admin endpoint
//! and every role, and team roles scoped to their team's keys and usage.

use reqwest::Method;
use serde_json::{Value, json};
use switchboard::access::people::{Perm, Role};
use switchboard::server::permissions::TABLE;

use crate::common::*;
use crate::mock::Mock;

pub fn config(name: &str) -> (String, std::path::PathBuf) {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("people-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = dir.join("store.db");
    let text = format!(
        r#"
[store]
sqlite_path = {store:?}

[usage]
sqlite_path = {usage:?}

[[teams]]
name = "pay"
models = ["m"]

[[teams]]
name = "ops"

[providers.p]
adapter = "builtin:openai"
base_url = "{{mock}}/p/v1"

[models."m"]
targets = [{{ provider = "p", model = "x" }}]

[models."n"]
targets = [{{ provider = "p", model = "y" }}]
"#,
        store = store.display().to_string(),
        usage = dir.join("usage.db").display().to_string(),
    );
    (text, store)
}

/// A sign-in form's body.
pub fn form(user: &str, password: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("user", user)
        .append_pair("password", password)
        .finish()
}

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `POST /console/login` with a name and password: where it sends the browser, and
/// the session cookie it set.
pub async fn sign_in(admin: &str, user: &str, password: &str) -> (String, Option<String>) {
    let r = no_redirects()
        .post(format!("{admin}/console/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(crate::people::form(user, password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r
        .headers()
        .get("set-cookie")
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_string());
    (
        r.headers()["location"].to_str().unwrap().to_string(),
        cookie,
    )
}

/// A signed-in console session: its cookie and CSRF token.
pub struct Session {
    pub admin: String,
    pub cookie: String,
    pub csrf: String,
}

impl Session {
    pub async fn open(admin: &str, user: &str, password: &str) -> Session {
        let (to, cookie) = sign_in(admin, user, password).await;
        assert_eq!(to, "/", "{user} signs in");
        let cookie = cookie.expect("a session cookie");
        let s: Value = no_redirects()
            .get(format!("{admin}/admin/session"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Session {
            admin: admin.to_string(),
            cookie,
            csrf: s["csrf"].as_str().unwrap().to_string(),
        }
    }

    pub async fn ask(&self, m: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = no_redirects()
            .request(m, format!("{}{path}", self.admin))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

/// What `GET /admin/session` answers this session cookie with.
pub async fn session_status(admin: &str, cookie: &str) -> u16 {
    no_redirects()
        .get(format!("{admin}/admin/session"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A person made through the admin token.
pub async fn add_person(gw: &Gw, name: &str, role: &str, password: &str) {
    let body = json!({ "name": name, "role": role, "password": password });
    let (status, v) = gw
        .admin_json(Method::POST, "/admin/people", Some(body))
        .await;
    assert_eq!(status, 201, "{v}");
}

const PW: &str = "correct horse battery";

/// A concrete path for a table pattern.
fn concrete(pattern: &str) -> String {
    pattern.replace("**", "x").replace('*', "x")
}

#[tokio::test]
async fn every_admin_endpoint_gives_each_role_exactly_what_the_table_says() {
    let mock = Mock::start().await;
    let (text, _) = config("table");
    let gw = start(&mock, &text).await;
    let roles = [
        "viewer",
        "team-member:pay",
        "team-admin:pay",
        "operator",
        "admin",
    ];
    let mut sessions = Vec::new();
    for (i, role) in roles.iter().enumerate() {
        let name = format!("person{i}");
        add_person(&gw, &name, role, PW).await;
        sessions.push((
            Role::parse(role).unwrap(),
            Session::open(&gw.admin, &name, PW).await,
        ));
    }
    let mut checked = 0;
    for (role, s) in &sessions {
        for e in TABLE {
            let path = concrete(e.path);
            let m = Method::from_bytes(e.method.as_str().as_bytes()).unwrap();
            let body = (m != Method::GET).then(|| json!({}));
            let (status, v) = s.ask(m.clone(), &path, body).await;
            let refused = status == 403 && v["error"]["code"] == "role_forbidden";
            let scoped = matches!(
                e.perm,
                Perm::Keys | Perm::KeysWrite | Perm::Usage | Perm::Own
            );
            if role.may(e.perm) {
                // Allowed: the handler ran (a scoped endpoint may still refuse one key
                // out of the role's scope, never the endpoint itself).
                assert!(!refused || scoped, "{role} was refused {m} {path}: {v}");
                assert!(
                    !v["error"]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("Unknown admin URL"),
                    "{m} {path} is in the table but reaches no handler: {v}"
                );
            } else {
                assert!(refused, "{role} was let through {m} {path}: {status} {v}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, TABLE.len() * roles.len());
    // Nothing outside the table is served, whatever the role.
    let admin = &sessions[4].1;
    let (status, _) = admin.ask(Method::PUT, "/admin/keys", Some(json!({}))).await;
    assert_eq!(status, 405);
    let (status, v) = admin.ask(Method::GET, "/admin/secret-door", None).await;
    assert_eq!(status, 404, "{v}");
    // The session says who is signed in, with which role and what it may do.
    let (_, v) = sessions[0].1.ask(Method::GET, "/admin/session", None).await;
    assert_eq!(v["actor"], "person0 (viewer)");
    assert_eq!(
        v["can"],
        json!({ "read": true, "operate": false, "admin": false, "keys_write": false })
    );
}

#[tokio::test]
async fn team_roles_manage_only_their_teams_keys_and_see_only_their_usage() {
    let mock = Mock::start().await;
    let (text, _) = config("teams");
    let gw = start(&mock, &text).await;
    add_person(&gw, "lead", "team-admin:pay", PW).await;
    add_person(&gw, "dev", "team-member:pay", PW).await;
    add_person(&gw, "other", "team-member:pay", PW).await;
    let lead = Session::open(&gw.admin, "lead", PW).await;
    let dev = Session::open(&gw.admin, "dev", PW).await;
    let other = Session::open(&gw.admin, "other", PW).await;
    // The operator's key of another team.
    let (_, ops) = gw
        .admin_json(
            Method::POST,
            "/admin/keys",
            Some(json!({ "name": "ops-key", "team": "ops" })),
        )
        .await;
    let ops_id = ops["key"]["id"].as_str().unwrap().to_string();

    // A team admin's key is their team's, within the team's models.
    let (status, made) = lead
        .ask(
            Method::POST,
            "/admin/keys",
            Some(json!({ "name": "pay-1" })),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["key"]["team"], "pay");
    assert_eq!(made["key"]["models"], json!(["m"]));
    assert_eq!(made["key"]["owner"], "lead");
    let (status, v) = lead
        .ask(
            Method::POST,
            "/admin/keys",
            Some(json!({ "name": "x", "team": "ops" })),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].clone()),
        (403, json!("role_forbidden")),
        "{v}"
    );
    let (status, _) = lead
        .ask(
            Method::POST,
            "/admin/keys",
            Some(json!({ "name": "y", "models": ["n"] })),
        )
        .await;
    assert_eq!(status, 403);
    for field in [
        json!({ "policies": [] }),
        json!({ "tags": ["vip"] }),
        json!({ "user": "ceo" }),
        json!({ "user_from": "body" }),
    ] {
        let mut body = json!({ "name": "z" });
        body.as_object_mut()
            .unwrap()
            .extend(field.as_object().unwrap().clone());
        let (status, v) = lead.ask(Method::POST, "/admin/keys", Some(body)).await;
        assert_eq!(status, 403, "a team admin sets no {field}: {v}");
    }
    // Another team's key: not listed, not readable, not changeable.
    let (_, list) = lead.ask(Method::GET, "/admin/keys", None).await;
    let names: Vec<_> = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("pay-1")]);
    for (m, path) in [
        (Method::GET, format!("/admin/keys/{ops_id}")),
        (Method::PATCH, format!("/admin/keys/{ops_id}")),
        (Method::POST, format!("/admin/keys/{ops_id}/rotate")),
        (Method::DELETE, format!("/admin/keys/{ops_id}")),
    ] {
        let (status, v) = lead.ask(m.clone(), &path, Some(json!({}))).await;
        assert_eq!(status, 403, "{m} {path}: {v}");
    }
    // Moving a key to another team is refused too.
    let pay_id = made["key"]["id"].as_str().unwrap().to_string();
    let (status, _) = lead
        .ask(
            Method::PATCH,
            &format!("/admin/keys/{pay_id}"),
            Some(json!({ "team": "ops" })),
        )
        .await;
    assert_eq!(status, 403);

    // Team members see and change their own keys only.
    let (status, mine) = dev
        .ask(
            Method::POST,
            "/admin/keys",
            Some(json!({ "name": "dev-1" })),
        )
        .await;
    assert_eq!(status, 201, "{mine}");
    let dev_id = mine["key"]["id"].as_str().unwrap().to_string();
    let (_, list) = other.ask(Method::GET, "/admin/keys", None).await;
    assert_eq!(list["keys"], json!([]));
    let (status, _) = other
        .ask(Method::DELETE, &format!("/admin/keys/{dev_id}"), None)
        .await;
    assert_eq!(status, 403);
    let (status, _) = other
        .ask(Method::GET, &format!("/admin/keys/{dev_id}/limits"), None)
        .await;
    assert_eq!(status, 403);
    let (status, limits) = dev
        .ask(Method::GET, &format!("/admin/keys/{dev_id}/limits"), None)
        .await;
    assert_eq!(
        (status, limits["key"].clone()),
        (200, json!("dev-1")),
        "{limits}"
    );
    let (_, list) = lead.ask(Method::GET, "/admin/keys", None).await;
    assert_eq!(list["keys"].as_array().unwrap().len(), 2, "{list}");

    // Usage: each sees their team's (a member: their own keys').
    let secret = mine["secret"].as_str().unwrap();
    let url = format!("{}/v1/chat/completions", gw.url);
    let body = json!({ "model": "m", "messages": user("hi") });
    assert_eq!(
        gw.ask(Method::POST, &url, secret, Some(&body))
            .await
            .status(),
        200
    );
    let ops_secret = ops["secret"].as_str().unwrap();
    assert_eq!(
        gw.ask(Method::POST, &url, ops_secret, Some(&body))
            .await
            .status(),
        200
    );
    let rows = |v: &Value| {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["key"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    let mut seen = Vec::new();
    for _ in 0..50 {
        let (_, v) = lead
            .ask(Method::GET, "/admin/usage?group=key&team=ops", None)
            .await;
        seen = rows(&v);
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen,
        vec!["dev-1"],
        "a team admin's usage is the team's, whatever it asks"
    );
    let (_, v) = other.ask(Method::GET, "/admin/usage?group=day", None).await;
    assert_eq!(rows(&v), Vec::<String>::new(), "{v}");
    let (_, v) = dev.ask(Method::GET, "/admin/usage?group=day", None).await;
    assert_eq!(rows(&v), vec!["dev-1"], "{v}");
    let all = gw.admin_get("/admin/usage?group=key").await;
    assert_eq!(rows(&all).len(), 2, "{all}");
}

/// The People and My account pages, and a viewer's console, in a real Chromium
/// (`tests/browser/people_check.py`): the viewer sees no change control and every
/// change it forces is 403; an admin lists people, makes a viewer token (shown once)
/// and revokes it; five wrong passwords lock an account and the page says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_people_pages_in_a_real_browser() {
    let mock = Mock::start().await;
    let (text, _) = config("browser");
    let gw = start(&mock, &text).await;
    add_person(&gw, "vera", "viewer", PW).await;
    add_person(&gw, "ada", "admin", PW).await;
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("people-screens");
    let args = vec![
        gw.admin.clone(),
        shots.display().to_string(),
        "vera".to_string(),
        PW.to_string(),
        "ada".to_string(),
        PW.to_string(),
    ];
    let stdout = run_browser_check("people_check.py", args).await;
    assert!(stdout.contains("people ok"), "{stdout}");
    // What the browser did is what the store says: the third account is locked, the
    // token made and revoked.
    let (_, people) = gw.admin_json(Method::GET, "/admin/people", None).await;
    let locked = people["people"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["locked_until"].is_u64())
        .count();
    assert_eq!(locked, 1, "{people}");
    let (_, tokens) = gw.admin_json(Method::GET, "/admin/tokens", None).await;
    let all = tokens["tokens"].as_array().unwrap();
    assert!(
        !all.is_empty() && all.iter().all(|t| t["revoked_at"].is_u64()),
        "{tokens}"
    );
    for page in ["people", "account", "locked", "viewer-routes"] {
        assert!(
            shots.join(format!("{page}.png")).exists(),
            "no screenshot of {page}"
        );
    }
}

/// A team admin gives the team's keys budgets of their own, within the cap an admin
/// set on the team; a `key_limit` budget policy holds each key to its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_admin_gives_keys_budgets_within_the_teams_cap() {
    let mock = Mock::start().await;
    let (text, _) = config("budgets");
    let text = text
        .replace(
            "[[teams]]\nname = \"pay\"\nmodels = [\"m\"]\n",
            "[[teams]]\nname = \"pay\"\nmodels = [\"m\"]\nkey_budget_cap = 0.05\npolicies = [\"key-budget\"]\n\n[policies.key-budget]\nplugin = \"builtin:budget\"\nsettings = { limit = 1.0, per = \"key\", key_limit = true, period = \"day\" }\n",
        )
        .replace(
            "targets = [{ provider = \"p\", model = \"x\" }]",
            "targets = [{ provider = \"p\", model = \"x\", input_price = 1000.0, output_price = 2000.0 }]",
        );
    let gw = start(&mock, &text).await;
    add_person(&gw, "lead", "team-admin:pay", PW).await;
    add_person(&gw, "dev", "team-member:pay", PW).await;
    let lead = Session::open(&gw.admin, "lead", PW).await;
    let dev = Session::open(&gw.admin, "dev", PW).await;
    let (status, v) = lead
        .ask(
            Method::POST,
            "/admin/keys",
            Some(json!({ "name": "big", "budget": 0.2 })),
        )
        .await;
    assert_eq!(status, 403, "above the cap: {v}");
    let (status, small) = lead
        .ask(
            Method::POST,
            "/admin/keys",
            Some(json!({ "name": "small", "budget": 0.04 })),
        )
        .await;
    assert_eq!(status, 201, "{small}");
    let (_, free) = lead
        .ask(Method::POST, "/admin/keys", Some(json!({ "name": "free" })))
        .await;
    let id = small["key"]["id"].as_str().unwrap().to_string();
    // A member sets no budget, and no one but an admin removes one.
    let (status, _) = dev
        .ask(
            Method::POST,
            "/admin/keys",
            Some(json!({ "name": "mine", "budget": 0.01 })),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = lead
        .ask(
            Method::PATCH,
            &format!("/admin/keys/{id}"),
            Some(json!({ "budget": null })),
        )
        .await;
    assert_eq!(status, 403);
    // Each answer costs $0.025 and reserves ~$0.039 at max_tokens 7: the small key's
    // $0.04 lets one through, the team's other key has the policy's $1.
    let url = format!("{}/v1/chat/completions", gw.url);
    let body = json!({ "model": "m", "messages": user("hi"), "max_tokens": 7 });
    let ask = |secret: String| {
        let (gw, url, body) = (&gw, url.clone(), body.clone());
        async move {
            gw.ask(Method::POST, &url, &secret, Some(&body))
                .await
                .status()
                .as_u16()
        }
    };
    let small_secret = small["secret"].as_str().unwrap().to_string();
    let free_secret = free["secret"].as_str().unwrap().to_string();
    assert_eq!(ask(small_secret.clone()).await, 200);
    assert_eq!(ask(small_secret.clone()).await, 429);
    for _ in 0..3 {
        assert_eq!(ask(free_secret.clone()).await, 200);
    }
    let (_, limits) = lead
        .ask(Method::GET, &format!("/admin/keys/{id}/limits"), None)
        .await;
    assert_eq!(limits["policies"][0]["limit"], 0.04, "{limits}");
    // Tags are the gateway's to begin with switchboard: (a key cannot claim a budget).
    let (status, _) = gw
        .admin_json(
            Method::POST,
            "/admin/keys",
            Some(json!({ "name": "sly", "team": "pay", "tags": ["switchboard:budget=1000"] })),
        )
        .await;
    assert_eq!(status, 400);
    // The console shows a team admin the key's limits and refuses a budget above
    // the cap (Chromium, `tests/browser/limits_check.py`).
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("limits-screens");
    let args = [
        &gw.admin,
        &shots.display().to_string(),
        "lead",
        PW,
        "small",
        "0.0400",
        "0.2",
    ];
    let said = run_browser_check("limits_check.py", args.map(str::to_string).to_vec()).await;
    assert!(said.contains("limits ok"), "{said}");
}
