//! Virtual keys in the PostgreSQL database of `[store]`, shared by every replica.

use super::VKey;
use crate::stores::pg::{Pg, error};

/// A stored row, as both stores read it.
pub struct Row {
    pub id: String,
    pub name: String,
    pub hash: String,
    pub team: Option<String>,
    pub models: Option<String>,
    pub tags: String,
    pub policies: String,
    pub metadata: String,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub updated: i64,
    pub owner: Option<String>,
    pub end_user: Option<String>,
    pub user_from: Option<String>,
    pub budget: Option<f64>,
}

impl Row {
    /// The key, unless the row is damaged (then it is left out, and cannot authenticate).
    pub fn key(self) -> Option<VKey> {
        let hash: [u8; 32] = hex::decode(&self.hash).ok()?.try_into().ok()?;
        Some(VKey {
            id: self.id,
            name: self.name,
            hash,
            team: self.team,
            models: match self.models {
                Some(m) => Some(serde_json::from_str(&m).ok()?),
                None => None,
            },
            tags: serde_json::from_str(&self.tags).ok()?,
            policies: serde_json::from_str(&self.policies).ok()?,
            metadata: serde_json::from_str(&self.metadata).ok()?,
            expires_at: self.expires_at.map(|e| e.max(0) as u64),
            created_at: self.created_at.max(0) as u64,
            revoked_at: self.revoked_at.map(|e| e.max(0) as u64),
            updated: self.updated,
            owner: self.owner,
            user: self.end_user,
            user_from_jwt: self.user_from.as_deref() == Some("jwt"),
            budget: self.budget,
        })
    }
}

pub async fn put(pg: &Pg, k: &VKey) -> Result<(), String> {
    let c = pg.client().await?;
    let models = k
        .models
        .as_ref()
        .map(|m| serde_json::to_string(m).unwrap_or_default());
    let tags = serde_json::to_string(&k.tags).unwrap_or_default();
    let policies = serde_json::to_string(&k.policies).unwrap_or_default();
    c.execute(
        "INSERT INTO switchboard_virtual_keys (id, name, hash, team, models, tags, policies, metadata, expires_at, created_at, revoked_at, updated, owner, end_user, user_from, budget)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         ON CONFLICT (id) DO UPDATE SET name = $2, hash = $3, team = $4, models = $5, tags = $6,
             policies = $7, metadata = $8, expires_at = $9, created_at = $10, revoked_at = $11, updated = $12,
             owner = $13, end_user = $14, user_from = $15, budget = $16",
        &[
            &k.id,
            &k.name,
            &hex::encode(k.hash),
            &k.team,
            &models,
            &tags,
            &policies,
            &k.metadata.to_string(),
            &k.expires_at.map(|e| e as i64),
            &(k.created_at as i64),
            &k.revoked_at.map(|e| e as i64),
            &k.updated,
            &k.owner,
            &k.user,
            &k.user_from_jwt.then_some("jwt"),
            &k.budget,
        ],
    )
    .await
    .map(drop)
    .map_err(error)
}

pub async fn changed(pg: &Pg, since: i64) -> Result<Vec<VKey>, String> {
    let c = pg.client().await?;
    let rows = c
        .query(
            "SELECT id, name, hash, team, models, tags, policies, metadata, expires_at, created_at, revoked_at, updated, owner, end_user, user_from, budget
             FROM switchboard_virtual_keys WHERE updated >= $1",
            &[&since],
        )
        .await
        .map_err(error)?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Row {
                id: r.get(0),
                name: r.get(1),
                hash: r.get(2),
                team: r.get(3),
                models: r.get(4),
                tags: r.get(5),
                policies: r.get(6),
                metadata: r.get(7),
                expires_at: r.get(8),
                created_at: r.get(9),
                revoked_at: r.get(10),
                updated: r.get(11),
                owner: r.get(12),
                end_user: r.get(13),
                user_from: r.get(14),
                budget: r.get(15),
            }
            .key()
        })
        .collect())
}
