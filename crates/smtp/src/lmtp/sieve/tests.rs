use super::*;

#[test]
fn imap4flags_become_system_flags_and_keywords() {
    let (sys, kw) = split_flags(&[
        "\\Seen".into(),
        "\\flagged".into(),
        "\\SEEN".into(),
        "\\Recent".into(),
        "$Label1".into(),
        "bad(kw".into(),
        "$Label1".into(),
        "".into(),
    ]);
    assert_eq!(sys, vec![Flag::Seen, Flag::Flagged]);
    assert_eq!(kw, vec!["$Label1".to_string()]);
}

#[test]
fn loop_markers_are_read_from_the_header_block_only() {
    let raw = b"Return-Path: <a@b>\r\nX-Sieve-Redirected-From: <Alice@Example.com>\r\nx-sieve-redirected-from:\r\n <bob@example.com>\r\nSubject: s\r\n\r\nX-Sieve-Redirected-From: <carol@example.com>\r\n";
    let hops = header_values(raw, REDIRECTED_FROM);
    assert_eq!(hops, vec!["<Alice@Example.com>", "<bob@example.com>"]);
    assert_eq!(bare(&hops[0]), "alice@example.com");
    assert_eq!(
        header_values(b"Message-ID: <x@y>\n\nbody", "message-id"),
        vec!["<x@y>"]
    );
}

#[test]
fn return_path_is_dropped_from_forwarded_copies() {
    assert_eq!(
        strip_return_path(b"Return-Path: <a@b>\r\nDelivered-To: c@d\r\n\r\nx"),
        b"Delivered-To: c@d\r\n\r\nx"
    );
    assert_eq!(
        strip_return_path(b"Subject: x\r\n\r\n"),
        b"Subject: x\r\n\r\n"
    );
}

#[test]
fn the_cache_compiles_once_and_again_after_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sieve");
    std::fs::write(&path, "keep;").unwrap();
    let cache = ScriptCache::default();
    let limits = Limits::default();
    assert!(matches!(cache.get(&path, &limits), Cached::Ready(_)));
    let Cached::Ready(a) = cache.get(&path, &limits) else {
        panic!()
    };
    let Cached::Ready(b) = cache.get(&path, &limits) else {
        panic!()
    };
    assert!(Arc::ptr_eq(&a, &b), "not compiled again");
    // Replaced as ManageSieve does (a new file renamed over): compiled again.
    let tmp = dir.path().join("tmp");
    std::fs::write(&tmp, "filein \"x\";").unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    assert!(matches!(cache.get(&path, &limits), Cached::Broken(_)));
    assert!(matches!(
        cache.get(&dir.path().join("missing.sieve"), &limits),
        Cached::Broken(_)
    ));
    // A missing file is not cached (nothing to key it on).
    assert_eq!(cache.len(), 1);
}

#[test]
fn global_directories_expand_to_their_scripts_in_order() {
    let dir = tempfile::tempdir().unwrap();
    for n in ["20-b.sieve", "10-a.sieve", "notes.txt"] {
        std::fs::write(dir.path().join(n), "keep;").unwrap();
    }
    let files = expand_global(dir.path());
    let names: Vec<_> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["10-a.sieve", "20-b.sieve"]);
    let f = dir.path().join("10-a.sieve");
    assert_eq!(expand_global(&f), vec![f]);
}
