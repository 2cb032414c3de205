//! `switchboard users add|list`: accounts written straight into the config's `[store]`
//! (the first admin, before anyone can sign in to make one).

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use super::{People, Role};
use crate::config::Config;

#[derive(clap::Subcommand)]
pub enum UsersCommand {
    /// Add a local account. The password is read from standard input (one line), or
    /// made and printed once when standard input is a terminal or empty.
    Add {
        #[command(flatten)]
        config: ConfigPath,
        name: String,
        /// admin, operator, viewer, team-admin:TEAM or team-member:TEAM.
        #[arg(long)]
        role: String,
    },
    /// List the accounts (name, role, origin, state).
    List(ConfigPath),
}

#[derive(clap::Args)]
pub struct ConfigPath {
    /// The config file.
    #[arg(short, long, env = "SWITCHBOARD_CONFIG", default_value = "config.toml")]
    config: PathBuf,
}

/// Runs `switchboard users …`.
pub async fn run(command: UsersCommand) -> Result<(), String> {
    match command {
        UsersCommand::Add { config, name, role } => {
            add(&config.config, &name, &role, password_from_stdin()).await
        }
        UsersCommand::List(c) => list(&c.config).await,
    }
}

/// The password on standard input (one line), unless it is a terminal or empty.
fn password_from_stdin() -> Option<String> {
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
