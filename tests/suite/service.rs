//! The gateway as a service: readiness a load balancer can act on while a replica
//! drains, and the container image — built with podman, mounted, and its entrypoint run
//! from the mounted root as an unprivileged user — answering a chat completion.

use serde_json::{Value, json};

use crate::common::*;
use crate::mock::Mock;

/// `GET /ready` on both listeners: 200 while the replica should get traffic; on
/// shutdown 503 `draining` for `drain_delay` while requests are still taken, then the
/// listeners close.
#[tokio::test]
async fn ready_says_draining_before_the_listeners_close() {
    let mock = Mock::start().await;
    let text = "[server]\ndrain_delay = \"1s\"\n\n[providers.p]\nadapter = \"builtin:openai\"\nbase_url = \"{mock}/p/v1\"\n\n[models.m]\ntargets = [{ provider = \"p\", model = \"x\" }]\n";
    // The test config's [server] comes first; this one's settings are added to it.
    let text = config_text(&mock, "").replace(
        "shutdown_grace = \"5s\"",
        "shutdown_grace = \"5s\"\ndrain_delay = \"1s\"",
    ) + &text
        .replace("[server]\ndrain_delay = \"1s\"\n\n", "")
        .replace("{mock}", &format!("http://{}", mock.addr));
    let env = env_map();
    let config = switchboard::config::Config::parse(&text, std::path::Path::new("."), &move |k| {
        env.get(k).cloned()
    })
    .unwrap();
    assert_eq!(config.server.drain_delay, std::time::Duration::from_secs(1));
    let env = env_map();
    let long = switchboard::config::Config::parse(
        &text.replace("drain_delay = \"1s\"", "drain_delay = \"10m\""),
        std::path::Path::new("."),
        &move |k| env.get(k).cloned(),
    );
    assert!(long.unwrap_err().to_string().contains("at most 300s"));
    let running = switchboard::app::start(config).await.unwrap();
    let (api, admin) = (
        format!("http://{}", running.api_addr),
        format!("http://{}", running.admin_addr.unwrap()),
    );
    let client = reqwest::Client::new();
    for base in [&api, &admin] {
        let r = client.get(format!("{base}/ready")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap()["status"], "ready");
    }
    let stopping = tokio::spawn(running.shutdown());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let r = client.get(format!("{api}/ready")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "draining");
    let r = client
        .post(format!("{api}/v1/chat/completions"))
        .json(&json!({ "model": "m", "messages": user("still here") }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a draining replica still serves");
    stopping.await.unwrap();
    assert!(client.get(format!("{api}/ready")).send().await.is_err());
}

/// Runs `cmd` with `args`; its standard output, or a panic with what it said.
fn run(cmd: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e} (.ci/run installs it)"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// What the image test set up, taken down in reverse however the test ends.
struct Mounted {
    image: String,
    root: String,
    binds: Vec<String>,
    child: Option<std::process::Child>,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for b in self.binds.iter().rev() {
            let _ = std::process::Command::new("umount").arg(b).output();
        }
        let _ = std::process::Command::new("podman")
            .args(["image", "unmount", &self.image])
            .output();
        let _ = std::process::Command::new("podman")
            .args(["rmi", "-f", &self.image])
            .output();
        let _ = &self.root;
    }
}

/// The image of `Containerfile`, built from the test binary (static, as every build
/// here: `.cargo/config.toml`) and the shipped config, mounted; its volumes bound to
/// fresh directories and /dev and /proc given as a container runtime would; its entrypoint run from the mounted
/// root as user 65532 with nothing of the host's environment — and it answers a chat
/// completion from the demo model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_runs_unprivileged_from_scratch_and_answers() {
    let _heavy = cpu_heavy_async().await;
    let repo = env!("CARGO_MANIFEST_DIR");
    let tmp = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("image-{}", std::process::id()));
    let ctx = tmp.join("context");
    run(
        &format!("{repo}/deploy/image/stage.sh"),
        &[env!("CARGO_BIN_EXE_switchboard"), ctx.to_str().unwrap()],
    );
    // The shipped config, on ports of this test's own.
    let (api, admin, demo) = (free_port(), free_port(), free_port());
    let config = ctx.join("rootfs/etc/switchboard/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("listen = \"0.0.0.0:8080\""), "{text}");
    let text = text
        .replace("0.0.0.0:8080", &format!("127.0.0.1:{api}"))
        .replace("0.0.0.0:9090", &format!("127.0.0.1:{admin}"))
        .replace("127.0.0.1:8089", &format!("127.0.0.1:{demo}"));
    std::fs::write(&config, text).unwrap();
    let image = format!("localhost/switchboard-test:{}", std::process::id());
    run(
        "podman",
        &["build", "-q", "-t", &image, ctx.to_str().unwrap()],
    );
    let root = run("podman", &["image", "mount", &image]);
    let mut m = Mounted {
        image,
        root: root.clone(),
        binds: Vec::new(),
        child: None,
    };
    let entry: Vec<String> = serde_json::from_str(&run(
        "podman",
        &[
            "image",
            "inspect",
            "--format",
            "{{json .Config.Entrypoint}}",
            &m.image,
        ],
    ))
    .unwrap();
    let cmd: Vec<String> = serde_json::from_str(&run(
        "podman",
        &[
            "image",
            "inspect",
            "--format",
            "{{json .Config.Cmd}}",
            &m.image,
        ],
    ))
    .unwrap();
    let runs_as = run(
        "podman",
        &["image", "inspect", "--format", "{{.Config.User}}", &m.image],
    );
    assert_eq!(runs_as, "65532:65532");
    // What a container runtime gives every container: /dev and /proc.
    for dir in ["dev", "proc"] {
        let at = format!("{root}/{dir}");
        run("mount", &["--bind", &format!("/{dir}"), &at]);
        m.binds.push(at);
    }
    for dir in ["var/lib/switchboard", "var/cache/switchboard", "tmp"] {
        let vol = tmp.join("volumes").join(dir.replace('/', "-"));
        std::fs::create_dir_all(&vol).unwrap();
        run("chown", &["65532:65532", vol.to_str().unwrap()]);
        let at = format!("{root}/{dir}");
        run("mount", &["--bind", vol.to_str().unwrap(), &at]);
        m.binds.push(at);
    }
    let mut args = vec![format!("--userspec={runs_as}"), root.clone()];
    args.extend(entry.into_iter().chain(cmd));
    let child = std::process::Command::new("/usr/sbin/chroot")
        .args(&args)
        .env_clear()
        .env("HOME", "/var/lib/switchboard")
        .env("XDG_CACHE_HOME", "/var/cache")
        .env("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
        .current_dir("/")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    m.child = Some(child);
    switchboard::app::init_crypto();
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..600 {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{api}/ready"))
            .send()
            .await
            && r.status() == 200
        {
            ready = true;
            break;
        }
        if let Some(status) = m.child.as_mut().unwrap().try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            let _ = m
                .child
                .as_mut()
                .unwrap()
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err);
            panic!("the image's entrypoint exited {status}: {err}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "the image's gateway never became ready");
    let r = client
        .post(format!("http://127.0.0.1:{api}/v1/chat/completions"))
        .json(&json!({ "model": "demo", "messages": user("hello from the image") }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["choices"][0]["message"]["content"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{v}"
    );
    // It ran as 65532, not root: what it wrote is that user's.
    let store = tmp.join("volumes/var-lib-switchboard/store.db");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&store).unwrap().uid(), 65532);
}
