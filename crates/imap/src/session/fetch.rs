//! FETCH: the message data items, read from the message files.

use std::io::Read;

use mailstack_store::{Flag as StoreFlag, Mailbox as StoreMailbox, MessageMeta};

use super::convert::{internal_date, wire_flags};
use super::reply::Done;
use super::{ImapStream, Session};
use crate::proto::{
    Code, Data, FetchAttr, FetchItems, FetchModifiers, FetchValue, Response, Section, SectionText,
};
use crate::search::key::SequenceSet;

/// Whether we can answer this FETCH item.
fn supported(attr: &FetchAttr) -> bool {
    match attr {
        FetchAttr::Uid
        | FetchAttr::Flags
        | FetchAttr::InternalDate
        | FetchAttr::Rfc822Size
        | FetchAttr::Rfc822
        | FetchAttr::Rfc822Header
        | FetchAttr::Rfc822Text
        | FetchAttr::ModSeq => true,
        FetchAttr::BodySection { section, .. } => {
            section.part.is_empty()
                && matches!(
                    section.text,
                    None | Some(SectionText::Header | SectionText::Text)
                )
        }
        _ => false,
    }
}

fn needs_content(attr: &FetchAttr) -> bool {
    matches!(
        attr,
        FetchAttr::Rfc822
            | FetchAttr::Rfc822Header
            | FetchAttr::Rfc822Text
            | FetchAttr::BodySection { .. }
    )
}

/// Whether fetching this item sets `\Seen`.
fn marks_seen(attr: &FetchAttr) -> bool {
    matches!(
        attr,
        FetchAttr::Rfc822 | FetchAttr::Rfc822Text | FetchAttr::BodySection { peek: false, .. }
    )
}

/// Offset where the body starts (after the blank line), or the length when there is none.
fn body_start(raw: &[u8]) -> usize {
    if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
        return i + 4;
    }
    if let Some(i) = raw.windows(2).position(|w| w == b"\n\n") {
        return i + 2;
    }
    raw.len()
}

async fn read_message(mailbox: &StoreMailbox, uid: u32) -> Option<Vec<u8>> {
    let file = mailbox.open_message(uid).await.ok()?;
    tokio::task::spawn_blocking(move || {
        let mut file = file;
        let mut data = Vec::new();
        file.read_to_end(&mut data).map(|_| data)
    })
    .await
    .ok()?
    .ok()
}

fn section_value(
    section: &Section,
    partial: Option<crate::proto::Partial>,
    raw: &[u8],
) -> FetchValue {
    let split = body_start(raw);
    let data = match section.text {
        None => raw,
        Some(SectionText::Header) => &raw[..split],
        _ => &raw[split..],
    };
    let (origin, data) = match partial {
        Some(p) => {
            let start = (p.start as usize).min(data.len());
            let end = start.saturating_add(p.count as usize).min(data.len());
            (Some(p.start), &data[start..end])
        }
        None => (None, data),
    };
    FetchValue::BodySection {
        section: section.clone(),
        origin,
        data: Some(data.to_vec()),
    }
}

impl<S: ImapStream> Session<S> {
    pub(super) async fn fetch(
        &mut self,
        uid_mode: bool,
        set: &SequenceSet,
        items: &FetchItems,
        modifiers: FetchModifiers,
    ) -> Done {
        let mut attrs = items.expand();
        if !attrs.iter().all(supported) {
            return Done::not_supported("FETCH item");
        }
        let changed_since = match self.fetch_modifiers(set, modifiers, &mut attrs).await {
            Ok(c) => c,
            Err(done) => return done,
        };
        let condstore = self.enabled.condstore;
        if uid_mode && !attrs.contains(&FetchAttr::Uid) {
            attrs.insert(0, FetchAttr::Uid);
        }
        let content = attrs.iter().any(needs_content);
        let sel = self.sel();
        let wants_seen = !sel.read_only && attrs.iter().any(marks_seen);
        let mut responses = Vec::new();
        let mut missing = false;
        for uid in sel.resolve(uid_mode, set) {
            let Some(seq) = sel.view.seq(uid) else {
                continue;
            };
            let Some(mut meta) = sel.mailbox.message(uid).cloned() else {
                missing = true;
                continue;
            };
            if changed_since.is_some_and(|since| meta.modseq <= since) {
                continue;
            }
            let raw = if content {
                match read_message(&sel.mailbox, uid).await {
                    Some(raw) => Some(raw),
                    None => {
                        missing = true;
                        continue;
                    }
                }
            } else {
                None
            };
            let mut seen_now = false;
            if wants_seen && !meta.flags.contains(&StoreFlag::Seen) {
                let mut flags = meta.flags.clone();
                flags.push(StoreFlag::Seen);
                flags.sort();
                if let Err(e) = sel.mailbox.set_flags(uid, &flags, &meta.keywords).await {
                    tracing::warn!(error = %e, uid, "cannot set \\Seen");
                } else if let Some(m) = sel.mailbox.message(uid) {
                    meta = m.clone();
                    seen_now = true;
                }
            }
            let raw = raw.as_deref().unwrap_or(&[]);
            let mut values: Vec<FetchValue> =
                attrs.iter().map(|a| fetch_value(a, &meta, raw)).collect();
            if seen_now && !attrs.contains(&FetchAttr::Flags) {
                values.push(FetchValue::Flags(wire_flags(&meta)));
            }
            if seen_now && condstore {
                super::condstore::add_sync_items(&mut values, &meta);
            }
            responses.push(Response::Data(Data::Fetch { seq, items: values }));
        }
        for r in responses {
            self.send(r);
        }
        if missing {
            Done::no(Some(Code::ExpungeIssued), "Some messages were expunged")
        } else {
            Done::ok("FETCH completed")
        }
    }
}

fn fetch_value(attr: &FetchAttr, meta: &MessageMeta, raw: &[u8]) -> FetchValue {
    match attr {
        FetchAttr::Uid => FetchValue::Uid(meta.uid),
        FetchAttr::Flags => FetchValue::Flags(wire_flags(meta)),
        FetchAttr::InternalDate => FetchValue::InternalDate(internal_date(meta.internal_date)),
        FetchAttr::Rfc822Size => FetchValue::Rfc822Size(meta.vsize),
        FetchAttr::Rfc822 => FetchValue::Rfc822(Some(raw.to_vec())),
        FetchAttr::Rfc822Header => FetchValue::Rfc822Header(Some(raw[..body_start(raw)].to_vec())),
        FetchAttr::Rfc822Text => FetchValue::Rfc822Text(Some(raw[body_start(raw)..].to_vec())),
        FetchAttr::BodySection {
            section, partial, ..
        } => section_value(section, *partial, raw),
        FetchAttr::ModSeq => super::condstore::modseq_value(meta),
        // `supported` let nothing else through.
        _ => FetchValue::Uid(meta.uid),
    }
}
