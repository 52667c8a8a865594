//! API tokens: random secrets shown once, stored only as SHA-256 hashes, each with a role.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Store, StoreError};

const PREFIX: &str = "plumb_";

/// What a token may do. Ordered: each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read everything.
    Viewer,
    /// Read, and write environments.
    Editor,
    /// Everything, including tokens and git sources.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Editor => "editor",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Self::Viewer),
            "editor" => Ok(Self::Editor),
            "admin" => Ok(Self::Admin),
            other => Err(format!(
                "unknown role {other:?}: expected viewer, editor or admin"
            )),
        }
    }
}

/// A token's identity, as known after authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
}

/// A freshly created token: `secret` is shown once and never stored.
pub struct NewToken {
    pub token: Token,
    pub secret: String,
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewToken")
            .field("token", &self.token)
            .field("secret", &"<redacted>")
            .finish()
    }
}

fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

impl Store {
    /// Creates a token with 256 random bits.
    pub async fn create_token(&self, name: &str, role: Role) -> Result<NewToken, StoreError> {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let secret = format!("{PREFIX}{}", hex::encode(bytes));
        let id = Uuid::new_v4();
        sqlx::query("INSERT INTO api_tokens (id, name, role, token_hash) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(name)
            .bind(role.as_str())
            .bind(hash(&secret))
            .execute(self.pool())
            .await?;
        Ok(NewToken {
            token: Token {
                id,
                name: name.to_owned(),
                role,
            },
            secret,
        })
    }

    /// The live token whose secret this is. The lookup is by hash, so the comparison never
    /// touches the secret itself.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Token>, StoreError> {
        if !secret.starts_with(PREFIX) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id, name, role FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash(secret))
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            let role: String = row.try_get("role")?;
            Ok(Token {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                role: role
                    .parse()
                    .map_err(|e: String| StoreError::Corrupt("api_tokens".to_owned(), e))?,
            })
        })
        .transpose()
    }

    /// Revokes a token; it stops working at once.
    pub async fn revoke_token(&self, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
