//! Group commit (see [`crate::manual::group_commit`]): one committer task makes batches of
//! enqueued messages durable together, so concurrent enqueues share directory fsyncs.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::QueueError;
use crate::QueueId;
use crate::spool::{Spool, fsync_dir, remove_if_exists};
use crate::types::Counters;

/// Largest batch; more waiting enqueues go into the next one.
const MAX_BATCH: usize = 512;

/// An enqueue whose files are written in `tmp/` and wait to be committed.
pub(crate) struct PendingCommit {
    pub(crate) id: QueueId,
    pub(crate) message_tmp: PathBuf,
    pub(crate) envelope_tmp: PathBuf,
    pub(crate) done: oneshot::Sender<Result<(), QueueError>>,
}

/// Start the committer; it runs until every sender is dropped.
pub(crate) fn spawn_committer(
    spool: Spool,
    fsync: bool,
    counters: Arc<Counters>,
) -> mpsc::UnboundedSender<PendingCommit> {
    let (tx, mut rx) = mpsc::unbounded_channel::<PendingCommit>();
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(more) => batch.push(more),
                    Err(_) => break,
                }
            }
            commit_batch(&spool, fsync, &counters, batch).await;
        }
    });
    tx
}

/// Make one batch durable: fsync every file in parallel, rename the messages, fsync
/// `messages/`, rename the envelopes, fsync `envelopes/`, then answer every enqueue.
async fn commit_batch(
    spool: &Spool,
    fsync: bool,
    counters: &Arc<Counters>,
    batch: Vec<PendingCommit>,
) {
    Counters::bump(&counters.commit_batches, 1);
    let mut ok: Vec<PendingCommit> = Vec::with_capacity(batch.len());
    if fsync {
        let mut syncs = JoinSet::new();
        for (i, p) in batch.iter().enumerate() {
            for path in [p.message_tmp.clone(), p.envelope_tmp.clone()] {
                syncs.spawn_blocking(move || (i, fsync_file(&path)));
            }
        }
        let mut failed: Vec<Option<QueueError>> = batch.iter().map(|_| None).collect();
        while let Some(joined) = syncs.join_next().await {
            match joined {
                Ok((i, Ok(()))) => {
                    Counters::bump(&counters.file_fsyncs, 1);
                    let _ = i;
                }
                Ok((i, Err(e))) => failed[i] = Some(e),
                Err(e) => {
                    // A panicked fsync task: fail the whole batch (we do not know which file).
                    let err = QueueError::io("fsync task", std::io::Error::other(e.to_string()));
                    return fail_all(batch, &err);
                }
            }
        }
        for (p, f) in batch.into_iter().zip(failed) {
            match f {
                None => ok.push(p),
                Some(e) => fail_one(p, e),
            }
        }
    } else {
        ok = batch;
    }
    if ok.is_empty() {
        return;
    }
    let spool2 = spool.clone();
    let counters2 = counters.clone();
    let plan: Vec<(QueueId, PathBuf, PathBuf)> = ok
        .iter()
        .map(|p| (p.id.clone(), p.message_tmp.clone(), p.envelope_tmp.clone()))
        .collect();
    let result =
        tokio::task::spawn_blocking(move || rename_batch(&spool2, fsync, &counters2, &plan)).await;
    match result {
        Ok(Ok(per_item)) => {
            for (p, r) in ok.into_iter().zip(per_item) {
                let _ = p.done.send(r);
            }
        }
        Ok(Err(e)) => fail_all(ok, &e),
        Err(e) => fail_all(
            ok,
            &QueueError::io("commit task", std::io::Error::other(e.to_string())),
        ),
    }
}

fn fsync_file(path: &std::path::Path) -> Result<(), QueueError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| QueueError::io(format!("fsync {}", path.display()), e))
}

/// Renames and directory fsyncs of one batch. Returns one result per item; an `Err` of the
/// whole function means a directory fsync failed, and every item of the batch has been removed
/// again (nothing half-durable is acknowledged or left behind).
fn rename_batch(
    spool: &Spool,
    fsync: bool,
    counters: &Counters,
    plan: &[(QueueId, PathBuf, PathBuf)],
) -> Result<Vec<Result<(), QueueError>>, QueueError> {
    let mut results: Vec<Result<(), QueueError>> = Vec::with_capacity(plan.len());
    for (id, msg_tmp, _) in plan {
        let dest = spool.message(id);
        results.push(std::fs::rename(msg_tmp, &dest).map_err(|e| {
            QueueError::io(
                format!("rename {} to {}", msg_tmp.display(), dest.display()),
                e,
            )
        }));
    }
    let undo_all = |results: &[Result<(), QueueError>]| {
        for ((id, m, e), _) in plan.iter().zip(results) {
            let _ = remove_if_exists(&spool.envelope(id));
            let _ = remove_if_exists(&spool.message(id));
            let _ = remove_if_exists(m);
            let _ = remove_if_exists(e);
        }
    };
    if fsync {
        if let Err(e) = fsync_dir(&spool.messages_dir()) {
            undo_all(&results);
            return Err(e);
        }
        Counters::bump(&counters.dir_fsyncs, 1);
    }
    for ((id, msg_tmp, env_tmp), r) in plan.iter().zip(results.iter_mut()) {
        if r.is_err() {
            let _ = remove_if_exists(msg_tmp);
            let _ = remove_if_exists(env_tmp);
            continue;
        }
        let dest = spool.envelope(id);
        if let Err(e) = std::fs::rename(env_tmp, &dest) {
            let _ = remove_if_exists(&spool.message(id));
            let _ = remove_if_exists(env_tmp);
            *r = Err(QueueError::io(
                format!("rename {} to {}", env_tmp.display(), dest.display()),
                e,
            ));
        }
    }
    if fsync {
        if let Err(e) = fsync_dir(&spool.envelopes_dir()) {
            undo_all(&results);
            return Err(e);
        }
        Counters::bump(&counters.dir_fsyncs, 1);
    }
    Ok(results)
}

fn fail_one(p: PendingCommit, e: QueueError) {
    let _ = remove_if_exists(&p.message_tmp);
    let _ = remove_if_exists(&p.envelope_tmp);
    let _ = p.done.send(Err(e));
}

fn fail_all(batch: Vec<PendingCommit>, e: &QueueError) {
    for p in batch {
        let copy = match e {
            QueueError::Io { context, source } => QueueError::io(
                context.clone(),
                std::io::Error::new(source.kind(), source.to_string()),
            ),
            _ => QueueError::Closed,
        };
        fail_one(p, copy);
    }
}
