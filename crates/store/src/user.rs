//! One user's mail: the Maildir under `<root>/<domain>/<localpart>/Maildir`,
//! its folders, delivery into it and its quota.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{IoContext, StoreError, blocking};
use crate::flags::{Flag, flags_to_letters};
use crate::index::{Index, NewMessage};
use crate::mailbox::Mailbox;
use crate::mailbox_name::{MailboxName, SEPARATOR};
use crate::maildir::layout::{self, create_maildir, folder_dir, is_maildir, list_folders};
use crate::maildir::quota::{self, Quota};
use crate::maildir::save::{self, Body, SaveRequest};

/// The folders a new account gets (Dovecot's usual `auto = create` set).
pub const DEFAULT_FOLDERS: &[&str] = &["Drafts", "Sent", "Trash", "Junk", "Archive"];

/// Where the message body comes from.
#[derive(Debug, Clone, Copy)]
pub enum MessageSource<'a> {
    /// In-memory bytes.
    Bytes(&'a [u8]),
    /// A file (e.g. the LMTP spool file), read with `pread` from offset 0
    /// to its end; its file position is not used or changed.
    File(&'a std::fs::File),
}

/// The result of a successful delivery: the message is durable on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The UID, or `None` when the index could not be updated (the message
    /// is still safely stored and gets its UID at the next sync).
    pub uid: Option<u32>,
    /// UIDVALIDITY of the mailbox, or 0 when the index could not be
    /// updated (0 is never a valid UIDVALIDITY).
    pub uidvalidity: u32,
    /// Path of the message file.
    pub path: PathBuf,
    /// Size in bytes as stored (prefix + body).
    pub size: u64,
}

/// RFC 6154 special-use attribute of a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpecialUse {
    /// `\Drafts`
    Drafts,
    /// `\Sent`
    Sent,
    /// `\Trash`
    Trash,
    /// `\Junk`
    Junk,
    /// `\Archive`
    Archive,
}

impl SpecialUse {
    /// The special use of a top-level folder named like one of
    /// [`DEFAULT_FOLDERS`] (case-insensitive).
    pub fn for_name(name: &str) -> Option<SpecialUse> {
        let n = name.to_ascii_lowercase();
        Some(match n.as_str() {
            "drafts" => SpecialUse::Drafts,
            "sent" => SpecialUse::Sent,
            "trash" => SpecialUse::Trash,
            "junk" => SpecialUse::Junk,
            "archive" => SpecialUse::Archive,
            _ => return None,
        })
    }

    /// The IMAP attribute (`\Sent`, ...).
    pub fn imap_attribute(self) -> &'static str {
        match self {
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Trash => "\\Trash",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Archive => "\\Archive",
        }
    }
}

/// One entry of [`UserStore::list_mailboxes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    /// UTF-8 name with `.` separators (`INBOX`, `Work.Projects`, `Ärger`).
    pub name: String,
    /// Some other mailbox is below this one.
    pub has_children: bool,
    /// `false` for a parent that exists only because of its children
    /// (`.Work.Projects` without `.Work`): IMAP `\Noselect`.
    pub selectable: bool,
    /// Special use, for the default folder names.
    pub special_use: Option<SpecialUse>,
}

#[derive(Debug)]
struct UserInner {
    domain: String,
    local_part: String,
    maildir: PathBuf,
    fsync: bool,
}

/// One user's store; cheap to clone.
#[derive(Debug, Clone)]
pub struct UserStore {
    inner: Arc<UserInner>,
}

impl UserStore {
    pub(crate) fn new(root: &Path, domain: String, local_part: String, fsync: bool) -> UserStore {
        let maildir = root.join(&domain).join(&local_part).join("Maildir");
        UserStore {
            inner: Arc::new(UserInner {
                domain,
                local_part,
                maildir,
                fsync,
            }),
        }
    }

    /// The (lower-cased) domain.
    pub fn domain(&self) -> &str {
        &self.inner.domain
    }

    /// The local part.
    pub fn local_part(&self) -> &str {
        &self.inner.local_part
    }

    /// `<root>/<domain>/<localpart>/Maildir`.
    pub fn maildir_path(&self) -> PathBuf {
        self.inner.maildir.clone()
    }

    /// `<root>/<domain>/<localpart>`: the user's home (Dovecot's `~`), which holds the
    /// Maildir and the Sieve scripts.
    pub fn home_path(&self) -> PathBuf {
        self.inner
            .maildir
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// Whether the mailbox `name` exists (INBOX always does). Synchronous, one `stat`: for
    /// Sieve's `mailboxexists` test and `fileinto`, which run off the async runtime. An invalid
    /// name does not exist.
    pub fn mailbox_exists_blocking(&self, name: &str) -> bool {
        match MailboxName::parse(name) {
            Ok(MailboxName::Inbox) => true,
            Ok(n) => is_maildir(&folder_dir(&self.maildir_path(), &n)),
            Err(_) => false,
        }
    }

    /// The user's Sieve scripts (Pigeonhole's layout in the home: see [`crate::sieve`]).
    pub fn sieve(&self) -> crate::sieve::SieveScripts {
        crate::sieve::SieveScripts::new(self.home_path(), self.inner.fsync)
    }

    pub(crate) fn fsync(&self) -> bool {
        self.inner.fsync
    }

    fn ensure_exists_blocking(maildir: &Path, fsync: bool) -> Result<(), StoreError> {
        if is_maildir(maildir) && maildir.join("new").is_dir() && maildir.join("tmp").is_dir() {
            return Ok(());
        }
        if let Some(parent) = maildir.parent() {
            layout::create_parents(parent)?;
        }
        create_maildir(maildir, false, fsync)
    }

    /// Create the user's Maildir (INBOX) if missing.
    pub async fn ensure_exists(&self) -> Result<(), StoreError> {
        let maildir = self.maildir_path();
        let fsync = self.fsync();
        blocking(move || UserStore::ensure_exists_blocking(&maildir, fsync)).await
    }

    /// Create the INBOX and these folders when missing (idempotent).
    pub async fn create_default_folders(&self, names: &[&str]) -> Result<(), StoreError> {
        let parsed = names
            .iter()
            .map(|n| MailboxName::parse(n))
            .collect::<Result<Vec<_>, _>>()?;
        let maildir = self.maildir_path();
        let fsync = self.fsync();
        blocking(move || {
            UserStore::ensure_exists_blocking(&maildir, fsync)?;
            for name in &parsed {
                if *name != MailboxName::Inbox {
                    create_maildir(&folder_dir(&maildir, name), true, fsync)?;
                }
            }
            Ok(())
        })
        .await
    }

    /// Deliver one message: `prefix` (e.g. `Return-Path:` and
    /// `Delivered-To:` lines) followed by `body`, stored exactly as given.
    ///
    /// Creates the INBOX when missing; another unknown mailbox is
    /// [`StoreError::MailboxNotFound`]. `flags` non-empty saves into `cur/`
    /// with them, else into `new/`. Returns only after file and directory
    /// entry are fsynced (unless fsync is off in [`crate::StoreOptions`]).
    /// Over quota: [`StoreError::QuotaExceeded`].
    pub async fn deliver(
        &self,
        mailbox: &str,
        prefix: &[u8],
        body: MessageSource<'_>,
        flags: &[Flag],
        quota: &Quota,
    ) -> Result<Delivered, StoreError> {
        let name = MailboxName::parse(mailbox)?;
        let maildir = self.maildir_path();
        let dir = folder_dir(&maildir, &name);
        let fsync = self.fsync();
        let (body, body_len) = match body {
            MessageSource::Bytes(b) => (Body::Bytes(b.to_vec()), b.len() as u64),
            MessageSource::File(f) => {
                let len = f
                    .metadata()
                    .map_err(|e| StoreError::io("<message source>", e))?
                    .len();
                let dup = f
                    .try_clone()
                    .map_err(|e| StoreError::io("<message source>", e))?;
                (Body::File(dup), len)
            }
        };
        let size = prefix.len() as u64 + body_len;
        let limits = *quota;
        let letters = (!flags.is_empty()).then(|| flags_to_letters(flags));
        let req = SaveRequest {
            dir: dir.clone(),
            prefix: prefix.to_vec(),
            body,
            letters,
            mtime: None,
            fsync,
        };
        let mailbox_name = name.as_str().to_string();
        let is_inbox = name == MailboxName::Inbox;
        let saved = blocking(move || {
            if is_inbox {
                UserStore::ensure_exists_blocking(&maildir, fsync)?;
            } else if !is_maildir(&dir) {
                return Err(StoreError::MailboxNotFound(mailbox_name));
            }
            quota::check(&maildir, &limits, size)?;
            let saved = save::save(req)?;
            if let Err(e) = quota::add_delta(&maildir, saved.size as i64, 1) {
                tracing::warn!(error = %e, "cannot update maildirsize");
            }
            Ok(saved)
        })
        .await?;
        let path = saved.path.clone();
        let size = saved.size;
        let msg = NewMessage {
            saved,
            flags: flags.to_vec(),
            keywords: Vec::new(),
        };
        let dir = folder_dir(&self.maildir_path(), &name);
        let indexed = async {
            let mut index = Index::open(&dir, fsync).await?;
            let rows = index.insert_new(vec![msg]).await;
            let meta = index.meta().await;
            index.close().await;
            Ok::<_, StoreError>((rows?, meta?))
        }
        .await;
        match indexed {
            Ok((rows, meta)) => Ok(Delivered {
                uid: rows.first().map(|r| r.uid),
                uidvalidity: meta.uidvalidity,
                path,
                size,
            }),
            Err(e) => {
                tracing::warn!(
                    error = %e, path = %path.display(),
                    "message stored but not indexed; the next sync will index it"
                );
                Ok(Delivered {
                    uid: None,
                    uidvalidity: 0,
                    path,
                    size,
                })
            }
        }
    }

    /// All mailboxes: INBOX first, then folders by name; parents that only
    /// exist through their children are listed as not selectable.
    pub async fn list_mailboxes(&self) -> Result<Vec<MailboxInfo>, StoreError> {
        let maildir = self.maildir_path();
        let folders = blocking(move || list_folders(&maildir)).await?;
        let existing: Vec<String> = folders
            .into_iter()
            .map(|(n, _)| n.as_str().to_string())
            .collect();
        let mut names: std::collections::BTreeMap<String, bool> = std::collections::BTreeMap::new();
        for n in &existing {
            let mut prefix = String::new();
            for (i, part) in n.split(SEPARATOR).enumerate() {
                if i > 0 {
                    prefix.push(SEPARATOR);
                }
                prefix.push_str(part);
                names.entry(prefix.clone()).or_insert(false);
            }
            names.insert(n.clone(), true);
        }
        let mut out = vec![MailboxInfo {
            name: "INBOX".to_string(),
            has_children: names.keys().any(|k| k.starts_with("INBOX.")),
            selectable: true,
            special_use: None,
        }];
        for (name, selectable) in &names {
            let child_prefix = format!("{name}{SEPARATOR}");
            out.push(MailboxInfo {
                name: name.clone(),
                has_children: names.keys().any(|k| k.starts_with(&child_prefix)),
                selectable: *selectable,
                special_use: SpecialUse::for_name(name),
            });
        }
        Ok(out)
    }

    /// Create a mailbox. Existing: [`StoreError::MailboxExists`].
    pub async fn create_mailbox(&self, name: &str) -> Result<(), StoreError> {
        let parsed = MailboxName::parse(name)?;
        let maildir = self.maildir_path();
        let fsync = self.fsync();
        blocking(move || {
            let exists = match &parsed {
                MailboxName::Inbox => is_maildir(&maildir),
                f => is_maildir(&folder_dir(&maildir, f)),
            };
            if exists {
                return Err(StoreError::MailboxExists(parsed.as_str().to_string()));
            }
            UserStore::ensure_exists_blocking(&maildir, fsync)?;
            if parsed != MailboxName::Inbox {
                create_maildir(&folder_dir(&maildir, &parsed), true, fsync)?;
            }
            Ok(())
        })
        .await
    }

    /// Delete a mailbox and its messages. INBOX cannot be deleted; a
    /// mailbox with children neither ([`StoreError::MailboxHasChildren`]).
    /// The directory is first renamed out of sight (as Dovecot does), then
    /// removed; `maildirsize` is recalculated.
    pub async fn delete_mailbox(&self, name: &str) -> Result<(), StoreError> {
        let parsed = MailboxName::parse(name)?;
        if parsed == MailboxName::Inbox {
            return Err(StoreError::NotPermitted("INBOX".into()));
        }
        let maildir = self.maildir_path();
        blocking(move || {
            let dir = folder_dir(&maildir, &parsed);
            if !is_maildir(&dir) {
                return Err(StoreError::MailboxNotFound(parsed.as_str().to_string()));
            }
            let child_prefix = format!("{}{SEPARATOR}", parsed.as_str());
            if list_folders(&maildir)?
                .iter()
                .any(|(n, _)| n.as_str().starts_with(&child_prefix))
            {
                return Err(StoreError::MailboxHasChildren(parsed.as_str().to_string()));
            }
            let trash = maildir.join(format!(
                "..DOVECOT-TRASHED.{}",
                crate::maildir::filename::unique_base()
            ));
            fs::rename(&dir, &trash).at(&dir)?;
            crate::mailbox::forget_shared_snapshot(&dir);
            fs::remove_dir_all(&trash).at(&trash)?;
            quota::recalculate(&maildir)
        })
        .await
    }

    /// Rename a mailbox and all its children (`a` → `b` moves `a.x` to
    /// `b.x`); the folder directories move with their index and
    /// `dovecot-uidlist`, so UIDVALIDITY and the mailbox GUID stay (as with
    /// Dovecot). A parent that exists only through its children (`a` of
    /// `a.x`) can be renamed too: its children move. INBOX cannot be renamed
    /// ([`StoreError::NotPermitted`]), nor a mailbox below itself.
    pub async fn rename_mailbox(&self, from: &str, to: &str) -> Result<(), StoreError> {
        let src = MailboxName::parse(from)?;
        let dst = MailboxName::parse(to)?;
        if src == MailboxName::Inbox {
            return Err(StoreError::NotPermitted("INBOX".into()));
        }
        if dst == MailboxName::Inbox {
            return Err(StoreError::MailboxExists("INBOX".into()));
        }
        if dst
            .as_str()
            .strip_prefix(src.as_str())
            .is_some_and(|rest| rest.starts_with(SEPARATOR))
        {
            return Err(StoreError::NotPermitted(dst.as_str().to_string()));
        }
        let maildir = self.maildir_path();
        let fsync = self.fsync();
        blocking(move || {
            let src_dir = folder_dir(&maildir, &src);
            let child_prefix = format!("{}{SEPARATOR}", src.as_str());
            let folders = list_folders(&maildir)?;
            let has_children = folders
                .iter()
                .any(|(n, _)| n.as_str().starts_with(&child_prefix));
            let src_exists = is_maildir(&src_dir);
            if !src_exists && !has_children {
                return Err(StoreError::MailboxNotFound(src.as_str().to_string()));
            }
            let dst_dir = folder_dir(&maildir, &dst);
            if dst_dir.exists() {
                return Err(StoreError::MailboxExists(dst.as_str().to_string()));
            }
            let mut moves = Vec::new();
            if src_exists {
                moves.push((src_dir, dst_dir));
            }
            for (child, _) in folders {
                if let Some(rest) = child.as_str().strip_prefix(&child_prefix) {
                    let target = MailboxName::parse(&format!("{}{SEPARATOR}{rest}", dst.as_str()))?;
                    let target_dir = folder_dir(&maildir, &target);
                    if target_dir.exists() {
                        return Err(StoreError::MailboxExists(target.as_str().to_string()));
                    }
                    moves.push((folder_dir(&maildir, &child), target_dir));
                }
            }
            for (a, b) in moves {
                fs::rename(&a, &b).at(&a)?;
                crate::mailbox::forget_shared_snapshot(&a);
            }
            if fsync {
                layout::fsync_dir(&maildir)?;
            }
            Ok(())
        })
        .await
    }

    /// Open a mailbox: open (or rebuild) its index and sync it with the
    /// Maildir. Opening INBOX creates it when missing.
    pub async fn open(&self, name: &str) -> Result<Mailbox, StoreError> {
        let parsed = MailboxName::parse(name)?;
        let maildir = self.maildir_path();
        let dir = folder_dir(&maildir, &parsed);
        if parsed == MailboxName::Inbox {
            self.ensure_exists().await?;
        } else {
            let d = dir.clone();
            if !blocking(move || Ok(is_maildir(&d))).await? {
                return Err(StoreError::MailboxNotFound(parsed.as_str().to_string()));
            }
        }
        let index = Index::open(&dir, self.fsync()).await?;
        Mailbox::load(parsed.as_str().to_string(), self.clone(), index).await
    }

    /// Current usage `(bytes, messages)` over all folders: from
    /// `maildirsize` when present (recalculated if needed), else counted.
    pub async fn quota_usage(&self) -> Result<(u64, u64), StoreError> {
        let maildir = self.maildir_path();
        blocking(move || quota::usage(&maildir, &Quota::UNLIMITED)).await
    }
}
