//! `switchboard users add|list`: accounts written straight into the config's `[store]`
//! (the first admin, before anyone can sign in to make one).

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use super::{People, Role};
use crate::config::Config;

/// The password on standard input (one line), unless it is a terminal or empty.
pub fn password_from_stdin() -> Option<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return None;
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).ok()?;
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    (!line.is_empty()).then_some(line)
}

async fn open(path: &Path) -> Result<People, String> {
    let config = Config::load(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if config.store.is_none() {
        return Err(format!(
            "{} has no [store]: accounts live in the store (sqlite_path or postgres_url)",
            path.display()
        ));
    }
    let people = People::default();
    people.configure(config.store.as_ref())?;
    people.refresh().await?;
    Ok(people)
}

pub async fn add(
    path: &Path,
    name: &str,
    role: &str,
    password: Option<String>,
) -> Result<(), String> {
    let role = Role::parse(role).ok_or_else(|| {
        format!(
            "'{role}' is not a role: admin, operator, viewer, team-admin:TEAM or team-member:TEAM"
        )
    })?;
    let people = open(path).await?;
    let made = password.is_none();
    let password = password.unwrap_or_else(|| format!("sb-{}", super::random_hex(12)));
    people.add(name, &role, &password).await?;
    if made {
        println!("{name} ({role}) added; password (shown once): {password}");
    } else {
        println!("{name} ({role}) added");
    }
    Ok(())
}

pub async fn list(path: &Path) -> Result<(), String> {
    for p in open(path).await?.list() {
        let state = match (p.disabled_at, p.locked_until) {
            (Some(_), _) => "disabled",
            (None, Some(u)) if u > super::now() => "locked",
            _ => "active",
        };
        let origin = serde_json::to_value(p.origin).unwrap_or_default();
        println!(
            "{}\t{}\t{}\t{state}",
            p.name,
            p.role,
            origin.as_str().unwrap_or_default()
        );
    }
    Ok(())
}
