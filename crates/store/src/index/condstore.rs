//! What CONDSTORE/QRESYNC ask of the index: the expunges after a MODSEQ, and from which MODSEQ
//! on the tombstones are complete.

use super::Index;
use crate::error::StoreError;

impl Index {
    /// UIDs expunged after `modseq` (their tombstones' MODSEQ is above it), ascending.
    pub(crate) async fn expunged_since(&mut self, modseq: u64) -> Result<Vec<u32>, StoreError> {
        let uids: Vec<i64> = sqlx::query_scalar(
            "SELECT uid FROM messages WHERE expunged = 1 AND modseq > ? ORDER BY uid",
        )
        .bind(i64::try_from(modseq).unwrap_or(i64::MAX))
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(|e| StoreError::index(&self.path, e))?;
        Ok(uids
            .into_iter()
            .filter_map(|u| u32::try_from(u).ok())
            .collect())
    }

    /// The lowest MODSEQ after which every expunge has a tombstone.
    ///
    /// Tombstones are never deleted one by one; they are lost only with the whole index, and a
    /// rebuilt index starts its MODSEQ at the clock (see `rebuild`), above anything the lost
    /// one handed out. So every row's MODSEQ is at least the index's first one, and all
    /// expunges after the smallest MODSEQ of any row (live or tombstone) are recorded. Without
    /// rows, nothing is known before the current HIGHESTMODSEQ.
    pub(crate) async fn expunges_complete_after(&mut self) -> Result<u64, StoreError> {
        let min: Option<i64> = sqlx::query_scalar("SELECT MIN(modseq) FROM messages")
            .fetch_one(&mut *self.conn().await?)
            .await
            .map_err(|e| StoreError::index(&self.path, e))?;
        match min {
            // The first row's MODSEQ is one above the index's start.
            Some(m) => Ok(u64::try_from(m).unwrap_or(0).saturating_sub(1)),
            None => Ok(self.meta().await?.highest_modseq),
        }
    }
}
