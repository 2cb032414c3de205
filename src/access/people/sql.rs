//! The statements the people tables are read and written with (one text for SQLite
//! and PostgreSQL, `$N` named in ascending order of first appearance), and rows read
//! back into people and grants.

use super::store::{Ty, Val};
use super::{Grant, GrantKind, Origin, Person, Role};

pub(super) const FINGERPRINT: &str = "SELECT
  (SELECT COUNT(*) || ':' || COALESCE(SUM(updated), 0) FROM switchboard_people) || '/' ||
  (SELECT COUNT(*) || ':' || COALESCE(SUM(updated), 0) FROM switchboard_grants)";
pub(super) const PEOPLE: &str =
    "SELECT name, role, origin, password, created_at, disabled_at, locked_until
  FROM switchboard_people";
pub(super) const PERSON_TYPES: &[Ty] = &[Ty::T, Ty::T, Ty::T, Ty::T, Ty::I, Ty::I, Ty::I];
/// Grants still of use (revoked ones stay a day, to be listed).
pub(super) const GRANTS: &str =
    "SELECT id, kind, person, role, hash, csrf, label, origin, created_at,
  expires_at, revoked_at FROM switchboard_grants WHERE expires_at > $1";
pub(super) const GRANT_BY_HASH: &str = "SELECT id, kind, person, role, hash, csrf, label, origin,
  created_at, expires_at, revoked_at FROM switchboard_grants WHERE hash = $1";
pub(super) const GRANT_TYPES: &[Ty] = &[
    Ty::T,
    Ty::T,
    Ty::T,
    Ty::T,
    Ty::T,
    Ty::T,
    Ty::T,
    Ty::T,
    Ty::I,
    Ty::I,
    Ty::I,
];
pub(super) const ADD_PERSON: &str = "INSERT INTO switchboard_people
  (name, role, origin, password, created_at, updated) VALUES ($1, $2, $3, $4, $5, $6)";
/// A person single sign-on vouches for: made, or their role brought up to date — only
/// when the name is theirs (the same issuer and subject), never a local account.
pub(super) const SSO_PERSON: &str = "INSERT INTO switchboard_people
  (name, role, origin, subject, created_at, updated) VALUES ($1, $2, 'sso', $3, $4, $5)
  ON CONFLICT (name) DO UPDATE SET role = excluded.role, updated = excluded.updated
  WHERE switchboard_people.origin = 'sso' AND switchboard_people.subject = excluded.subject";
pub(super) const SET_ROLE: &str =
    "UPDATE switchboard_people SET role = $1, updated = $2 WHERE name = $3";
pub(super) const SET_PASSWORD: &str = "UPDATE switchboard_people SET password = $1, failures = 0,
  locked_until = NULL, updated = $2 WHERE name = $3";
pub(super) const DISABLE: &str =
    "UPDATE switchboard_people SET disabled_at = $1, updated = $2 WHERE name = $3";
pub(super) const ENABLE: &str = "UPDATE switchboard_people SET disabled_at = NULL, failures = 0,
  locked_until = NULL, updated = $1 WHERE name = $2";
/// A sign-in's strike, counted before the password is tried (a lock that has run out
/// starts the count again), and the account as it then is.
pub(super) const STRIKE: &str = "UPDATE switchboard_people SET
  failures = CASE WHEN locked_until IS NOT NULL AND locked_until <= $1 THEN 1 ELSE failures + 1 END,
  locked_until = CASE WHEN locked_until IS NOT NULL AND locked_until <= $1 THEN NULL ELSE locked_until END
  WHERE name = $2
  RETURNING name, role, origin, password, created_at, disabled_at, locked_until, failures";
pub(super) const STRIKE_TYPES: &[Ty] = &[Ty::T, Ty::T, Ty::T, Ty::T, Ty::I, Ty::I, Ty::I, Ty::I];
/// Locks an account that has failed often enough; one row changed: this failure did.
pub(super) const LOCK: &str = "UPDATE switchboard_people SET locked_until = $1, updated = $2
  WHERE name = $3 AND locked_until IS NULL AND failures >= $4";
pub(super) const SUCCEEDED: &str = "UPDATE switchboard_people SET failures = 0, locked_until = NULL
  WHERE name = $1";
pub(super) const ADD_GRANT: &str = "INSERT INTO switchboard_grants
  (id, kind, person, role, hash, csrf, label, origin, created_at, expires_at, updated)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
pub(super) const REVOKE: &str = "UPDATE switchboard_grants SET revoked_at = $1, updated = $2
  WHERE id = $3 AND revoked_at IS NULL";
pub(super) const REVOKE_ALL: &str = "UPDATE switchboard_grants SET revoked_at = $1, updated = $2
  WHERE person = $3 AND revoked_at IS NULL";
pub(super) const FORGET: &str = "DELETE FROM switchboard_grants WHERE expires_at < $1";

pub(super) fn person_of(row: &[Val]) -> Option<Person> {
    let secs = |v: &Val| v.int().map(|i| i.max(0) as u64);
    Some(Person {
        name: row[0].text()?.to_string(),
        role: Role::parse(row[1].text()?)?,
        origin: if row[2].text()? == "sso" {
            Origin::Sso
        } else {
            Origin::Local
        },
        password: row[3].text().map(str::to_string),
        created_at: secs(&row[4]).unwrap_or(0),
        disabled_at: secs(&row[5]),
        locked_until: secs(&row[6]),
    })
}

pub(super) fn grant_of(row: &[Val]) -> Option<Grant> {
    let text = |i: usize| row[i].text().map(str::to_string);
    let secs = |i: usize| row[i].int().map(|v| v.max(0) as u64);
    Some(Grant {
        id: text(0)?,
        kind: if text(1)? == "token" {
            GrantKind::Token
        } else {
            GrantKind::Session
        },
        person: text(2)?,
        role: Role::parse(row[3].text()?)?,
        hash: text(4)?,
        csrf: text(5)?,
        label: text(6),
        origin: text(7)?,
        created_at: secs(8)?,
        expires_at: secs(9)?,
        revoked_at: secs(10),
    })
}
