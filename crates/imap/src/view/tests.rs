use super::*;

fn changes(new: &[u32], flags: &[u32], expunged: &[u32]) -> SyncChanges {
    SyncChanges {
        new_uids: new.to_vec(),
        flag_changes: flags.to_vec(),
        expunged: expunged.to_vec(),
    }
}

fn set(r: &[(u32, Option<u32>)]) -> SequenceSet {
    SequenceSet::Ranges(
        r.iter()
            .map(|&(a, b)| {
                (
                    SeqBound::Value(a),
                    b.map_or(SeqBound::Largest, SeqBound::Value),
                )
            })
            .collect(),
    )
}

#[test]
fn expunges_wait_until_allowed_and_are_numbered_highest_first() {
    let mut v = MailboxView::new([3, 5, 8, 13]);
    v.absorb(&changes(&[21], &[8], &[5, 13]));
    // During FETCH/STORE/SEARCH by sequence number: no EXPUNGE, but EXISTS and flags.
    let u = v.flush(false, false);
    assert!(u.expunged.is_empty());
    assert_eq!(u.exists, Some(5));
    assert_eq!(u.flags_changed, [8]);
    assert_eq!(
        v.seq(13),
        Some(4),
        "numbers unchanged until the client is told"
    );
    assert!(v.is_pending_expunge(5));
    // Then: 13 is seq 4, 5 is seq 2; sent highest first.
    let u = v.flush(true, false);
    assert_eq!(u.expunged, [4, 2]);
    assert_eq!(v.uids(), [3, 8, 21]);
    assert_eq!(v.seq(21), Some(3));
}

#[test]
fn vanished_reports_uids_and_flags_of_expunged_are_dropped() {
    let mut v = MailboxView::new([1, 2, 3]);
    v.absorb(&changes(&[], &[2], &[2]));
    let u = v.flush(true, true);
    assert_eq!(u.vanished, [2]);
    assert!(u.flags_changed.is_empty());
    assert_eq!(v.exists(), 2);
}

#[test]
fn a_message_that_came_and_went_is_never_mentioned() {
    let mut v = MailboxView::new([1]);
    v.absorb(&changes(&[2], &[], &[]));
    v.absorb(&changes(&[], &[], &[2]));
    assert!(v.flush(true, false).is_empty());
}

#[test]
fn sequence_and_uid_sets_resolve() {
    let v = MailboxView::new([10, 20, 30, 40]);
    assert_eq!(v.resolve_seqs(&set(&[(2, Some(3))]), None), [20, 30].into());
    assert_eq!(v.resolve_seqs(&set(&[(3, None)]), None), [30, 40].into());
    assert_eq!(
        v.resolve_seqs(&set(&[(9, Some(2))]), None),
        [20, 30, 40].into(),
        "reversed and beyond the end"
    );
    assert_eq!(
        v.resolve_uids(&set(&[(15, Some(35))]), None),
        [20, 30].into()
    );
    assert_eq!(
        v.resolve_uids(&set(&[(100, None)]), None),
        [40].into(),
        "100:* still names the last"
    );
    assert_eq!(
        v.resolve_uids(&SequenceSet::Saved, Some(&[20, 99])),
        [20].into()
    );
    assert!(
        MailboxView::new([])
            .resolve_seqs(&set(&[(1, None)]), None)
            .is_empty()
    );
}

#[test]
fn own_expunge_returns_numbers_highest_first() {
    let mut v = MailboxView::new([1, 2, 3, 4]);
    v.absorb(&changes(&[], &[2], &[]));
    assert_eq!(v.remove_own(&[2, 4]), [4, 2]);
    assert_eq!(v.uids(), [1, 3]);
    assert!(v.flush(true, false).flags_changed.is_empty());
}

#[test]
fn own_expunges_are_told_as_sequence_numbers_or_as_uids() {
    let mut v = MailboxView::new([3, 5, 8, 13]);
    v.absorb(&changes(&[], &[], &[8]));
    assert!(v.has_pending_expunges());
    let u = v.expunge_own(&[13, 5, 99], false);
    assert_eq!(u.expunged, [4, 2]);
    assert!(u.vanished.is_empty());
    assert_eq!(v.uids(), [3, 8]);

    let mut v = MailboxView::new([3, 5, 8, 13]);
    v.absorb(&changes(&[], &[], &[8]));
    let u = v.expunge_own(&[13, 8, 5, 99], true);
    assert_eq!(
        u.vanished,
        [5, 8, 13],
        "only UIDs the client knew, ascending"
    );
    assert!(u.expunged.is_empty());
    assert_eq!(v.uids(), [3]);
    assert!(
        !v.has_pending_expunges(),
        "the pending one is told with ours"
    );
}
