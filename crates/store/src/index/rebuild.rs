//! Creating an index from the Maildir alone, and moving a broken one aside.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::path::Path;

use sqlx::Connection;

use super::{
    INDEX_FILE, Index, MsgRow, SCHEMA, SCHEMA_INDEXES, SCHEMA_VERSION, insert_rows, now_secs,
};
use crate::error::{IoContext, StoreError, blocking};
use crate::flags::flags_to_letters;
use crate::maildir::filename::{decode_letters, delivery_order};
use crate::maildir::keywords::Keywords;
use crate::maildir::lock::DotLock;
use crate::maildir::sync::{FolderFiles, dir_mtimes, scan};
use crate::maildir::uidlist::{self, UIDLIST_LOCK, UidList};

/// A new random mailbox GUID (32 hex digits, like Dovecot's).
pub(crate) fn new_guid() -> String {
    let mut out = String::new();
    for i in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u32(std::process::id());
        h.write_i64(super::sync::now_nanos());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// A random non-zero id for a new index file (see `Meta::index_id`).
fn new_index_id() -> i32 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i64(super::sync::now_nanos());
    match h.finish() as i32 {
        0 => 1,
        id => id,
    }
}

/// The MODSEQ a new index starts at: the clock in microseconds. A rebuilt index thus hands
/// out MODSEQs above any the lost one did (unless it made more than a million changes a
/// second), so a CONDSTORE client's old MODSEQ reads as "before everything here": all flags
/// are reported as changed and its expunges as unknown (see `expunges_complete_after`),
/// instead of changes being silently skipped.
fn initial_modseq() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(1).max(1))
}

/// What the Maildir says, ready to be inserted; after the build, what the new index holds
/// (every row has MODSEQ `modseq`, the index's HIGHESTMODSEQ).
#[derive(Debug)]
pub(crate) struct Built {
    pub(crate) uidvalidity: u32,
    pub(crate) next_uid: u32,
    pub(crate) guid: String,
    pub(crate) modseq: u64,
    pub(crate) rows: Vec<MsgRow>,
}

fn build_from_maildir(dir: &Path, modseq: u64) -> Result<Built, StoreError> {
    let list = UidList::load(dir)?;
    let keywords = Keywords::load(dir)?;
    let scanned = scan(dir)?;
    let now = now_secs();
    let (uidvalidity, mut next_uid, guid) = match &list {
        Some(l) => (
            l.uidvalidity,
            l.next_uid,
            l.guid.clone().unwrap_or_else(new_guid),
        ),
        None => ((now as u32).max(1), 1, new_guid()),
    };
    let mut known: HashMap<&str, u32> = HashMap::new();
    let mut used: HashSet<u32> = HashSet::new();
    if let Some(l) = &list {
        for (uid, name) in &l.entries {
            if *uid < next_uid && !known.contains_key(name.as_str()) && used.insert(*uid) {
                known.insert(name.as_str(), *uid);
            }
        }
    }
    let mut rows = Vec::with_capacity(scanned.files.len());
    let mut unknown = Vec::new();
    let files = FolderFiles::open(dir);
    for (basename, f) in &scanned.files {
        let Some((size, vsize, mtime)) = files.info(f)? else {
            continue;
        };
        let decoded = decode_letters(&f.parsed.letters, &keywords);
        let row = MsgRow {
            uid: 0,
            basename: basename.clone(),
            filename: f.filename.clone(),
            subdir: f.subdir,
            flags: flags_to_letters(&decoded.flags),
            keywords: decoded.keywords,
            size,
            vsize,
            internal_date: mtime,
            save_date: mtime,
            modseq,
            expunged: false,
        };
        match known.get(basename.as_str()) {
            Some(&uid) => rows.push(MsgRow { uid, ..row }),
            None => unknown.push(row),
        }
    }
    // Files the uidlist does not know get new UIDs in Dovecot's delivery order.
    unknown.sort_by(|a, b| delivery_order(&a.basename, &b.basename));
    for row in unknown {
        rows.push(MsgRow {
            uid: next_uid,
            ..row
        });
        next_uid += 1;
    }
    rows.sort_by_key(|r| r.uid);
    Ok(Built {
        uidvalidity,
        next_uid,
        guid,
        modseq,
        rows,
    })
}

/// Fill a freshly created (empty, `user_version` 0) index from the Maildir.
pub(super) async fn initialize(idx: &mut Index) -> Result<(), StoreError> {
    let dir = idx.dir.clone();
    let path = idx.path.clone();
    let fsync = idx.fsync;
    let e = |e: sqlx::Error| StoreError::index(&path, e);
    // Same order as every writer: the uidlist lock, then the SQLite transaction.
    let d = dir.clone();
    let lock = blocking(move || uidlist::lock(&d)).await?;
    // The whole build is one transaction: with SQLite's default 2 MiB page cache a
    // 100 000-message build spills pages to the WAL and reads them back many times over.
    let mut conn = idx.pool.acquire().await.map_err(e)?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "PRAGMA cache_size = -{BUILD_CACHE_KIB}"
    )))
    .execute(&mut *conn)
    .await
    .map_err(e)?;
    let built = build_in(&mut conn, &dir, &path, fsync, lock).await;
    // Back to the default for the pool's later users, whatever happened.
    let reset = sqlx::query("PRAGMA cache_size = -2000")
        .execute(&mut *conn)
        .await;
    let built = built?;
    reset.map_err(e)?;
    if let Some(b) = &built {
        tracing::info!(
            index = %path.display(),
            messages = b.rows.len(),
            uidvalidity = b.uidvalidity,
            "index built from Maildir"
        );
    }
    idx.built = built;
    Ok(())
}

/// Page cache of the connection building an index (KiB): room for the pages of about
/// 200 000 messages.
const BUILD_CACHE_KIB: i64 = 64 * 1024;

/// Create the schema and fill it on `conn`, under the uidlist `lock`; what it holds, or `None`
/// when another process built the index meanwhile.
async fn build_in(
    conn: &mut sqlx::SqliteConnection,
    dir: &Path,
    path: &Path,
    fsync: bool,
    lock: DotLock,
) -> Result<Option<Built>, StoreError> {
    let e = |e: sqlx::Error| StoreError::index(path, e);
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(e)?;
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *tx)
        .await
        .map_err(e)?;
    if version == SCHEMA_VERSION {
        // Another process initialized it while we waited for the lock.
        tx.commit().await.map_err(e)?;
        return Ok(None);
    }
    if version != 0 {
        return Err(StoreError::Internal(format!(
            "index {} changed schema version to {version} while opening",
            path.display()
        )));
    }
    sqlx::raw_sql("DROP TABLE IF EXISTS messages; DROP TABLE IF EXISTS meta;")
        .execute(&mut *tx)
        .await
        .map_err(e)?;
    sqlx::raw_sql(SCHEMA).execute(&mut *tx).await.map_err(e)?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "PRAGMA application_id = {}",
        new_index_id()
    )))
    .execute(&mut *tx)
    .await
    .map_err(e)?;

    let d = dir.to_path_buf();
    let modseq = initial_modseq();
    let (mtimes, built) = blocking(move || {
        let mtimes = dir_mtimes(&d)?;
        Ok((mtimes, build_from_maildir(&d, modseq)?))
    })
    .await?;
    let (new_mtime, cur_mtime) = super::sync::clean_mtimes(mtimes);
    sqlx::query(
        "INSERT INTO meta (id, uidvalidity, uidnext, highestmodseq, guid, new_mtime, cur_mtime) \
         VALUES (1, ?, ?, ?, ?, ?, ?)",
    )
    .bind(i64::from(built.uidvalidity))
    .bind(i64::from(built.next_uid))
    .bind(i64::try_from(modseq).unwrap_or(1))
    .bind(&built.guid)
    .bind(new_mtime)
    .bind(cur_mtime)
    .execute(&mut *tx)
    .await
    .map_err(e)?;
    insert_rows(&mut tx, &built.rows).await.map_err(e)?;
    sqlx::raw_sql(SCHEMA_INDEXES)
        .execute(&mut *tx)
        .await
        .map_err(e)?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "PRAGMA user_version = {SCHEMA_VERSION}"
    )))
    .execute(&mut *tx)
    .await
    .map_err(e)?;
    let list = UidList {
        uidvalidity: built.uidvalidity,
        next_uid: built.next_uid,
        guid: Some(built.guid.clone()),
        entries: built
            .rows
            .iter()
            .map(|r| (r.uid, r.basename.clone()))
            .collect(),
    };
    tx.commit().await.map_err(e)?;
    let dir = dir.to_path_buf();
    blocking(move || uidlist::rewrite(lock, &dir, &list, fsync)).await?;
    Ok(Some(built))
}

/// Move a broken index (and its WAL files) aside, under the uidlist lock,
/// unless another process already replaced it with a healthy one.
pub(super) async fn move_aside(dir: &Path, path: &Path) -> Result<(), StoreError> {
    let lock_path = dir.join(UIDLIST_LOCK);
    let lock = blocking(move || DotLock::acquire(&lock_path)).await?;
    if is_healthy(path).await {
        drop(lock);
        return Ok(());
    }
    let dir = dir.to_path_buf();
    let path = path.to_path_buf();
    blocking(move || {
        let aside = dir.join(format!(
            "{INDEX_FILE}.corrupt-{}-{}",
            now_secs(),
            std::process::id()
        ));
        match std::fs::rename(&path, &aside) {
            Ok(()) => tracing::warn!(to = %aside.display(), "moved broken index aside"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(&path, e)),
        }
        for ext in ["-wal", "-shm"] {
            let side = dir.join(format!("{INDEX_FILE}{ext}"));
            match std::fs::remove_file(&side) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).at(&side),
            }
        }
        drop(lock);
        Ok(())
    })
    .await
}

async fn is_healthy(path: &Path) -> bool {
    use sqlx::ConnectOptions;
    use std::str::FromStr;
    if !path.exists() {
        return false;
    }
    let Ok(opts) = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://") else {
        return false;
    };
    let Ok(mut conn) = opts
        .filename(path)
        .read_only(true)
        .disable_statement_logging()
        .connect()
        .await
    else {
        return false;
    };
    let ok = matches!(
        sqlx::query_scalar::<_, String>("PRAGMA quick_check").fetch_one(&mut conn).await,
        Ok(s) if s == "ok"
    ) && matches!(
        sqlx::query_scalar::<_, i64>("PRAGMA user_version").fetch_one(&mut conn).await,
        Ok(v) if v == SCHEMA_VERSION
    );
    let _ = conn.close().await;
    ok
}
