//! QUOTA (RFC 9208): one quota root, `""`, over all of the user's mailboxes, with the limits
//! the directory gives (`Authed::quota`) and the usage of `maildirsize`. STORAGE is reported
//! in KiB, MESSAGE in messages; a resource without a limit is not reported, and a user without
//! any limit has no quota root. SETQUOTA is refused: limits are the administrator's.

use mailstack_store::Quota;

use super::mailboxes::user;
use super::reply::{Done, store_error};
use super::{ImapStream, Session};
use crate::proto::{Code, Data, Mailbox, QuotaResource, Response};

/// The name of the one quota root.
const ROOT: &str = "";

/// Whether the user has any limit (`Some(0)` is no limit, as in `maildirsize`).
fn has_limits(quota: &Quota) -> bool {
    quota.bytes.is_some_and(|l| l > 0) || quota.messages.is_some_and(|l| l > 0)
}

/// The resources with a limit, with their usage: `(bytes, messages)` in use.
pub(super) fn resources(quota: &Quota, usage: (u64, u64)) -> Vec<QuotaResource> {
    let mut out = Vec::new();
    if let Some(limit) = quota.bytes.filter(|&l| l > 0) {
        out.push(QuotaResource {
            name: "STORAGE".into(),
            usage: usage.0 / 1024,
            limit: limit / 1024,
        });
    }
    if let Some(limit) = quota.messages.filter(|&l| l > 0) {
        out.push(QuotaResource {
            name: "MESSAGE".into(),
            usage: usage.1,
            limit,
        });
    }
    out
}

impl<S: ImapStream> Session<S> {
    /// `* QUOTA "" (...)` for the user's limits; `Ok(false)` when there are none.
    async fn send_quota(&mut self) -> Result<bool, Done> {
        let authed = user(&self.user);
        let quota = authed.quota;
        if !has_limits(&quota) {
            return Ok(false);
        }
        let usage = authed
            .store
            .quota_usage()
            .await
            .map_err(|e| store_error(&e))?;
        self.send(Response::Data(Data::Quota {
            root: ROOT.to_string(),
            resources: resources(&quota, usage),
        }));
        Ok(true)
    }

    pub(super) async fn get_quota_root(&mut self, mailbox: Mailbox) -> Done {
        let name = match self.store_name(&mailbox) {
            Ok(n) => n,
            Err(d) => return d,
        };
        if name != "INBOX" {
            let boxes = match user(&self.user).store.list_mailboxes().await {
                Ok(b) => b,
                Err(e) => return store_error(&e),
            };
            if !boxes.iter().any(|b| b.name == name && b.selectable) {
                return Done::no(Some(Code::NonExistent), "Mailbox does not exist");
            }
        }
        let quota = user(&self.user).quota;
        let roots = if has_limits(&quota) {
            vec![ROOT.to_string()]
        } else {
            Vec::new()
        };
        self.send(Response::Data(Data::QuotaRoot {
            mailbox: self.wire_name(&name),
            roots,
        }));
        match self.send_quota().await {
            Ok(_) => Done::ok("GETQUOTAROOT completed"),
            Err(d) => d,
        }
    }

    pub(super) async fn get_quota(&mut self, root: &str) -> Done {
        if root != ROOT {
            return Done::no(Some(Code::NonExistent), "No such quota root");
        }
        match self.send_quota().await {
            Ok(true) => Done::ok("GETQUOTA completed"),
            Ok(false) => Done::no(Some(Code::NonExistent), "No quota limits for this user"),
            Err(d) => d,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_limited_resources_in_kib() {
        let q = Quota {
            bytes: Some(10 * 1024 * 1024),
            messages: None,
        };
        let r = resources(&q, (5000, 3));
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].name.as_str(), r[0].usage, r[0].limit),
            ("STORAGE", 4, 10240)
        );
        assert!(resources(&Quota::UNLIMITED, (1, 1)).is_empty());
        let zero = Quota {
            bytes: Some(0),
            messages: Some(0),
        };
        assert!(!has_limits(&zero) && resources(&zero, (1, 1)).is_empty());
    }
}
