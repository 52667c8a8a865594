//! Name claims: the AWS names each environment holds (see [`crate::names::claims`]).
//!
//! An environment's claims are replaced in the transaction that writes its spec, so a write
//! that would derive a name another environment holds fails and stores nothing. The primary
//! key (account, region, namespace, name) keeps two concurrent writes from both claiming one
//! name; the loser's unique violation is reported like any other claimed name.
//!
//! New claims are inserted in one order shared by every writer (the sorted order of
//! [`crate::names::claims::claims`]), before any are released, so two writers never wait on
//! each other in a cycle.

use sqlx::{Acquire, PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::StoreError;
use crate::names::claims::{claims, Claim};
use crate::spec::Environment;

/// Constraint whose violation means another environment claimed a name first.
const PRIMARY_KEY: &str = "name_claims_pkey";

/// How often a write looks again after losing a race for a name (the winner may have released
/// it since) before giving up with the database's error.
const ATTEMPTS: u32 = 3;

/// A claim as stored: (account, region, namespace, name).
type Key = (String, String, String, String);

/// Makes the claims of `env` (the stored object, with its uid) exactly the names it derives.
pub(super) async fn replace(
    tx: &mut Transaction<'_, Postgres>,
    env: &Environment,
) -> Result<(), StoreError> {
    let name = env.metadata.name.as_str();
    let uid = env
        .metadata
        .uid
        .ok_or_else(|| StoreError::Corrupt(name.to_owned(), "no uid".to_owned()))?;
    let wanted = claims(env);
    let held = held_by(tx, name).await?;
    let new: Vec<&Claim> = wanted
        .iter()
        .filter(|c| !held.iter().any(|k| is(c, k)))
        .collect();
    insert(tx, name, uid, &new).await?;
    let gone: Vec<&Key> = held
        .iter()
        .filter(|k| !wanted.iter().any(|c| is(c, k)))
        .collect();
    release(tx, name, &gone).await
}

fn is(claim: &Claim, key: &Key) -> bool {
    let (account, region, namespace, name) = key;
    claim.account == *account
        && claim.region == *region
        && claim.namespace.as_str() == namespace
        && claim.name == *name
}

async fn held_by(conn: &mut PgConnection, environment: &str) -> Result<Vec<Key>, StoreError> {
    let keys = sqlx::query_as(
        "SELECT account, region, namespace, name FROM name_claims WHERE environment = $1",
    )
    .bind(environment)
    .fetch_all(conn)
    .await?;
    Ok(keys)
}

/// Inserts `new`, or fails with [`StoreError::NameClaimed`] naming the first one another
/// environment holds.
async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    environment: &str,
    uid: Uuid,
    new: &[&Claim],
) -> Result<(), StoreError> {
    if new.is_empty() {
        return Ok(());
    }
    let mut attempt = 1;
    loop {
        if let Some(taken) = held_elsewhere(tx, environment, new).await? {
            return Err(taken);
        }
        // A savepoint, so that losing the race leaves the transaction usable for a second look.
        let mut savepoint = tx.begin().await?;
        match insert_rows(&mut savepoint, environment, uid, new).await {
            Ok(()) => return Ok(savepoint.commit().await?),
            Err(e) if lost_race(&e) && attempt < ATTEMPTS => {
                savepoint.rollback().await?;
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The first of `new` (in their order) that another environment holds.
async fn held_elsewhere(
    conn: &mut PgConnection,
    environment: &str,
    new: &[&Claim],
) -> Result<Option<StoreError>, StoreError> {
    let columns = Columns::of(new.iter().copied());
    let row: Option<(i64, String)> = sqlx::query_as(
        "SELECT c.n, h.environment \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) \
              WITH ORDINALITY AS c(account, region, namespace, name, n) \
         JOIN name_claims h USING (account, region, namespace, name) \
         WHERE h.environment <> $5 ORDER BY c.n LIMIT 1",
    )
    .bind(&columns.account)
    .bind(&columns.region)
    .bind(&columns.namespace)
    .bind(&columns.name)
    .bind(environment)
    .fetch_optional(conn)
    .await?;
    let Some((n, holder)) = row else {
        return Ok(None);
    };
    let claim = usize::try_from(n - 1).ok().and_then(|i| new.get(i));
    Ok(claim.map(|claim| StoreError::NameClaimed {
        name: claim.name.clone(),
        namespace: claim.namespace,
        holder,
    }))
}

/// One statement; rows go in in the order given.
async fn insert_rows(
    conn: &mut PgConnection,
    environment: &str,
    uid: Uuid,
    new: &[&Claim],
) -> Result<(), sqlx::Error> {
    let columns = Columns::of(new.iter().copied());
    sqlx::query(
        "INSERT INTO name_claims (account, region, namespace, name, environment, environment_uid) \
         SELECT account, region, namespace, name, $5, $6 \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) \
              AS c(account, region, namespace, name)",
    )
    .bind(&columns.account)
    .bind(&columns.region)
    .bind(&columns.namespace)
    .bind(&columns.name)
    .bind(environment)
    .bind(uid)
    .execute(conn)
    .await?;
    Ok(())
}

/// Another environment's claim on one of our names committed after we looked.
fn lost_race(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.is_unique_violation() && db.constraint() == Some(PRIMARY_KEY)
        }
        _ => false,
    }
}

async fn release(
    conn: &mut PgConnection,
    environment: &str,
    gone: &[&Key],
) -> Result<(), StoreError> {
    if gone.is_empty() {
        return Ok(());
    }
    let mut columns = Columns::default();
    for (account, region, namespace, name) in gone {
        columns.push(account, region, namespace, name);
    }
    sqlx::query(
        "DELETE FROM name_claims WHERE environment = $5 \
         AND (account, region, namespace, name) IN \
             (SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]))",
    )
    .bind(&columns.account)
    .bind(&columns.region)
    .bind(&columns.namespace)
    .bind(&columns.name)
    .bind(environment)
    .execute(conn)
    .await?;
    Ok(())
}

/// Claims as four parallel arrays, bound to one `UNNEST`.
#[derive(Default)]
struct Columns {
    account: Vec<String>,
    region: Vec<String>,
    namespace: Vec<String>,
    name: Vec<String>,
}

impl Columns {
    fn of<'a>(claims: impl Iterator<Item = &'a Claim>) -> Self {
        let mut columns = Self::default();
        for c in claims {
            columns.push(&c.account, &c.region, c.namespace.as_str(), &c.name);
        }
        columns
    }

    fn push(&mut self, account: &str, region: &str, namespace: &str, name: &str) {
        self.account.push(account.to_owned());
        self.region.push(region.to_owned());
        self.namespace.push(namespace.to_owned());
        self.name.push(name.to_owned());
    }
}
