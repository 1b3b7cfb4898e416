use std::fs;

use super::*;
use crate::flags::Flag;
use crate::maildir::layout::create_maildir;
use crate::maildir::uidlist::{UIDLIST_FILE, UidList};

fn maildir() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("Maildir");
    create_maildir(&d, false, false).unwrap();
    (t, d)
}

async fn live(idx: &mut Index) -> Vec<MsgRow> {
    live_rows(&mut idx.pool.acquire().await.unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn fresh_index_assigns_uids_in_filename_order() {
    let (_t, d) = maildir();
    fs::write(d.join("new/1700000002.M1P1Q1.h,S=1,W=1"), b"b").unwrap();
    fs::write(d.join("cur/1700000001.M1P1Q1.h,S=1,W=1:2,RS"), b"a").unwrap();
    let mut idx = Index::open(&d, false).await.unwrap();
    let rows = live(&mut idx).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].uid, 1);
    assert!(rows[0].basename.starts_with("1700000001"));
    assert_eq!(rows[0].flags, "RS");
    assert_eq!(rows[1].uid, 2);
    let meta = idx.meta().await.unwrap();
    assert_eq!(meta.uidnext, 3);
    assert!(meta.uidvalidity > 1_600_000_000);
    // The uidlist was written for Dovecot.
    let list = UidList::load(&d).unwrap().unwrap();
    assert_eq!(list.uidvalidity, meta.uidvalidity);
    assert_eq!(list.entries.len(), 2);
}

#[tokio::test]
async fn sync_detects_new_renamed_and_removed_files() {
    let (_t, d) = maildir();
    fs::write(d.join("new/1.M1P1Q1.h,S=1,W=1"), b"a").unwrap();
    let mut idx = Index::open(&d, false).await.unwrap();
    let m0 = idx.meta().await.unwrap().highest_modseq;
    // Another MUA moves the message to cur/ with \Seen and adds a new one.
    fs::rename(
        d.join("new/1.M1P1Q1.h,S=1,W=1"),
        d.join("cur/1.M1P1Q1.h,S=1,W=1:2,S"),
    )
    .unwrap();
    fs::write(d.join("new/2.M1P1Q1.h,S=1,W=1"), b"b").unwrap();
    idx.sync_with_disk().await.unwrap();
    let changed = idx.changed_since(m0).await.unwrap();
    assert_eq!(changed.len(), 2);
    assert_eq!(changed[0].flags, "S");
    assert_eq!(changed[0].subdir, Subdir::Cur);
    assert_eq!(changed[1].uid, 2);
    let m1 = idx.meta().await.unwrap().highest_modseq;
    fs::remove_file(d.join("cur/1.M1P1Q1.h,S=1,W=1:2,S")).unwrap();
    idx.sync_with_disk().await.unwrap();
    let changed = idx.changed_since(m1).await.unwrap();
    assert_eq!(changed.len(), 1);
    assert!(changed[0].expunged);
    assert_eq!(live(&mut idx).await.len(), 1);
    // Nothing changed: no new MODSEQ.
    let m2 = idx.meta().await.unwrap().highest_modseq;
    idx.sync_with_disk().await.unwrap();
    assert_eq!(idx.meta().await.unwrap().highest_modseq, m2);
}

#[tokio::test]
async fn set_flags_renames_and_expunge_unlinks() {
    let (_t, d) = maildir();
    fs::write(d.join("new/1.M1P1Q1.h,S=1,W=1"), b"a").unwrap();
    let mut idx = Index::open(&d, false).await.unwrap();
    let row = idx
        .set_flags(1, &[Flag::Seen, Flag::Flagged], &["Work".to_string()])
        .await
        .unwrap();
    assert_eq!(row.filename, "1.M1P1Q1.h,S=1,W=1:2,FSa");
    assert!(d.join("cur").join(&row.filename).exists());
    assert_eq!(
        fs::read_to_string(d.join("dovecot-keywords")).unwrap(),
        "0 Work\n"
    );
    // Same flags again: no rename, same MODSEQ.
    let again = idx
        .set_flags(1, &[Flag::Flagged, Flag::Seen], &["work".to_string()])
        .await
        .unwrap();
    assert_eq!(again.modseq, row.modseq);
    assert!(matches!(
        idx.set_flags(99, &[], &[]).await,
        Err(StoreError::MessageNotFound(99))
    ));
    let gone = idx.expunge(&[1, 42]).await.unwrap();
    assert_eq!(gone.len(), 1);
    assert!(gone[0].1);
    assert_eq!(fs::read_dir(d.join("cur")).unwrap().count(), 0);
}

#[tokio::test]
async fn garbage_index_is_rebuilt_with_uidlist_uids() {
    let (_t, d) = maildir();
    fs::write(d.join("cur/5.M1P1Q1.h,S=1,W=1:2,S"), b"a").unwrap();
    fs::write(d.join("cur/6.M1P1Q1.h:2,"), b"b\n").unwrap();
    fs::write(
        d.join(UIDLIST_FILE),
        "3 V1234 N20 Gabc\n7 :5.M1P1Q1.h,S=1,W=1\n9 :6.M1P1Q1.h\n",
    )
    .unwrap();
    fs::write(
        d.join(INDEX_FILE),
        b"this is not a database, just garbage......",
    )
    .unwrap();
    let mut idx = Index::open(&d, false).await.unwrap();
    let rows = live(&mut idx).await;
    assert_eq!(rows.iter().map(|r| r.uid).collect::<Vec<_>>(), vec![7, 9]);
    assert_eq!(rows[1].vsize, 3);
    let meta = idx.meta().await.unwrap();
    assert_eq!((meta.uidvalidity, meta.uidnext), (1234, 20));
    assert_eq!(meta.guid, "abc");
    let aside = fs::read_dir(&d)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".corrupt-")
        })
        .count();
    assert_eq!(aside, 1);
}

#[tokio::test]
async fn schema_mismatch_is_rebuilt() {
    let (_t, d) = maildir();
    fs::write(d.join("cur/5.M1P1Q1.h,S=1,W=1:2,S"), b"a").unwrap();
    {
        let idx = Index::open(&d, false).await.unwrap();
        let mut conn = idx.pool.acquire().await.unwrap();
        sqlx::query("PRAGMA user_version = 999")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    // Noticed once the pool is closed (see `pool`).
    tokio::time::sleep(super::pool::KEEP_UNUSED + std::time::Duration::from_millis(300)).await;
    let mut idx = Index::open(&d, false).await.unwrap();
    assert_eq!(idx.user_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(live(&mut idx).await[0].uid, 1);
}

#[tokio::test]
async fn a_reopened_index_shares_its_pool_and_skips_the_check() {
    let (_t, d) = maildir();
    let path = d.join(INDEX_FILE);
    let first = Index::open(&d, false).await.unwrap();
    let again = Index::open(&d, false).await.unwrap();
    let opts = || sqlx::sqlite::SqliteConnectOptions::new().filename(&path);
    // While one is open, the pool is shared, checked.
    let (_, lease, check) = super::pool::pool_for(&path, opts());
    assert_eq!(
        check,
        super::pool::Check::Done,
        "an open pool remembers its check"
    );
    drop(lease);
    drop(first);
    drop(again);
    // Reopened at once, the kept pool is reused without any check.
    let idx = Index::open(&d, false).await.unwrap();
    drop(idx);
    let (_, lease, check) = super::pool::pool_for(&path, opts());
    drop(lease);
    assert_eq!(check, super::pool::Check::Done, "a kept pool is reused");
    // Nobody has it open for a while: the pool closes; an unchanged file needs no check next
    // time.
    let closed = || tokio::time::sleep(super::pool::KEEP_UNUSED * 2 + Duration::from_millis(300));
    closed().await;
    let (_, lease, check) = super::pool::pool_for(&path, opts());
    drop(lease);
    assert_eq!(
        check,
        super::pool::Check::Schema,
        "unchanged since a checked pool closed it"
    );
    // A changed file is checked again.
    let idx = Index::open(&d, false).await.unwrap();
    drop(idx);
    closed().await;
    let mut bytes = fs::read(&path).unwrap();
    bytes[99] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    let (_, _lease, check) = super::pool::pool_for(&path, opts());
    assert_eq!(
        check,
        super::pool::Check::Full,
        "a changed file is checked again"
    );
}

#[tokio::test]
async fn insert_new_appends_uidlist() {
    let (_t, d) = maildir();
    let mut idx = Index::open(&d, false).await.unwrap();
    let saved = crate::maildir::save::save(crate::maildir::save::SaveRequest {
        dir: d.clone(),
        prefix: Vec::new(),
        body: crate::maildir::save::Body::Bytes(b"x\r\n".to_vec()),
        letters: None,
        mtime: None,
        fsync: false,
    })
    .unwrap();
    let msg = NewMessage {
        saved: saved.clone(),
        flags: vec![],
        keywords: vec![],
    };
    let rows = idx.insert_new(vec![msg.clone()]).await.unwrap();
    assert_eq!(rows[0].uid, 1);
    // Indexing the same file again keeps its UID.
    let rows = idx.insert_new(vec![msg]).await.unwrap();
    assert_eq!(rows[0].uid, 1);
    let list = UidList::load(&d).unwrap().unwrap();
    assert_eq!(list.entries, vec![(1, saved.basename)]);
    // A sync afterwards finds nothing new.
    idx.sync_with_disk().await.unwrap();
    assert_eq!(idx.meta().await.unwrap().uidnext, 2);
}
