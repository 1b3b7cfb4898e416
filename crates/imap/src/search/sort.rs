//! SORT (RFC 5256 §3, RFC 5957 DISPLAYFROM/DISPLAYTO).

use std::cmp::Ordering;

use mailstack_store::MessageMeta;

use super::key::{SortCriterion, SortKey};
use super::message::{Need, View, parse, read_message};
use super::text::{base_subject, sort_fold};
use super::{MessageLoader, SearchContext, SearchError};

/// One comparable sort value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Val {
    Int(i64),
    Str(String),
}

fn needs_headers(key: SortKey) -> bool {
    !matches!(key, SortKey::Arrival | SortKey::Size)
}

/// RFC 5256 sent date: the Date: header in UTC, else the internal date.
pub(crate) fn sent_date(meta: &MessageMeta, view: &View<'_>) -> i64 {
    view.sent_date()
        .map(|dt| dt.to_timestamp())
        .unwrap_or(meta.internal_date)
}

fn value(key: SortKey, meta: &MessageMeta, view: &View<'_>) -> Val {
    let local = |field: &str| {
        Val::Str(
            view.first_mailbox(field)
                .map(|m| sort_fold(m.local_part()))
                .unwrap_or_default(),
        )
    };
    let display = |field: &str| {
        Val::Str(
            view.first_mailbox(field)
                .map(|m| {
                    if m.name.is_empty() {
                        sort_fold(&m.address)
                    } else {
                        sort_fold(&m.name)
                    }
                })
                .unwrap_or_default(),
        )
    };
    match key {
        SortKey::Arrival => Val::Int(meta.internal_date),
        SortKey::Size => Val::Int(i64::try_from(meta.vsize).unwrap_or(i64::MAX)),
        SortKey::Date => Val::Int(sent_date(meta, view)),
        SortKey::Subject => Val::Str(sort_fold(&base_subject(&view.subject()).0)),
        SortKey::From => local("from"),
        SortKey::To => local("to"),
        SortKey::Cc => local("cc"),
        SortKey::DisplayFrom => display("from"),
        SortKey::DisplayTo => display("to"),
    }
}

/// SORT: `uids` (UIDs of the snapshot; others are ignored, duplicates dropped) ordered by
/// `criteria`, each possibly `REVERSE`; ties are broken by sequence number, ascending.
///
/// Keys: ARRIVAL internal date; DATE the Date: header in UTC (internal date when missing or
/// unparseable); SIZE RFC822.SIZE; SUBJECT the RFC 5256 base subject; FROM/TO/CC the local part
/// of the first mailbox; DISPLAYFROM/DISPLAYTO the display name of the first mailbox, else its
/// address (RFC 5957). Strings compare case-insensitively; a missing value sorts as "".
pub fn sort(
    ctx: &SearchContext<'_>,
    criteria: &[SortCriterion],
    uids: &[u32],
    loader: &mut dyn MessageLoader,
) -> Result<Vec<u32>, SearchError> {
    let need = if criteria.iter().any(|c| needs_headers(c.key)) {
        Need::Headers
    } else {
        Need::Nothing
    };
    let positions = ctx.positions(uids);
    let mut rows: Vec<(usize, Vec<Val>)> = Vec::with_capacity(positions.len());
    for pos in positions {
        let meta = &ctx.messages[pos];
        let raw = read_message(loader, meta, need, ctx.max_message_bytes)?;
        let view = View::new(raw.as_deref().and_then(|r| parse(r, need)));
        let vals = criteria.iter().map(|c| value(c.key, meta, &view)).collect();
        rows.push((pos, vals));
    }
    rows.sort_by(|(pa, a), (pb, b)| {
        for (i, c) in criteria.iter().enumerate() {
            let o = a[i].cmp(&b[i]);
            let o = if c.reverse { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        pa.cmp(pb)
    });
    Ok(rows
        .into_iter()
        .map(|(pos, _)| ctx.messages[pos].uid)
        .collect())
}
