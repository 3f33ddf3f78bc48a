//! JWT `jti` replay store in PostgreSQL (`migrations/V2__jwt_replay.sql`): one row per
//! `(iss, jti)` until the token has expired; the retention task deletes expired rows.

use time::OffsetDateTime;

use super::StoreError;
use super::postgres::PgStore;

impl PgStore {
    /// Insert `(iss, jti)`; `true` when it was not there (first use), `false` on a replay.
    /// An expired row for the same pair is replaced (the token it belonged to can no longer verify).
    pub async fn remember_jti(
        &self,
        iss: &str,
        jti: &str,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let n = c
            .execute(
                "INSERT INTO jwt_replay (iss, jti, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (iss, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at
                 WHERE jwt_replay.expires_at < now()",
                &[&iss, &jti, &expires_at],
            )
            .await?;
        Ok(n == 1)
    }

    /// Delete rows of tokens that have expired; returns how many.
    pub async fn purge_expired_jti(&self) -> Result<u64, StoreError> {
        let c = self.client().await?;
        Ok(
            c.execute("DELETE FROM jwt_replay WHERE expires_at < now()", &[])
                .await?,
        )
    }
}
