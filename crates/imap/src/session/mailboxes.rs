//! Commands on mailboxes as a whole: SELECT/EXAMINE, STATUS, CREATE, DELETE, RENAME,
//! SUBSCRIBE/UNSUBSCRIBE, APPEND (with MULTIAPPEND, RFC 3502). LIST and LSUB are in `list`.

use std::path::PathBuf;

use mailstack_store::{Flag as StoreFlag, StoreError, SyncChanges, UserStore, encode_mutf7};

use super::convert::{split_flags, system_time};
use super::reply::{Done, store_error};
use super::selected::Selected;
use super::{ImapStream, Session};
use crate::proto::{
    AppendMessage, Code, Data, Flag, Mailbox, NumberSet, Response, SelectParams, SpecialUse,
    StatusItem, StatusKind, StatusResponse, StatusValue,
};
use crate::view::MailboxView;

/// The hierarchy delimiter (Maildir++).
const DELIMITER: char = mailstack_store::SEPARATOR;

/// The folder directory the watcher watches: the Maildir for INBOX, `.<mUTF-7 name>` below it
/// otherwise (the Maildir++ layout of ARCHITECTURE.md).
fn folder_dir(user: &UserStore, name: &str) -> PathBuf {
    let root = user.maildir_path();
    if name == "INBOX" {
        root
    } else {
        root.join(format!(".{}", encode_mutf7(name)))
    }
}

/// The logged-in user (the command table lets only authenticated commands call this).
pub(super) fn user(session_user: &Option<super::Authed>) -> &super::Authed {
    session_user
        .as_ref()
        .expect("the command table lets only authenticated commands here")
}

impl<S: ImapStream> Session<S> {
    pub(super) async fn select(
        &mut self,
        mailbox: Mailbox,
        params: SelectParams,
        read_only: bool,
    ) -> Done {
        if let Some(refused) = self.check_select_params(&params) {
            return refused;
        }
        self.close_for_select().await;
        let name = match self.store_name(&mailbox) {
            Ok(n) => n,
            Err(d) => return d,
        };
        let authed = user(&self.user);
        let mailbox = match authed.store.open(&name).await {
            Ok(m) => m,
            Err(e) => return store_error(&e),
        };
        let folder = folder_dir(&authed.store, &name);
        let view = MailboxView::shared(mailbox.uids());
        let system = vec![
            Flag::Answered,
            Flag::Flagged,
            Flag::Deleted,
            Flag::Seen,
            Flag::Draft,
        ];
        let untagged_ok = |code, text: &str| {
            Response::Status(StatusResponse {
                tag: None,
                kind: StatusKind::Ok,
                code: Some(code),
                text: text.to_string(),
            })
        };
        self.send(Response::Data(Data::Flags(system.clone())));
        self.send(Response::Data(Data::Exists(view.exists())));
        if !self.enabled.imap4rev2 {
            self.send(Response::Data(Data::Recent(0)));
            // IMAP4rev1 clients jump to the first unseen message (RFC 3501 §6.3.1).
            let first_unseen = mailbox
                .iter()
                .position(|m| !m.flags.contains(&mailstack_store::Flag::Seen));
            if let Some(i) = first_unseen {
                self.send(untagged_ok(Code::Unseen(i as u32 + 1), "First unseen."));
            }
        }
        self.send(untagged_ok(
            Code::UidValidity(mailbox.uidvalidity()),
            "UIDs valid",
        ));
        self.send(untagged_ok(
            Code::UidNext(mailbox.uidnext()),
            "Predicted next UID",
        ));
        let permanent = if read_only { Vec::new() } else { system };
        self.send(untagged_ok(
            Code::PermanentFlags {
                flags: permanent,
                new_keywords: !read_only,
            },
            if read_only {
                "No permanent flags permitted"
            } else {
                "Flags permitted."
            },
        ));
        self.send(untagged_ok(
            Code::HighestModSeq(mailbox.highest_modseq()),
            "Highest",
        ));
        self.send(untagged_ok(
            Code::MailboxId(mailbox_id(mailbox.guid())),
            "Ok",
        ));
        self.selected = Some(Selected {
            name,
            mailbox,
            view,
            read_only,
            folder,
            saved: Vec::new(),
        });
        if let Some(failed) = self.after_select(&params).await {
            return failed;
        }
        if read_only {
            Done::ok_code(Code::ReadOnly, "EXAMINE completed")
        } else {
            Done::ok_code(Code::ReadWrite, "SELECT completed")
        }
    }

    /// The values of STATUS items for a mailbox, from a handle of its own: the session's
    /// selected mailbox and view are not touched.
    pub(super) async fn status_values(
        &self,
        name: &str,
        items: &[StatusItem],
    ) -> Result<Vec<StatusValue>, StoreError> {
        use StatusItem as I;
        let mb = user(&self.user).store.open(name).await?;
        let count = |f: StoreFlag, set: bool| {
            mb.iter().filter(|m| m.flags.contains(&f) == set).count() as u32
        };
        let values = items
            .iter()
            .map(|i| match i {
                I::Messages => StatusValue::Messages(mb.len() as u32),
                I::UidNext => StatusValue::UidNext(mb.uidnext()),
                I::UidValidity => StatusValue::UidValidity(mb.uidvalidity()),
                I::Unseen => StatusValue::Unseen(count(StoreFlag::Seen, false)),
                I::Deleted => StatusValue::Deleted(count(StoreFlag::Deleted, true)),
                I::Size => StatusValue::Size(mb.iter().map(|m| m.vsize).sum()),
                I::Recent => StatusValue::Recent(0),
                I::HighestModSeq => StatusValue::HighestModSeq(mb.highest_modseq()),
                I::AppendLimit => {
                    StatusValue::AppendLimit(Some(self.config.limits.max_append_literal))
                }
                I::MailboxId => StatusValue::MailboxId(mailbox_id(mb.guid())),
            })
            .collect();
        mb.close().await;
        Ok(values)
    }

    pub(super) async fn status(&mut self, mailbox: Mailbox, items: &[StatusItem]) -> Done {
        let name = match self.store_name(&mailbox) {
            Ok(n) => n,
            Err(d) => return d,
        };
        match self.status_values(&name, items).await {
            Ok(values) => {
                self.send(Response::Data(Data::Status {
                    mailbox: self.wire_name(&name),
                    items: values,
                }));
                Done::ok("STATUS completed")
            }
            Err(e) => store_error(&e),
        }
    }

    pub(super) async fn create(&mut self, mailbox: Mailbox, uses: Vec<SpecialUse>) -> Done {
        if !uses.is_empty() {
            return Done::not_supported("CREATE-SPECIAL-USE");
        }
        let name = match self.store_name(&mailbox) {
            Ok(n) => n,
            Err(d) => return d,
        };
        if name == "INBOX" {
            return Done::no(Some(Code::AlreadyExists), "INBOX always exists");
        }
        let store = user(&self.user).store.clone();
        if let Err(e) = store.create_mailbox(&name).await {
            return store_error(&e);
        }
        // Opening creates the index, and with it the mailbox GUID (RFC 8474 MAILBOXID).
        match store.open(&name).await {
            Ok(mb) => {
                let id = mailbox_id(mb.guid());
                mb.close().await;
                Done::ok_code(Code::MailboxId(id), "CREATE completed")
            }
            Err(e) => {
                tracing::warn!(error = %e, mailbox = %name, "new mailbox cannot be opened");
                Done::ok("CREATE completed")
            }
        }
    }

    pub(super) async fn delete(&mut self, mailbox: Mailbox) -> Done {
        let name = match self.store_name(&mailbox) {
            Ok(n) => n,
            Err(d) => return d,
        };
        if name == "INBOX" {
            return Done::no(Some(Code::Cannot), "INBOX cannot be deleted");
        }
        match user(&self.user).store.delete_mailbox(&name).await {
            Ok(()) => {
                if self.selected.as_ref().is_some_and(|s| s.name == name) {
                    self.selected = None;
                }
                Done::ok("DELETE completed")
            }
            Err(e) => store_error(&e),
        }
    }

    /// RENAME (RFC 9051 §6.3.6): children move with their parent, UIDVALIDITY stays, and the
    /// subscriptions follow. Renaming INBOX moves its messages into the new mailbox and leaves
    /// INBOX empty (its children stay).
    pub(super) async fn rename(&mut self, from: Mailbox, to: Mailbox) -> Done {
        let (from, to) = match (self.store_name(&from), self.store_name(&to)) {
            (Ok(f), Ok(t)) => (f, t),
            (Err(d), _) | (_, Err(d)) => return d,
        };
        if to == "INBOX" {
            return Done::no(Some(Code::AlreadyExists), "INBOX always exists");
        }
        if from == "INBOX" {
            return self.rename_inbox(&to).await;
        }
        if to
            .strip_prefix(from.as_str())
            .is_some_and(|rest| rest.starts_with(DELIMITER))
        {
            return Done::no(
                Some(Code::Cannot),
                "Can't rename mailbox under its own child",
            );
        }
        let store = user(&self.user).store.clone();
        if let Err(e) = store.rename_mailbox(&from, &to).await {
            return store_error(&e);
        }
        if let Err(e) = store.rename_subscriptions(&from, &to).await {
            tracing::warn!(error = %e, "subscriptions not renamed with their mailbox");
        }
        self.follow_rename(&from, &to).await;
        Done::ok("RENAME completed")
    }

    /// Move all of INBOX's messages into the new mailbox `to`.
    async fn rename_inbox(&mut self, to: &str) -> Done {
        let store = user(&self.user).store.clone();
        if let Err(e) = store.create_mailbox(to).await {
            return store_error(&e);
        }
        let copied = async {
            let mut inbox = store.open("INBOX").await?;
            let mut dest = store.open(to).await?;
            let uids = inbox.uids().to_vec();
            let pairs = inbox.copy_to(&uids, &mut dest).await;
            dest.close().await;
            Ok::<_, StoreError>((inbox, pairs?))
        }
        .await;
        let (mut inbox, pairs) = match copied {
            Ok(c) => c,
            Err(e) => {
                if let Err(e) = store.delete_mailbox(to).await {
                    tracing::warn!(error = %e, "cannot remove the target of a failed RENAME INBOX");
                }
                return store_error(&e);
            }
        };
        let moved: Vec<u32> = pairs.iter().map(|&(s, _)| s).collect();
        // Interrupted here, the messages are in both mailboxes: never in none.
        let expunged = inbox.expunge(&moved).await;
        inbox.close().await;
        match expunged {
            Ok(()) => Done::ok("RENAME completed"),
            Err(e) => store_error(&e),
        }
    }

    /// After a RENAME of the selected mailbox (or of one of its parents), keep it selected under
    /// its new name: same UIDVALIDITY and UIDs, so the client's view stays valid.
    async fn follow_rename(&mut self, from: &str, to: &str) {
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        let new_name = if sel.name == from {
            to.to_string()
        } else if let Some(rest) = sel
            .name
            .strip_prefix(from)
            .filter(|r| r.starts_with(DELIMITER))
        {
            format!("{to}{rest}")
        } else {
            return;
        };
        let store = user(&self.user).store.clone();
        let Some(old) = self.selected.take() else {
            return;
        };
        let reopened = store.open(&new_name).await;
        let Selected {
            mailbox: old_mailbox,
            mut view,
            read_only,
            saved,
            ..
        } = old;
        let mailbox = match reopened {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, mailbox = %new_name, "renamed mailbox cannot be reopened; unselected");
                old_mailbox.close().await;
                return;
            }
        };
        // What changed between the old handle's last sync and the new handle's load.
        let mut changes = SyncChanges::default();
        for m in mailbox.iter() {
            match old_mailbox.message(m.uid) {
                None => changes.new_uids.push(m.uid),
                Some(b) if b.flags != m.flags || b.keywords != m.keywords => {
                    changes.flag_changes.push(m.uid)
                }
                Some(_) => {}
            }
        }
        changes.expunged = old_mailbox
            .iter()
            .filter(|b| mailbox.message(b.uid).is_none())
            .map(|b| b.uid)
            .collect();
        view.absorb(&changes);
        old_mailbox.close().await;
        let folder = folder_dir(&store, &new_name);
        self.selected = Some(Selected {
            name: new_name,
            mailbox,
            view,
            read_only,
            folder,
            saved,
        });
    }

    /// SUBSCRIBE (`on`) or UNSUBSCRIBE. Like Dovecot, only existing mailboxes (or parents of
    /// existing ones) can be subscribed; any name can be unsubscribed.
    pub(super) async fn subscribe(&mut self, mailbox: Mailbox, on: bool) -> Done {
        let name = match self.store_name(&mailbox) {
            Ok(n) => n,
            Err(d) => return d,
        };
        let store = user(&self.user).store.clone();
        if on && name != "INBOX" {
            match store.list_mailboxes().await {
                Ok(boxes) if boxes.iter().any(|b| b.name == name) => {}
                Ok(_) => return Done::no(Some(Code::NonExistent), "Mailbox does not exist"),
                Err(e) => return store_error(&e),
            }
        }
        match store.set_subscribed(&[&name], on).await {
            Ok(_) if on => Done::ok("SUBSCRIBE completed"),
            Ok(_) => Done::ok("UNSUBSCRIBE completed"),
            Err(e) => store_error(&e),
        }
    }

    /// APPEND of one or more messages (MULTIAPPEND, RFC 3502): all or none. When one message
    /// cannot be stored, those already appended by this command are expunged again.
    pub(super) async fn append(&mut self, mailbox: Mailbox, messages: Vec<AppendMessage>) -> Done {
        // Literal8 (`~{n}`, BINARY) messages are stored as sent, like any other.
        let name = match self.store_name(&mailbox) {
            Ok(n) => n,
            Err(d) => return d,
        };
        let mut prepared = Vec::with_capacity(messages.len());
        for m in &messages {
            match split_flags(&m.flags) {
                Ok((flags, keywords)) => {
                    prepared.push((flags, keywords, m.date_time.as_ref().and_then(system_time)))
                }
                Err(d) => return d,
            }
        }
        let authed = user(&self.user);
        let mut mb = match authed.store.open(&name).await {
            Ok(m) => m,
            Err(StoreError::MailboxNotFound(_)) => {
                return Done::no(Some(Code::TryCreate), "Mailbox does not exist");
            }
            Err(e) => return store_error(&e),
        };
        mb.set_quota(authed.quota);
        let mut uids = Vec::with_capacity(messages.len());
        let mut failure = None;
        for (m, (flags, keywords, date)) in messages.iter().zip(&prepared) {
            let uid = match mb.append(&m.data, flags, *date).await {
                Ok(uid) => uid,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            uids.push(uid);
            if !keywords.is_empty()
                && let Err(e) = mb.set_flags(uid, flags, keywords).await
            {
                failure = Some(e);
                break;
            }
        }
        if let Some(e) = failure {
            if !uids.is_empty()
                && let Err(e) = mb.expunge(&uids).await
            {
                tracing::warn!(error = %e, "cannot take back the messages of a failed APPEND");
            }
            mb.close().await;
            return store_error(&e);
        }
        let uid_validity = mb.uidvalidity();
        mb.close().await;
        Done::ok_code(
            Code::AppendUid {
                uid_validity,
                uids: NumberSet::from_numbers(&uids),
            },
            "APPEND completed",
        )
    }
}

/// A mailbox GUID as an RFC 8474 objectid (1-255 of `A-Za-z0-9_-`); ours and Dovecot's are
/// hex, anything else found in an imported `dovecot-uidlist` is made to fit.
pub(super) fn mailbox_id(guid: &str) -> String {
    let id: String = guid
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(255)
        .collect();
    if id.is_empty() { "0".to_string() } else { id }
}
