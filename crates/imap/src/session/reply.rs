//! Tagged completions, and the one mapping of store errors to `NO [code]` (STYLE item 5).

use mailstack_store::StoreError;

use crate::proto::{Code, Response, StatusKind, StatusResponse};

/// A command's tagged completion, before the tag is known to the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Done {
    kind: StatusKind,
    code: Option<Code>,
    text: String,
}

impl Done {
    pub(super) fn ok(text: &str) -> Done {
        Done::with(StatusKind::Ok, None, text)
    }
    pub(super) fn ok_code(code: Code, text: &str) -> Done {
        Done::with(StatusKind::Ok, Some(code), text)
    }
    pub(super) fn no(code: Option<Code>, text: &str) -> Done {
        Done::with(StatusKind::No, code, text)
    }
    pub(super) fn bad(text: &str) -> Done {
        Done::with(StatusKind::Bad, None, text)
    }
    /// What is parsed but not implemented here.
    pub(super) fn not_supported(what: &str) -> Done {
        Done::bad(&format!("{what} not supported"))
    }
    fn with(kind: StatusKind, code: Option<Code>, text: &str) -> Done {
        Done {
            kind,
            code,
            text: text.to_string(),
        }
    }
    pub(super) fn into_response(self, tag: &str) -> Response {
        Response::Status(StatusResponse {
            tag: Some(tag.to_string()),
            kind: self.kind,
            code: self.code,
            text: self.text,
        })
    }
}

/// The reply for a store failure. Unknown and temporary errors are `NO [UNAVAILABLE]`.
pub(super) fn store_error(e: &StoreError) -> Done {
    let (code, text) = match e {
        StoreError::InvalidName { .. } => (Code::Cannot, "Invalid mailbox name"),
        StoreError::MailboxNotFound(_) => (Code::NonExistent, "Mailbox does not exist"),
        StoreError::MailboxExists(_) => (Code::AlreadyExists, "Mailbox already exists"),
        StoreError::MailboxHasChildren(_) => (Code::HasChildren, "Mailbox has children"),
        StoreError::NotPermitted(_) => (Code::Cannot, "Operation not permitted"),
        StoreError::MessageNotFound(_) => (Code::ExpungeIssued, "Message was expunged"),
        StoreError::QuotaExceeded { .. } => (Code::OverQuota, "Quota exceeded"),
        _ => {
            tracing::warn!(error = %e, "store failure");
            (
                Code::Unavailable,
                "Temporary storage failure, try again later",
            )
        }
    };
    Done::no(Some(code), text)
}
