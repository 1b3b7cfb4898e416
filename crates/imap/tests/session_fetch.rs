//! FETCH over a real session and store: ENVELOPE, BODY/BODYSTRUCTURE (compared with what
//! Dovecot 2.3.19 answered for the same messages, `tests/data/fetch/*.dovecot`), sections and
//! partials, BINARY (decoding, literal8, UNKNOWN-CTE, APPEND with literal8), PREVIEW,
//! SAVEDATE, EMAILID/THREADID, `\Seen`, LF-only Maildir files, large messages.

mod session_common;

use std::path::{Path, PathBuf};

use mailstack_store::Flag;
use session_common::{Client, Env, Reply, message};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).expect("fixture")
}

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fetch")
        .join(name)
}

/// The value Dovecot gave for `item` of fixture `name` (`.dovecot` record).
fn dovecot(name: &str, item: &str) -> Vec<u8> {
    let data = std::fs::read(fixture_path(name).with_extension("dovecot")).expect("reference");
    let head = format!("=== {item} ");
    let at = data
        .windows(head.len())
        .position(|w| w == head.as_bytes())
        .expect("item in reference");
    let eol = at + data[at..].iter().position(|&b| b == b'\n').expect("eol");
    let len: usize = std::str::from_utf8(&data[at + head.len()..eol])
        .expect("len")
        .parse()
        .expect("len");
    data[eol + 1..eol + 1 + len].to_vec()
}

fn crlf(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

async fn selected(env: &Env) -> Client {
    let mut c = env.client().await;
    c.login("alice@example.com").await;
    c.cmd("s SELECT INBOX").await.assert_ok();
    c
}

/// The bytes of the first line (the FETCH response, literals inline).
fn first(r: &Reply) -> &[u8] {
    &r.lines[0]
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `name {n}\r\n<n octets>` or `name "..."` in the line: the octets.
fn string_item(line: &[u8], name: &str) -> Vec<u8> {
    let at = line
        .windows(name.len() + 1)
        .position(|w| w == format!("{name} ").as_bytes())
        .unwrap_or_else(|| panic!("{name} in {}", String::from_utf8_lossy(line)));
    let rest = &line[at + name.len() + 1..];
    if rest[0] == b'"' {
        let end = rest[1..].iter().position(|&b| b == b'"').expect("quote") + 1;
        return rest[1..end].to_vec();
    }
    let rest = rest.strip_prefix(b"~").unwrap_or(rest);
    let close = rest.iter().position(|&b| b == b'}').expect("literal");
    let n: usize = std::str::from_utf8(&rest[1..close])
        .expect("n")
        .parse()
        .expect("n");
    rest[close + 3..close + 3 + n].to_vec()
}

#[tokio::test]
async fn envelope_and_bodystructure_match_dovecot() {
    let env = Env::new();
    for name in [
        "01-mixed.eml",
        "06-addr.eml",
        "13-digest.eml",
        "26-nested-msg.eml",
    ] {
        env.deliver("alice", &fixture(name)).await;
    }
    let mut c = selected(&env).await;
    for (seq, name) in [
        (1, "01-mixed.eml"),
        (3, "13-digest.eml"),
        (4, "26-nested-msg.eml"),
    ] {
        for item in ["BODYSTRUCTURE", "BODY", "ENVELOPE"] {
            let r = c.cmd(&format!("f FETCH {seq} {item}")).await;
            r.assert_ok();
            let mut want = format!("* {seq} FETCH ({item} ").into_bytes();
            want.extend(dovecot(name, item));
            want.push(b')');
            assert_eq!(
                String::from_utf8_lossy(first(&r)),
                String::from_utf8_lossy(&want),
                "{name} {item}"
            );
        }
    }
    // Quotes and backslashes in strings go out as literals.
    let r = c.cmd("f FETCH 2 ENVELOPE").await;
    r.assert_ok();
    assert!(
        contains(first(&r), b"{29}\r\ntest \"quotes\" and \\ backslash"),
        "{}",
        r.text()
    );
    assert!(contains(
        first(&r),
        b"((NIL NIL \"A Group\" NIL)(NIL NIL \"a\" \"x.com\")(\"B\" NIL \"b\" \"y.com\")(NIL NIL NIL NIL)(NIL NIL \"c\" \"z.com\"))"
    ));
    // FULL is FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY.
    let r = c.cmd("f UID FETCH 1 FULL").await;
    r.assert_ok();
    for item in [
        "UID 1",
        "FLAGS ()",
        "INTERNALDATE \"",
        "RFC822.SIZE ",
        "ENVELOPE (",
        "BODY ((",
    ] {
        assert!(r.has(item), "{item} in {}", r.text());
    }
}

#[tokio::test]
async fn part_sections_and_partials() {
    let env = Env::new();
    env.deliver("alice", &fixture("01-mixed.eml")).await;
    env.deliver("alice", &crlf("Subject: one part\n\nonly body\n"))
        .await;
    let mut c = selected(&env).await;
    let r = c
        .cmd("f FETCH 1 (BODY.PEEK[1] BODY.PEEK[2.HEADER.FIELDS (subject From)] BODY.PEEK[2.1] BODY.PEEK[3.MIME] BODY.PEEK[3]<2.3>)")
        .await;
    r.assert_ok();
    let line = first(&r);
    assert_eq!(
        string_item(line, "BODY[1]"),
        b"Caf=C3=A9 first line\r\nsecond=20line"
    );
    assert_eq!(
        string_item(line, "BODY[2.HEADER.FIELDS (SUBJECT FROM)]"),
        b"From: Dave <dave@example.net>\r\nSubject: inner\r\n\r\n"
    );
    assert_eq!(string_item(line, "BODY[2.1]"), b"inner plain");
    assert_eq!(
        string_item(line, "BODY[3.MIME]"),
        dovecot("01-mixed.eml", "BODY[3.MIME]")
    );
    assert_eq!(string_item(line, "BODY[3]<2>"), b"ECA");
    // Header field names compare case-insensitively; the response names them in upper case.
    let r = c
        .cmd("f FETCH 1 (BODY.PEEK[HEADER.FIELDS (message-id IN-REPLY-TO)] BODY.PEEK[HEADER.FIELDS.NOT (from to cc subject date message-id in-reply-to content-type)])")
        .await;
    r.assert_ok();
    let line = first(&r);
    assert_eq!(
        string_item(line, "BODY[HEADER.FIELDS (MESSAGE-ID IN-REPLY-TO)]"),
        b"Message-ID: <m1@example.com>\r\nIn-Reply-To: <m0@example.com>\r\n\r\n"
    );
    assert_eq!(
        string_item(
            line,
            "BODY[HEADER.FIELDS.NOT (FROM TO CC SUBJECT DATE MESSAGE-ID IN-REPLY-TO CONTENT-TYPE)]"
        ),
        b"MIME-Version: 1.0\r\n\r\n"
    );
    // Part 1 of a single-part message is its body; HEADER of a non-message part, and parts
    // that do not exist, are empty.
    let r = c
        .cmd("f FETCH 2 (BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[2] BODY.PEEK[1.HEADER])")
        .await;
    r.assert_ok();
    let line = first(&r);
    assert_eq!(string_item(line, "BODY[1]"), b"only body\r\n");
    assert_eq!(
        string_item(line, "BODY[1.MIME]"),
        b"Subject: one part\r\n\r\n"
    );
    assert_eq!(string_item(line, "BODY[2]"), b"");
    assert_eq!(string_item(line, "BODY[1.HEADER]"), b"");
    // Partials of the whole message and of the text.
    let r = c
        .cmd("f FETCH 2 (BODY.PEEK[]<0.7> BODY.PEEK[TEXT]<5.100> BODY.PEEK[]<1000.5>)")
        .await;
    r.assert_ok();
    let line = first(&r);
    assert_eq!(string_item(line, "BODY[]<0>"), b"Subject");
    assert_eq!(string_item(line, "BODY[TEXT]<5>"), b"body\r\n");
    assert_eq!(string_item(line, "BODY[]<1000>"), b"");
    // Nothing of this set \Seen.
    let r = c.cmd("f FETCH 1:2 FLAGS").await;
    assert!(!r.has("\\Seen"), "{}", r.text());
}

#[tokio::test]
async fn binary_decodes_and_sends_literal8() {
    let env = Env::new();
    env.deliver("alice", &fixture("01-mixed.eml")).await;
    env.deliver("alice", &fixture("15-qp-binary.eml")).await;
    let mut c = selected(&env).await;
    let r = c
        .cmd("f FETCH 1 (BINARY.PEEK[3] BINARY.SIZE[3] BINARY.PEEK[1] BINARY.PEEK[2]<0.4>)")
        .await;
    r.assert_ok();
    let line = first(&r);
    assert!(
        contains(line, b"BINARY[3] ~{6}\r\n\x00\x01\x02\x03\x04\x05"),
        "{}",
        r.text()
    );
    assert!(contains(line, b"BINARY.SIZE[3] 6"));
    assert_eq!(
        string_item(line, "BINARY[1]"),
        "Café first line\r\nsecond line".as_bytes()
    );
    assert_eq!(string_item(line, "BINARY[2]<0>"), b"From");
    // Quoted-printable with =00 decodes to NUL.
    let r = c.cmd("f FETCH 2 (BINARY.PEEK[1])").await;
    r.assert_ok();
    assert!(
        contains(first(&r), b"BINARY[1] ~{24}\r\nsoftbreak and \x00nul and ="),
        "{}",
        r.text()
    );
    // An encoding we cannot decode.
    let r = c.cmd("f FETCH 2 (BINARY.PEEK[2])").await;
    assert!(r.tagged().starts_with("f NO [UNKNOWN-CTE]"), "{}", r.text());
    let r = c.cmd("f FETCH 2 (BINARY.SIZE[2])").await;
    assert!(r.tagged().starts_with("f NO [UNKNOWN-CTE]"), "{}", r.text());
    // Not PEEK: \Seen is set, and said.
    let r = c.cmd("f FETCH 1 (BINARY[3])").await;
    r.assert_ok();
    assert!(r.has("FLAGS (\\Seen)"), "{}", r.text());
    let mb = env.user("alice").open("INBOX").await.expect("inbox");
    let uid = mb.messages().await.expect("messages")[0].uid;
    assert!(mb.message(uid).expect("meta").flags.contains(&Flag::Seen));
    assert!(
        !mb.messages().await.expect("messages")[1]
            .flags
            .contains(&Flag::Seen)
    );
}

#[tokio::test]
async fn append_with_literal8_is_stored_and_fetched() {
    let env = Env::new();
    let mut c = env.client().await;
    c.login("alice@example.com").await;
    let r = c.cmd("c CAPABILITY").await;
    for cap in ["BINARY", "PREVIEW", "SAVEDATE"] {
        assert!(r.has(&format!(" {cap}")), "{cap}: {}", r.text());
    }
    let msg = b"From: a@b\r\nSubject: nul\r\n\r\nab\x00cd\r\n";
    let mut cmd = format!("a APPEND INBOX ~{{{}+}}\r\n", msg.len()).into_bytes();
    cmd.extend_from_slice(msg);
    cmd.extend_from_slice(b"\r\n");
    c.send_raw(&cmd).await;
    let r = c.until_tagged("a").await;
    assert!(r.tagged().starts_with("a OK [APPENDUID "), "{}", r.text());
    // Stored as sent.
    let mb = env.user("alice").open("INBOX").await.expect("inbox");
    let meta = mb.messages().await.expect("messages").remove(0);
    assert_eq!(std::fs::read(&meta.path).expect("file"), msg);
    c.cmd("s SELECT INBOX").await.assert_ok();
    let r = c
        .cmd("f FETCH 1 (BINARY.PEEK[] BODY.PEEK[] BINARY.PEEK[1] BODY.PEEK[1])")
        .await;
    r.assert_ok();
    let line = first(&r);
    let mut want = format!("BINARY[] ~{{{}}}\r\n", msg.len()).into_bytes();
    want.extend_from_slice(msg);
    assert!(contains(line, &want), "{}", r.text());
    // BODY has NUL as 0x80 (an IMAP4rev1 literal cannot hold NUL).
    let mut want = format!("BODY[] {{{}}}\r\n", msg.len()).into_bytes();
    want.extend(msg.iter().map(|&b| if b == 0 { 0x80 } else { b }));
    assert!(contains(line, &want), "{}", r.text());
    assert!(contains(line, b"BINARY[1] ~{7}\r\nab\x00cd\r\n"));
    assert!(contains(line, b"BODY[1] {7}\r\nab\x80cd\r\n"));
}

#[tokio::test]
async fn lf_only_files_are_served_with_crlf() {
    let env = Env::new();
    // A file as Dovecot writes it: LF line ends.
    let lf = b"From: x@y\nSubject: lf only\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\none\ntwo\n--b--\n";
    env.deliver("alice", lf).await;
    let mut c = selected(&env).await;
    let want = String::from_utf8_lossy(lf).replace('\n', "\r\n");
    let r = c
        .cmd("f FETCH 1 (RFC822.SIZE BODY.PEEK[] BODY.PEEK[TEXT] RFC822.HEADER BODYSTRUCTURE BODY.PEEK[1] BINARY.SIZE[1])")
        .await;
    r.assert_ok();
    let line = first(&r);
    assert!(
        r.has(&format!("RFC822.SIZE {}", want.len())),
        "{}",
        r.text()
    );
    assert_eq!(string_item(line, "BODY[]"), want.as_bytes());
    let split = want.find("\r\n\r\n").expect("header end") + 4;
    assert_eq!(string_item(line, "BODY[TEXT]"), &want.as_bytes()[split..]);
    assert_eq!(
        string_item(line, "RFC822.HEADER"),
        &want.as_bytes()[..split]
    );
    assert_eq!(string_item(line, "BODY[1]"), b"one\r\ntwo");
    assert!(r.has("BINARY.SIZE[1] 8"), "{}", r.text());
    assert!(
        r.has("BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"b\") NIL NIL NIL)"),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn preview_savedate_and_object_ids() {
    let env = Env::new();
    env.deliver("alice", &fixture("16-html-only.eml")).await;
    env.deliver("alice", &fixture("02-alt.eml")).await;
    let mut c = selected(&env).await;
    let r = c.cmd("f FETCH 1:2 (PREVIEW)").await;
    r.assert_ok();
    assert!(
        r.has("* 2 FETCH (PREVIEW \"Plain text version.\")"),
        "{}",
        r.text()
    );
    let html = string_item(first(&r), "PREVIEW");
    assert_eq!(String::from_utf8_lossy(&html), "Big news Café <open> é A");
    let r = c.cmd("f FETCH 2 (PREVIEW (LAZY))").await;
    assert!(r.has("PREVIEW \"Plain text version.\""), "{}", r.text());

    let mb = env.user("alice").open("INBOX").await.expect("inbox");
    let metas = mb.messages().await.expect("messages");
    let r = c.cmd("f FETCH 1:2 (SAVEDATE EMAILID THREADID)").await;
    r.assert_ok();
    assert!(r.has("THREADID NIL"), "{}", r.text());
    assert!(r.has("(SAVEDATE \""), "{}", r.text());
    let ids: Vec<String> = r.lines[..2]
        .iter()
        .map(|l| {
            let l = String::from_utf8_lossy(l).into_owned();
            let at = l.find("EMAILID (").expect("EMAILID") + 9;
            l[at..at + l[at..].find(')').expect(")")].to_string()
        })
        .collect();
    assert_ne!(ids[0], ids[1]);
    for id in &ids {
        assert!(id.starts_with('M') && id.len() == 33, "{id}");
        assert!(id[1..].bytes().all(|b| b.is_ascii_hexdigit()));
    }
    // The id survives a flag change (the file is renamed) and a new session.
    c.cmd("s STORE 1 +FLAGS (\\Flagged)").await.assert_ok();
    let mut c2 = selected(&env).await;
    let r = c2.cmd("f FETCH 1 EMAILID").await;
    assert!(r.has(&format!("EMAILID ({})", ids[0])), "{}", r.text());
    // SAVEDATE is the index's save date (UTC).
    let secs = metas[0].save_date;
    let r = c2.cmd("f FETCH 1 SAVEDATE").await;
    let line = r.lines[0].clone();
    let text = String::from_utf8_lossy(&line);
    let year = 1970 + secs / 31_556_952;
    assert!(
        text.contains(&format!("-{year} ")) || text.contains(&format!("-{} ", year + 1)),
        "{text}"
    );
    assert!(text.contains(" +0000\")"), "{text}");
}

#[tokio::test]
async fn email_id_is_kept_by_copy() {
    let env = Env::new();
    let uid = env.deliver("alice", &message("copied")).await;
    let user = env.user("alice");
    let mut inbox = user.open("INBOX").await.expect("inbox");
    user.create_mailbox("Archive").await.expect("create");
    let mut archive = user.open("Archive").await.expect("archive");
    let pairs = inbox.copy_to(&[uid], &mut archive).await.expect("copy");
    assert_eq!(pairs.len(), 1);
    // And a second copy into the same folder gets a name of its own.
    let again = inbox
        .copy_to(&[uid], &mut archive)
        .await
        .expect("copy again");
    assert_eq!(again.len(), 1);
    let mut c = env.client().await;
    c.login("alice@example.com").await;
    c.cmd("s SELECT INBOX").await.assert_ok();
    let r = c.cmd("f FETCH 1 EMAILID").await;
    let line = String::from_utf8_lossy(first(&r)).into_owned();
    let id = line[line.find("EMAILID (").expect("id") + 9..line.len() - 2].to_string();
    c.cmd("s SELECT Archive").await.assert_ok();
    let r = c.cmd("f FETCH 1:2 EMAILID").await;
    r.assert_ok();
    assert!(
        r.has(&format!("* 1 FETCH (EMAILID ({id}))")),
        "{id}: {}",
        r.text()
    );
    assert!(
        !r.has(&format!("* 2 FETCH (EMAILID ({id}))")),
        "{id}: {}",
        r.text()
    );
}

#[tokio::test]
async fn large_message_streams_intact() {
    let env = Env::new();
    // 10 MB with LF line ends and NULs, so every chunk needs work.
    let mut msg = b"From: big@example.com\nSubject: big\n\n".to_vec();
    let line = b"0123456789abcdef\x00ghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n";
    while msg.len() < 10 * 1024 * 1024 {
        msg.extend_from_slice(line);
    }
    env.deliver("alice", &msg).await;
    let mut c = selected(&env).await;
    let r = c
        .cmd("f FETCH 1 (RFC822.SIZE BODY.PEEK[] BINARY.SIZE[1])")
        .await;
    r.assert_ok();
    let want: Vec<u8> = String::from_utf8_lossy(&msg)
        .replace('\n', "\r\n")
        .replace('\0', "\u{80}")
        .chars()
        .map(|ch| ch as u32 as u8)
        .collect();
    let body = string_item(first(&r), "BODY[]");
    assert_eq!(body.len(), want.len());
    assert!(body == want, "streamed body differs");
    assert!(r.has(&format!("RFC822.SIZE {}", want.len())));
    // The text of it, from the body's start in the file.
    let r = c.cmd("f FETCH 1 (BODY.PEEK[TEXT])").await;
    r.assert_ok();
    let split = want.windows(4).position(|w| w == b"\r\n\r\n").expect("end") + 4;
    assert!(string_item(first(&r), "BODY[TEXT]") == want[split..]);
}

#[tokio::test]
async fn large_parts_go_out_whole() {
    let env = Env::new();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let b64 = base64_lines(&data);
    let msg = crlf(&format!(
        "Subject: attachment\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\ntext\n--b\n\
         Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n{b64}--b--\n"
    ));
    env.deliver("alice", &msg).await;
    let mut c = selected(&env).await;
    let r = c
        .cmd("f FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2] BODY.PEEK[2] BODY.PEEK[2]<76.10>)")
        .await;
    r.assert_ok();
    let line = first(&r);
    assert!(
        contains(line, b"BINARY[2] ~{300000}\r\n"),
        "literal8 for NULs"
    );
    assert!(
        string_item(line, "BINARY[2]") == data,
        "decoded attachment differs"
    );
    assert!(contains(line, b"BINARY.SIZE[2] 300000"));
    let encoded = crlf(&b64);
    let encoded = &encoded[..encoded.len() - 2];
    assert!(
        string_item(line, "BODY[2]") == encoded,
        "encoded attachment differs"
    );
    assert_eq!(string_item(line, "BODY[2]<76>"), &encoded[76..86]);
}

fn base64_lines(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, chunk) in data.chunks(3).enumerate() {
        let n = chunk.iter().fold(0u32, |n, &b| n << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
        if (i + 1) % 19 == 0 {
            out.push('\n');
        }
    }
    out.push('\n');
    out
}

#[tokio::test]
async fn many_messages_and_hostile_mime() {
    let env = Env::new();
    for i in 0..150 {
        env.deliver("alice", &message(&format!("m{i}"))).await;
    }
    let mut deep = String::new();
    for i in 0..200 {
        deep.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}x\"\n\n--b{i}x\n"
        ));
    }
    deep.push_str("\nend\n");
    env.deliver("alice", &crlf(&deep)).await;
    let mut c = selected(&env).await;
    let r = c
        .cmd("f FETCH 1:* (UID ENVELOPE BODY.PEEK[HEADER.FIELDS (Subject)])")
        .await;
    r.assert_ok();
    assert_eq!(r.lines.len(), 152);
    assert!(
        r.has("* 150 FETCH (UID 150 ENVELOPE (NIL \"m149\""),
        "{}",
        r.lines[149].len()
    );
    let r = c
        .cmd("f FETCH 151 (BODYSTRUCTURE BODY.PEEK[1.1.1.1] PREVIEW)")
        .await;
    r.assert_ok();
    let line = first(&r);
    // Nesting stops at 100 levels.
    let depth = line
        .iter()
        .take_while(|&&b| b != b'"')
        .filter(|&&b| b == b'(')
        .count();
    assert_eq!(depth, 100 + 1, "{}", String::from_utf8_lossy(&line[..200]));
}

#[tokio::test]
async fn vanished_file_is_expunge_issued() {
    let env = Env::new();
    env.deliver("alice", &message("gone")).await;
    env.deliver("alice", &message("here")).await;
    let mut c = selected(&env).await;
    let mb = env.user("alice").open("INBOX").await.expect("inbox");
    let metas = mb.messages().await.expect("messages");
    std::fs::remove_file(&metas[0].path).expect("remove");
    let r = c.cmd("f FETCH 1:2 (BODY.PEEK[HEADER])").await;
    assert!(
        r.tagged().starts_with("f NO [EXPUNGEISSUED]"),
        "{}",
        r.text()
    );
    assert!(r.has("* 2 FETCH (BODY[HEADER]"), "{}", r.text());
    // The store has noticed: the message is gone for items without file I/O too.
    let r = c.cmd("f FETCH 1:2 (UID RFC822.SIZE EMAILID)").await;
    assert!(
        r.tagged().starts_with("f NO [EXPUNGEISSUED]"),
        "{}",
        r.text()
    );
    assert!(r.has("* 2 FETCH (UID 2 RFC822.SIZE "), "{}", r.text());
}

#[tokio::test]
async fn search_by_emailid_finds_the_fetched_id_and_objectid_is_announced() {
    let env = Env::new();
    env.deliver("alice", &fixture("02-alt.eml")).await;
    env.deliver("alice", &fixture("16-html-only.eml")).await;
    let mut c = selected(&env).await;
    assert!(c.cmd("c CAPABILITY").await.has(" OBJECTID"));
    let r = c.cmd("f UID FETCH 2 (EMAILID THREADID)").await;
    r.assert_ok();
    let line = String::from_utf8_lossy(first(&r)).into_owned();
    let id = line
        .split("EMAILID (")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("EMAILID in the reply")
        .to_string();
    assert!(line.contains("THREADID NIL"), "{line}");
    let r = c.cmd(&format!("s UID SEARCH EMAILID {id}")).await;
    r.assert_ok();
    assert!(r.has("* SEARCH 2"), "{}", r.text());
    let r = c.cmd("s2 UID SEARCH EMAILID Mnothing").await;
    assert!(r.has("* SEARCH") && !r.has("* SEARCH 1") && !r.has("* SEARCH 2"));
}
