//! NAMESPACE (RFC 2342) and ID (RFC 2971).

use super::reply::Done;
use super::{ImapStream, Session};
use crate::proto::{Data, IdParams, NamespaceDesc, Response};

/// Longest client ID value logged (the parser already refuses values over 1024 octets).
const ID_LOG_VALUE: usize = 128;

impl<S: ImapStream> Session<S> {
    /// One personal namespace: no prefix, `.` as separator (Dovecot's default Maildir++
    /// layout); no other users' or shared namespaces.
    pub(super) fn namespace(&mut self) -> Done {
        self.send(Response::Data(Data::Namespace {
            personal: vec![NamespaceDesc {
                prefix: String::new(),
                delimiter: Some(mailstack_store::SEPARATOR),
            }],
            other: Vec::new(),
            shared: Vec::new(),
        }));
        Done::ok("NAMESPACE completed")
    }

    /// Log what the client says about itself (at most 30 fields, values cut for the log) and
    /// answer with our name and version.
    pub(super) fn id(&mut self, params: IdParams) -> Done {
        if let Some(params) = &params {
            let described: Vec<String> = params
                .iter()
                .map(|(k, v)| {
                    let v = v.as_deref().unwrap_or("NIL");
                    let cut: String = v.chars().take(ID_LOG_VALUE).collect();
                    format!("{k}={cut:?}")
                })
                .collect();
            tracing::debug!(peer = %self.peer, client = %described.join(" "), "imap client ID");
        }
        self.send(Response::Data(Data::Id(Some(vec![
            ("name".to_string(), Some("mailstack".to_string())),
            (
                "version".to_string(),
                Some(env!("CARGO_PKG_VERSION").to_string()),
            ),
        ]))));
        Done::ok("ID completed")
    }
}
