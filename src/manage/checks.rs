//! The registry's changes that are not an object's body: a provider's key checked
//! with one real call, the master key rotated, and scheduled retirements audited.

use serde_json::{Value, json};

use super::{ManageError, audit};
use crate::gateway::Gateway;
use crate::live::LiveState;

/// `POST /admin/providers/{name}/verify`: one real call with the key in force.
pub async fn verify(gw: &Gateway, name: &str, model: Option<&str>) -> Result<String, ManageError> {
    let live = gw.live.load_full();
    if !live.providers.contains_key(name) {
        return Err(ManageError::NotFound(format!("no provider '{name}'")));
    }
    let said = crate::manage::probe::verify(&live, name, model)
        .await
        .map_err(|e| ManageError::Verification(format!("provider '{name}': {e}")))?;
    if gw.registry.snapshot().credentials.contains_key(name) {
        gw.registry.verified(name).await?;
    }
    Ok(said)
}

/// `POST /admin/credentials/rotate`: every credential sealed under the current key.
pub async fn rotate(gw: &Gateway, actor: &str) -> Result<Value, ManageError> {
    let (n, shut) = gw.registry.rotate().await?;
    let key_id = gw.registry.master_key()?.id;
    audit(
        gw,
        actor,
        "credentials.rotate".into(),
        "master key",
        None,
        Some(json!({ "key_id": key_id, "resealed": n })),
    )
    .await;
    Ok(json!({ "resealed": n, "key_id": key_id, "unreadable": shut }))
}

/// Models whose scheduled retirement passed between `before` and the state now in
/// force, audited (actor `schedule`).
pub async fn scheduled(gw: &Gateway, before: &LiveState) {
    let now = crate::pipeline::now_secs() as i64;
    for r in before.config.routes.values() {
        let (was, is) = (
            r.lifecycle.state_at(before.built_at),
            r.lifecycle.state_at(now),
        );
        if was != is && crate::config::lifecycle::pinned(&r.name).is_none() {
            audit(
                gw,
                "schedule",
                "model.retire".into(),
                &r.name,
                Some(json!({ "state": was.as_str() })),
                Some(json!({ "state": is.as_str() })),
            )
            .await;
        }
    }
}
