//! The per-folder SQLite index, `mailstack-index.sqlite` beside `cur/ new/
//! tmp/` (Dovecot ignores it).
//!
//! It caches what the Maildir says (UIDs, flags, sizes, dates) and adds what
//! a Maildir cannot hold: UIDVALIDITY, UIDNEXT, MODSEQ per message and
//! expunge tombstones for CONDSTORE/QRESYNC. It is a cache: when it is
//! missing, unreadable, corrupt (`PRAGMA quick_check` fails) or of another
//! schema version it is moved aside and rebuilt from the Maildir, taking
//! UIDs from `dovecot-uidlist` when there is one.
//!
//! Several processes share one index (lmtp-mda, imap-server, mailctl): WAL
//! journal, a busy timeout, and every write inside `BEGIN IMMEDIATE`, so
//! two processes never hand out the same UID.

mod condstore;
mod ops;
mod pool;
mod rebuild;
mod sync;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteRow, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Row, Sqlite, SqlitePool, Transaction};

use crate::error::StoreError;
use crate::maildir::save::Subdir;

pub(crate) use ops::{NewMessage, ensure_keywords};
pub(crate) use pool::close_unused;

/// File name of the index inside a folder directory.
pub(crate) const INDEX_FILE: &str = "mailstack-index.sqlite";

/// Bump when the schema changes: an index of another version is rebuilt.
const SCHEMA_VERSION: i64 = 1;

/// Rows a query's connection thread may read ahead of its caller.
const ROW_BUFFER: usize = 4096;

/// How long a writer waits for another process's transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

const SCHEMA: &str = "
CREATE TABLE meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    uidvalidity INTEGER NOT NULL,
    uidnext INTEGER NOT NULL,
    highestmodseq INTEGER NOT NULL,
    guid TEXT NOT NULL,
    new_mtime INTEGER NOT NULL DEFAULT 0,
    cur_mtime INTEGER NOT NULL DEFAULT 0,
    uidlist_stale INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE messages (
    uid INTEGER PRIMARY KEY,
    basename TEXT NOT NULL,
    filename TEXT NOT NULL,
    folder TEXT NOT NULL CHECK (folder IN ('new', 'cur')),
    flags TEXT NOT NULL,
    keywords TEXT NOT NULL,
    size INTEGER NOT NULL,
    vsize INTEGER NOT NULL,
    internal_date INTEGER NOT NULL,
    save_date INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    expunged INTEGER NOT NULL DEFAULT 0
);
";

/// The indexes of [`SCHEMA`]: created after the rows when an index is built from a Maildir
/// (one sort instead of 100 000 B-tree inserts each).
const SCHEMA_INDEXES: &str = "
CREATE UNIQUE INDEX messages_live_basename ON messages (basename) WHERE expunged = 0;
CREATE INDEX messages_modseq ON messages (modseq);
";

/// The mailbox-wide values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Meta {
    pub(crate) uidvalidity: u32,
    pub(crate) uidnext: u32,
    pub(crate) highest_modseq: u64,
    pub(crate) guid: String,
    pub(crate) new_mtime: i64,
    pub(crate) cur_mtime: i64,
    pub(crate) uidlist_stale: i64,
    /// Random, set when the index was built (SQLite's `application_id`; 0 for indexes built
    /// before it was set): tells a rebuilt index from the one it replaced, which may have the
    /// same UIDVALIDITY and GUID (taken from `dovecot-uidlist`) and even the same inode.
    pub(crate) index_id: i64,
}

/// One row of `messages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MsgRow {
    pub(crate) uid: u32,
    pub(crate) basename: String,
    pub(crate) filename: String,
    pub(crate) subdir: Subdir,
    /// System flag letters (`DFRST` subset, sorted).
    pub(crate) flags: String,
    /// Keywords, sorted.
    pub(crate) keywords: Vec<String>,
    pub(crate) size: u64,
    pub(crate) vsize: u64,
    pub(crate) internal_date: i64,
    pub(crate) save_date: i64,
    pub(crate) modseq: u64,
    pub(crate) expunged: bool,
}

/// An open index of one folder.
#[derive(Debug)]
pub(crate) struct Index {
    /// The connections to this file, shared with the other `Index`es of the process.
    pool: SqlitePool,
    /// Keeps `pool` open while this index is.
    _lease: pool::Lease,
    /// The folder directory.
    dir: PathBuf,
    /// The index file.
    path: PathBuf,
    fsync: bool,
    /// What this open built from the Maildir, when it did (see [`Index::take_built`]).
    built: Option<rebuild::Built>,
}

/// Why an open attempt failed.
enum OpenError {
    /// The file must be moved aside and rebuilt.
    Corrupt(String),
    /// Anything else (reported to the caller).
    Other(StoreError),
}

/// SQLITE_BUSY (5) or SQLITE_LOCKED (6), with extended codes.
fn is_busy(e: &sqlx::Error) -> bool {
    let Some(db) = e.as_database_error() else {
        return false;
    };
    let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
    matches!(code & 0xff, 5 | 6)
}

fn is_corruption(e: &sqlx::Error) -> bool {
    let Some(db) = e.as_database_error() else {
        return false;
    };
    let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
    // SQLITE_CORRUPT (11) and SQLITE_NOTADB (26), with extended codes.
    matches!(code & 0xff, 11 | 26)
}

pub(crate) fn keywords_to_text(k: &[String]) -> String {
    k.join(" ")
}

fn text_to_keywords(s: &str) -> Vec<String> {
    s.split_ascii_whitespace().map(str::to_string).collect()
}

impl Index {
    /// Open (creating or rebuilding as needed) the index of the folder at
    /// `dir`, which must be an existing Maildir.
    pub(crate) async fn open(dir: &Path, fsync: bool) -> Result<Index, StoreError> {
        let path = dir.join(INDEX_FILE);
        let mut last = String::new();
        for _ in 0..3 {
            match Index::try_open(dir, &path, fsync).await {
                Ok(idx) => return Ok(idx),
                Err(OpenError::Other(e)) => return Err(e),
                Err(OpenError::Corrupt(reason)) => {
                    tracing::warn!(index = %path.display(), %reason, "index unusable, rebuilding");
                    pool::forget(&path);
                    rebuild::move_aside(dir, &path).await?;
                    last = reason;
                }
            }
        }
        Err(StoreError::Internal(format!(
            "index {} still unusable after rebuild: {last}",
            path.display()
        )))
    }

    async fn try_open(dir: &Path, path: &Path, fsync: bool) -> Result<Index, OpenError> {
        let classify = |e: sqlx::Error| {
            if is_corruption(&e) {
                OpenError::Corrupt(e.to_string())
            } else {
                OpenError::Other(StoreError::index(path, e))
            }
        };
        let opts = SqliteConnectOptions::from_str("sqlite://")
            .map_err(classify)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if fsync {
                SqliteSynchronous::Normal
            } else {
                SqliteSynchronous::Off
            })
            .busy_timeout(BUSY_TIMEOUT)
            // Rows come from the connection's thread through a channel: with sqlx's default of
            // 50 the thread and the reader take turns every 50 rows of a 100 000-row read.
            .row_buffer_size(ROW_BUFFER)
            .disable_statement_logging();
        // Opening switches the file to WAL mode, which needs a moment of exclusive access: when
        // several processes open a new index at once, SQLite answers "database is locked"
        // without waiting for its busy timeout. Retry that case for a while.
        let (pool, lease, check) = pool::pool_for(path, opts);
        if check == pool::Check::Done {
            return Ok(Index {
                pool,
                _lease: lease,
                dir: dir.to_path_buf(),
                path: path.to_path_buf(),
                fsync,
                built: None,
            });
        }
        let mut attempt = 0u32;
        let mut conn = loop {
            match pool.acquire().await {
                Ok(c) => break c,
                Err(e) if is_busy(&e) && attempt < 200 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt.min(20)))).await;
                }
                Err(e) => return Err(classify(e)),
            }
        };
        pool::opened(path);
        if check == pool::Check::Full {
            let result: String = sqlx::query_scalar("PRAGMA quick_check")
                .fetch_one(&mut *conn)
                .await
                .map_err(classify)?;
            if result != "ok" {
                return Err(OpenError::Corrupt(format!("quick_check: {result}")));
            }
        }
        drop(conn);
        let mut idx = Index {
            pool,
            _lease: lease,
            dir: dir.to_path_buf(),
            path: path.to_path_buf(),
            fsync,
            built: None,
        };
        let version = idx.user_version().await.map_err(classify)?;
        if version == SCHEMA_VERSION {
            pool::checked(&idx._lease);
            return Ok(idx);
        }
        if version != 0 {
            return Err(OpenError::Corrupt(format!(
                "schema version {version}, expected {SCHEMA_VERSION}"
            )));
        }
        match rebuild::initialize(&mut idx).await {
            Ok(()) => {
                pool::checked(&idx._lease);
                Ok(idx)
            }
            Err(StoreError::Index { source, .. }) if is_corruption(&source) => {
                Err(OpenError::Corrupt(source.to_string()))
            }
            Err(e) => Err(OpenError::Other(e)),
        }
    }

    async fn user_version(&mut self) -> Result<i64, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut *conn)
            .await
    }

    /// A connection of the shared pool, for one statement.
    async fn conn(&self) -> Result<PoolConnection<Sqlite>, StoreError> {
        self.pool
            .acquire()
            .await
            .map_err(|e| StoreError::index(&self.path, e))
    }

    /// The folder directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The rows this open just built the index from (once): the first snapshot need not read
    /// them back.
    pub(crate) fn take_built(&mut self) -> Option<rebuild::Built> {
        self.built.take()
    }

    /// (device, inode) of the index file, `None` when it cannot be read.
    pub(crate) fn file_id(&self) -> Option<(u64, u64)> {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&self.path)
            .ok()
            .map(|m| (m.dev(), m.ino()))
    }

    /// Begin a write transaction (serialized across processes).
    /// Take the folder's `dovecot-uidlist.lock`. Lock order, everywhere: this lock first, then
    /// the SQLite write transaction; the uidlist is updated after the commit, still under it.
    pub(crate) async fn lock_uidlist(&self) -> Result<crate::maildir::lock::DotLock, StoreError> {
        let dir = self.dir.clone();
        crate::error::blocking(move || crate::maildir::uidlist::lock(&dir)).await
    }

    pub(crate) async fn begin(&mut self) -> Result<Transaction<'_, Sqlite>, StoreError> {
        let path = self.path.clone();
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| StoreError::index(path, e))
    }

    /// Read the meta row.
    pub(crate) async fn meta(&mut self) -> Result<Meta, StoreError> {
        let path = self.path.clone();
        read_meta(&mut *self.conn().await?)
            .await
            .map_err(|e| StoreError::index(path, e))
    }

    /// Rows changed (including expunged tombstones) after `modseq`.
    pub(crate) async fn changed_since(&mut self, modseq: u64) -> Result<Vec<MsgRow>, StoreError> {
        // No ORDER BY uid: SQLite would then walk the whole table in UID order instead of
        // the few rows the modseq index finds. Sorted here.
        let rows = sqlx::query("SELECT * FROM messages WHERE modseq > ?")
            .bind(modseq as i64)
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(|e| StoreError::index(&self.path, e))?;
        let mut rows: Vec<MsgRow> = rows.iter().map(msg_row).collect();
        rows.sort_unstable_by_key(|r| r.uid);
        Ok(rows)
    }

    /// Let go of the index; the shared connections close after a while without use.
    pub(crate) async fn close(self) {}
}

pub(crate) async fn read_meta(conn: &mut SqliteConnection) -> Result<Meta, sqlx::Error> {
    let r = sqlx::query(
        "SELECT *, (SELECT application_id FROM pragma_application_id) AS index_id \
         FROM meta WHERE id = 1",
    )
    .fetch_one(conn)
    .await?;
    Ok(Meta {
        uidvalidity: r.get::<i64, _>("uidvalidity") as u32,
        uidnext: r.get::<i64, _>("uidnext") as u32,
        highest_modseq: r.get::<i64, _>("highestmodseq") as u64,
        guid: r.get("guid"),
        new_mtime: r.get("new_mtime"),
        cur_mtime: r.get("cur_mtime"),
        uidlist_stale: r.get("uidlist_stale"),
        index_id: r.get("index_id"),
    })
}

/// A `SELECT * FROM messages` row. Columns by position, in the order of [`SCHEMA`] (an index
/// of another schema version is rebuilt, so the order is fixed): looking 12 names up per row
/// shows when 100 000 rows are read.
pub(crate) fn msg_row(r: &SqliteRow) -> MsgRow {
    MsgRow {
        uid: r.get::<i64, _>(0) as u32,
        basename: r.get(1),
        filename: r.get(2),
        subdir: Subdir::parse(r.get::<&str, _>(3)),
        flags: r.get(4),
        keywords: text_to_keywords(r.get::<&str, _>(5)),
        size: r.get::<i64, _>(6) as u64,
        vsize: r.get::<i64, _>(7) as u64,
        internal_date: r.get(8),
        save_date: r.get(9),
        modseq: r.get::<i64, _>(10) as u64,
        expunged: r.get::<i64, _>(11) != 0,
    }
}

/// Insert one message row.
pub(crate) async fn insert_row(
    conn: &mut SqliteConnection,
    row: &MsgRow,
) -> Result<(), sqlx::Error> {
    insert_rows(conn, std::slice::from_ref(row)).await
}

/// Rows per `INSERT` statement of [`insert_rows`]: 12 parameters each, far below SQLite's
/// limit of 32 766 per statement.
const INSERT_BATCH: usize = 500;

/// Insert message rows, [`INSERT_BATCH`] per statement: building a 100 000-message index
/// row by row spends its time in the round trips to sqlx's connection thread.
pub(crate) async fn insert_rows(
    conn: &mut SqliteConnection,
    rows: &[MsgRow],
) -> Result<(), sqlx::Error> {
    for batch in rows.chunks(INSERT_BATCH) {
        let mut q = sqlx::QueryBuilder::<Sqlite>::new(
            "INSERT INTO messages (uid, basename, filename, folder, flags, keywords, size, vsize, \
             internal_date, save_date, modseq, expunged) ",
        );
        q.push_values(batch, |mut b, row| {
            b.push_bind(i64::from(row.uid))
                .push_bind(row.basename.as_str())
                .push_bind(row.filename.as_str())
                .push_bind(row.subdir.as_str())
                .push_bind(row.flags.as_str())
                .push_bind(keywords_to_text(&row.keywords))
                .push_bind(row.size as i64)
                .push_bind(row.vsize as i64)
                .push_bind(row.internal_date)
                .push_bind(row.save_date)
                .push_bind(row.modseq as i64)
                .push_bind(i64::from(row.expunged));
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// All live rows (not expunged), by UID.
pub(crate) async fn live_rows(conn: &mut SqliteConnection) -> Result<Vec<MsgRow>, sqlx::Error> {
    let rows = sqlx::query("SELECT * FROM messages WHERE expunged = 0 ORDER BY uid")
        .fetch_all(conn)
        .await?;
    Ok(rows.iter().map(msg_row).collect())
}

/// Seconds since the epoch, now.
pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
