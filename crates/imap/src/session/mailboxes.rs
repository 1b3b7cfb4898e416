//! Commands on mailboxes as a whole: SELECT/EXAMINE, LIST, STATUS, CREATE, DELETE, APPEND.

use std::path::PathBuf;

use mailstack_store::{Flag as StoreFlag, StoreError, UserStore, encode_mutf7};

use super::convert::{mailbox_name, special_use, split_flags, system_time};
use super::reply::{Done, store_error};
use super::selected::Selected;
use super::{ImapStream, Session};
use crate::proto::{
    AppendMessage, Code, Data, Flag, ListAttr, ListItem, ListReturn, ListSelect, Mailbox,
    NumberSet, Response, SelectParams, SpecialUse, StatusItem, StatusKind, StatusResponse,
    StatusValue,
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

/// `%` matches within one level, `*` across levels; INBOX matches case-insensitively.
fn matches(pattern: &[char], name: &[char], fold: bool) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|i| matches(rest, &name[i..], fold)),
        Some(('%', rest)) => (0..=name.len())
            .take_while(|&i| i == 0 || name[i - 1] != DELIMITER)
            .any(|i| matches(rest, &name[i..], fold)),
        Some((&p, rest)) => match name.split_first() {
            Some((&n, nrest)) if p == n || (fold && p.eq_ignore_ascii_case(&n)) => {
                matches(rest, nrest, fold)
            }
            _ => false,
        },
    }
}

fn user(session_user: &Option<super::Authed>) -> &super::Authed {
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
        if params != SelectParams::default() {
            return Done::not_supported("CONDSTORE/QRESYNC");
        }
        self.selected = None;
        let name = match mailbox_name(mailbox.as_str()) {
            Ok(n) => n,
            Err(d) => return d,
        };
        let authed = user(&self.user);
        let mailbox = match authed.store.open(&name).await {
            Ok(m) => m,
            Err(e) => return store_error(&e),
        };
        let metas = match mailbox.messages().await {
            Ok(m) => m,
            Err(e) => return store_error(&e),
        };
        let folder = folder_dir(&authed.store, &name);
        let view = MailboxView::new(metas.iter().map(|m| m.uid));
        let system = vec![
            Flag::Answered,
            Flag::Flagged,
            Flag::Deleted,
            Flag::Seen,
            Flag::Draft,
        ];
        let untagged_ok = |code| {
            Response::Status(StatusResponse {
                tag: None,
                kind: StatusKind::Ok,
                code: Some(code),
                text: String::new(),
            })
        };
        self.send(Response::Data(Data::Flags(system.clone())));
        self.send(Response::Data(Data::Exists(view.exists())));
        self.send(Response::Data(Data::Recent(0)));
        self.send(untagged_ok(Code::UidValidity(mailbox.uidvalidity())));
        self.send(untagged_ok(Code::UidNext(mailbox.uidnext())));
        let permanent = if read_only { Vec::new() } else { system };
        self.send(untagged_ok(Code::PermanentFlags {
            flags: permanent,
            new_keywords: !read_only,
        }));
        self.send(untagged_ok(Code::HighestModSeq(mailbox.highest_modseq())));
        self.selected = Some(Selected {
            name,
            mailbox,
            view,
            read_only,
            folder,
        });
        if read_only {
            Done::ok_code(Code::ReadOnly, "EXAMINE completed")
        } else {
            Done::ok_code(Code::ReadWrite, "SELECT completed")
        }
    }

    pub(super) async fn list(
        &mut self,
        select: ListSelect,
        reference: &str,
        patterns: &[String],
        returns: ListReturn,
    ) -> Done {
        let plain_returns = ListReturn {
            special_use: returns.special_use,
            ..ListReturn::default()
        };
        if select != ListSelect::default() || returns != plain_returns || patterns.len() != 1 {
            return Done::not_supported("LIST-EXTENDED");
        }
        let pattern = &patterns[0];
        if pattern.is_empty() {
            self.send(Response::Data(Data::List(ListItem {
                attributes: vec![ListAttr::NoSelect],
                delimiter: Some(DELIMITER),
                name: String::new(),
                child_info: Vec::new(),
            })));
            return Done::ok("LIST completed");
        }
        let full = format!("{reference}{pattern}");
        let full: Vec<char> = mailstack_store::decode_mutf7(&full)
            .unwrap_or(full)
            .chars()
            .collect();
        let boxes = match user(&self.user).store.list_mailboxes().await {
            Ok(b) => b,
            Err(e) => return store_error(&e),
        };
        for mb in boxes {
            let chars: Vec<char> = mb.name.chars().collect();
            if !matches(&full, &chars, mb.name == "INBOX") {
                continue;
            }
            let mut attributes = Vec::new();
            if !mb.selectable {
                attributes.push(ListAttr::NoSelect);
            }
            attributes.push(if mb.has_children {
                ListAttr::HasChildren
            } else {
                ListAttr::HasNoChildren
            });
            if let Some(u) = mb.special_use {
                attributes.push(ListAttr::SpecialUse(special_use(u)));
            }
            self.send(Response::Data(Data::List(ListItem {
                attributes,
                delimiter: Some(DELIMITER),
                name: encode_mutf7(&mb.name),
                child_info: Vec::new(),
            })));
        }
        Done::ok("LIST completed")
    }

    pub(super) async fn status(&mut self, mailbox: Mailbox, items: &[StatusItem]) -> Done {
        use StatusItem as I;
        if items.iter().any(|i| {
            !matches!(
                i,
                I::Messages | I::UidNext | I::UidValidity | I::Unseen | I::Recent
            )
        }) {
            return Done::not_supported("STATUS item");
        }
        let name = match mailbox_name(mailbox.as_str()) {
            Ok(n) => n,
            Err(d) => return d,
        };
        let mb = match user(&self.user).store.open(&name).await {
            Ok(m) => m,
            Err(e) => return store_error(&e),
        };
        let metas = match mb.messages().await {
            Ok(m) => m,
            Err(e) => return store_error(&e),
        };
        let values = items
            .iter()
            .map(|i| match i {
                I::Messages => StatusValue::Messages(metas.len() as u32),
                I::UidNext => StatusValue::UidNext(mb.uidnext()),
                I::UidValidity => StatusValue::UidValidity(mb.uidvalidity()),
                I::Unseen => StatusValue::Unseen(
                    metas
                        .iter()
                        .filter(|m| !m.flags.contains(&StoreFlag::Seen))
                        .count() as u32,
                ),
                _ => StatusValue::Recent(0),
            })
            .collect();
        mb.close().await;
        self.send(Response::Data(Data::Status {
            mailbox: encode_mutf7(&name),
            items: values,
        }));
        Done::ok("STATUS completed")
    }

    pub(super) async fn create(&mut self, mailbox: Mailbox, uses: Vec<SpecialUse>) -> Done {
        if !uses.is_empty() {
            return Done::not_supported("CREATE-SPECIAL-USE");
        }
        let name = match mailbox_name(mailbox.as_str()) {
            Ok(n) => n,
            Err(d) => return d,
        };
        if name == "INBOX" {
            return Done::no(Some(Code::AlreadyExists), "INBOX always exists");
        }
        match user(&self.user).store.create_mailbox(&name).await {
            Ok(()) => Done::ok("CREATE completed"),
            Err(e) => store_error(&e),
        }
    }

    pub(super) async fn delete(&mut self, mailbox: Mailbox) -> Done {
        let name = match mailbox_name(mailbox.as_str()) {
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

    pub(super) async fn append(&mut self, mailbox: Mailbox, messages: Vec<AppendMessage>) -> Done {
        if messages.len() != 1 {
            return Done::not_supported("MULTIAPPEND");
        }
        let Some(message) = messages.into_iter().next() else {
            return Done::not_supported("MULTIAPPEND");
        };
        let name = match mailbox_name(mailbox.as_str()) {
            Ok(n) => n,
            Err(d) => return d,
        };
        let (flags, keywords) = match split_flags(&message.flags) {
            Ok(f) => f,
            Err(d) => return d,
        };
        let date = message.date_time.as_ref().and_then(system_time);
        let authed = user(&self.user);
        let mut mb = match authed.store.open(&name).await {
            Ok(m) => m,
            Err(StoreError::MailboxNotFound(_)) => {
                return Done::no(Some(Code::TryCreate), "Mailbox does not exist");
            }
            Err(e) => return store_error(&e),
        };
        mb.set_quota(authed.quota);
        let result = async {
            let uid = mb.append(&message.data, &flags, date).await?;
            if !keywords.is_empty() {
                mb.set_flags(uid, &flags, &keywords).await?;
            }
            Ok::<u32, StoreError>(uid)
        }
        .await;
        let uid_validity = mb.uidvalidity();
        mb.close().await;
        match result {
            Ok(uid) => Done::ok_code(
                Code::AppendUid {
                    uid_validity,
                    uids: NumberSet::from_numbers(&[uid]),
                },
                "APPEND completed",
            ),
            Err(e) => store_error(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    fn m(p: &str, n: &str) -> bool {
        let p: Vec<char> = p.chars().collect();
        let n: Vec<char> = n.chars().collect();
        matches(&p, &n, false)
    }

    #[test]
    fn wildcards() {
        assert!(m("*", "Work.Projects"));
        assert!(m("%", "Work"));
        assert!(!m("%", "Work.Projects"));
        assert!(m("Work.%", "Work.Projects"));
        assert!(m("W*s", "Work.Projects"));
        assert!(!m("Sent", "Sent.x"));
        assert!(matches(
            &['i', 'n', 'b', 'o', 'x'],
            &['I', 'N', 'B', 'O', 'X'],
            true
        ));
    }
}
