//! Differential test against Dovecot Pigeonhole: every script of a corpus runs on every
//! message of a corpus, once through our interpreter and once through Pigeonhole's
//! `sieve-test` (Debian package `dovecot-sieve`, installed by scripts/test; the test fails
//! when the tool is missing). Both action lists are normalised to one text form and must be
//! equal; a script must compile in both or fail in both.
//!
//! Normal form, one line per action, sorted and deduplicated (Pigeonhole merges `keep` and
//! `fileinto "INBOX"` into one store): `store <mailbox> [<flags lowercased, sorted>]`,
//! `redirect <address>`, `reject`, `discard`, `vacation <period seconds>`, and
//! `implicit keep [<flags>]`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TestEnv;
use mailstack_sieve::*;

const SENDER: &str = "sender@example.org";
const RCPT: &str = "me@example.com";

const MESSAGES: &[&str] = &[
    // 0: plain, to me
    "From: Sender <sender@example.org>\r\nTo: me@example.com\r\nSubject: Meeting tomorrow\r\nDate: Tue, 3 Jul 2007 09:00:00 -0700\r\nMessage-ID: <m0@example.org>\r\n\r\nCan we meet at 10?\r\n",
    // 1: mailing list mail
    "From: list member <member@lists.example.org>\r\nTo: sieve@lists.example.org\r\nList-Id: Sieve discussion <sieve.lists.example.org>\r\nPrecedence: list\r\nSubject: [sieve] Re: regex draft\r\nDate: Sat, 7 Jul 2007 23:59:59 +0200\r\nMessage-ID: <m1@lists.example.org>\r\n\r\nI think :regex is fine.\r\n",
    // 2: multipart from the boss, Cc me
    "From: The Boss <boss@company.example.com>\r\nTo: team@company.example.com\r\nCc: Me <me@example.com>\r\nSubject: Invoice 42\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"xx\"\r\nX-Priority: 1\r\n\r\n--xx\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nPlease pay invoice 42 by Friday. The project schedule =\r\nis tight.\r\n--xx\r\nContent-Type: text/html\r\n\r\n<p>Please pay <b>invoice 42</b></p>\r\n--xx--\r\n",
    // 3: spam-ish, encoded subject, no visible recipient
    "From: \"Winner\" <win@spam.example.net>\r\nTo: undisclosed-recipients:;\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= make MONEY fast\r\nX-Spam-Score: 7\r\nX-Spam-Flag: YES\r\nAuto-Submitted: auto-generated\r\n\r\nClick here.\r\n",
    // 4: plus-addressed, several Received
    "Received: from a.example by b.example; Mon, 26 Feb 2007 16:00:00 +0000\r\nReceived: from c.example by a.example; Mon, 26 Feb 2007 15:00:00 +0000\r\nFrom: alerts@monitor.example.net\r\nTo: me+alerts@example.com, other@example.com\r\nSubject: ALERT: disk full\r\nMessage-ID: <m4@monitor.example.net>\r\n\r\nDisk /var is full.\r\n",
];

const SCRIPTS: &[&str] = &[
    "keep;",
    "discard;",
    "stop;",
    r#"require "fileinto"; fileinto "Work"; keep;"#,
    r#"require "fileinto"; if header :contains "subject" "invoice" { fileinto "Invoices"; }"#,
    r#"if address :domain :is "from" "company.example.com" { redirect "boss-copy@example.net"; }"#,
    r#"require ["fileinto", "copy"]; if exists "list-id" { fileinto :copy "Lists"; }"#,
    r#"require ["fileinto", "imap4flags"]; if header :matches "subject" "*MONEY*" { addflag "\\Seen"; addflag "$Junk"; fileinto "Junk"; }"#,
    r#"require ["imap4flags"]; setflag ["\\Flagged", "$Work"]; removeflag "$work";"#,
    r#"require ["envelope", "subaddress", "fileinto"]; if envelope :detail "to" "alerts" { fileinto "Alerts"; } elsif envelope :user "to" "me" { keep; }"#,
    r#"require ["subaddress", "fileinto"]; if address :detail "to" "alerts" { fileinto "Plus"; }"#,
    r#"require ["variables", "fileinto"]; if header :matches "List-Id" "*<*.lists.example.org>" { fileinto "Lists/${2}"; }"#,
    r#"require ["variables", "fileinto"]; if header :matches "Subject" "[*] *" { set :upperfirst "l" "${1}"; fileinto "L-${l}"; }"#,
    r#"require ["variables", "fileinto"]; set :lower "s" "${hex:41}"; if string :is "${s}" "${hex:41}" { fileinto "x"; }"#,
    r#"require ["variables", "fileinto", "encoded-character"]; set "s" "${hex:41 42}"; fileinto "${s}";"#,
    r#"require ["relational", "comparator-i;ascii-numeric", "fileinto"]; if header :value "lt" :comparator "i;ascii-numeric" "x-priority" "3" { fileinto "Urgent"; }"#,
    r#"require ["relational", "comparator-i;ascii-numeric", "fileinto"]; if header :count "ge" :comparator "i;ascii-numeric" "received" "2" { fileinto "Hops"; }"#,
    r#"require ["relational", "comparator-i;ascii-numeric", "fileinto"]; if address :count "eq" :comparator "i;ascii-numeric" ["to", "cc"] "2" { fileinto "Two"; }"#,
    r#"require ["relational", "fileinto"]; if address :value "gt" :all "from" "m" { fileinto "N-Z"; } else { fileinto "A-M"; }"#,
    r#"require ["body", "fileinto"]; if body :text :contains "project schedule is tight" { fileinto "Schedule"; }"#,
    r#"require ["body", "fileinto"]; if body :raw :contains "schedule =" { fileinto "Raw"; }"#,
    r#"require ["body", "fileinto"]; if body :content "text/html" :contains "<b>" { fileinto "Html"; }"#,
    r#"require ["regex", "fileinto"]; if header :regex "subject" "^ALERT: (disk|cpu)" { fileinto "Ops"; }"#,
    r#"require ["regex", "variables", "fileinto"]; if header :regex "subject" "invoice ([0-9]+)" { fileinto "Inv-${1}"; }"#,
    r#"require ["date", "relational", "fileinto"]; if date :value "ge" :originalzone "date" "hour" "09" { fileinto "Late"; }"#,
    r#"require ["date", "fileinto"]; if anyof (date :is "date" "weekday" "0", date :is "date" "weekday" "6") { fileinto "Weekend"; }"#,
    // (:index 1 only: Pigeonhole 0.5.19's date test ignores :index, always using the first field)
    r#"require ["date", "index", "relational", "fileinto"]; if date :value "gt" :index 1 :zone "+0000" "received" "time" "15:30:00" { fileinto "Slow"; } else { keep; }"#,
    r#"require ["index", "relational", "fileinto"]; if header :index 2 :contains "received" "c.example" { fileinto "Second"; }"#,
    r#"require ["index", "fileinto"]; if header :index 1 :last :contains "received" "c.example" { fileinto "Origin"; }"#,
    r#"require ["mailbox", "fileinto"]; if mailboxexists "INBOX" { fileinto :create "Checked"; }"#,
    r#"require ["mailbox", "fileinto"]; if mailboxexists "Nope" { discard; }"#,
    r#"require "reject"; if header :contains "x-spam-flag" "yes" { reject "spam is not welcome"; }"#,
    r#"require "vacation"; vacation :days 3 "I am away";"#,
    r#"require ["vacation-seconds"]; vacation :seconds 7200 :subject "Away" "I am away";"#,
    r#"require ["vacation"]; vacation :addresses ["other@example.com"] "away";"#,
    r#"if size :over 300 { discard; }"#,
    r#"if allof (exists "from", not exists "x-none", true) { stop; } discard;"#,
    r#"if header :is :comparator "i;octet" "subject" "meeting tomorrow" { discard; }"#,
    // (not "?eeting*": Pigeonhole 0.5.19 wrongly matches "?x*" against "ALERT: disk full")
    r#"if header :matches "subject" "*eeting*" { redirect "a@example.net"; redirect "a@example.net"; }"#,
    r#"require ["variables", "fileinto"]; if header :matches "from" "*<*@*>" { fileinto "${2}-${3}"; }"#,
    r#"require "envelope"; if envelope :domain "from" "example.org" { redirect "b@example.net"; }"#,
    r#"if address :localpart :contains ["to", "cc"] "me" { keep; } else { discard; }"#,
    r#"require ["variables", "fileinto"]; set :quotewildcard "q" "a*b?"; if string :is "${q}" "a\\*b\\?" { fileinto "Quoted"; }"#,
    r#"require ["variables", "imap4flags", "fileinto"]; set "f" "A B"; addflag "f" "C"; removeflag "f" "a"; if hasflag :is "f" "b" { fileinto :flags "${f}" "HasB"; }"#,
    r#"require ["variables", "relational", "comparator-i;ascii-numeric", "fileinto"]; if string :count "eq" :comparator "i;ascii-numeric" ["a", "", "b"] "2" { fileinto "Two"; }"#,
    r#"require ["imap4flags"]; addflag ["\Seen", "$Label1"]; keep :flags "\Answered";"#,
    r#"require ["imap4flags", "fileinto"]; setflag "\Flagged"; fileinto "F"; removeflag "\Flagged"; addflag "$x";"#,
    r#"require ["encoded-character", "fileinto"]; if header :contains "subject" "${unicode:00FC}" { fileinto "Umlaut"; }"#,
    r#"require "fileinto"; if header :contains "subject" "Grüße" { fileinto "Gruss"; }"#,
    r#"require "fileinto"; if anyof (allof (exists "cc", not header :contains "cc" "nobody"), header :is "to" "sieve@lists.example.org") { fileinto "Nested"; }"#,
    r#"require ["envelope", "fileinto"]; if envelope :all :is "to" "me@example.com" { fileinto "ToMe"; }"#,
    r#"require ["date", "relational", "fileinto"]; if currentdate :value "ge" "year" "2000" { fileinto "Now"; }"#,
    r#"require ["date", "variables", "fileinto"]; if date :originalzone :matches "date" "std11" "*" { fileinto "${1}"; }"#,
    r#"require ["date", "variables", "fileinto"]; if date :originalzone :matches "date" "iso8601" "*" { fileinto "${1}"; }"#,
    r#"require ["date", "variables", "fileinto"]; if date :zone "-0130" :matches "date" "julian" "*" { fileinto "J${1}"; }"#,
    r#"require ["regex", "fileinto"]; if header :regex :comparator "i;octet" "subject" "^meeting" { fileinto "Octet"; }"#,
    r#"require ["body", "fileinto"]; if body :content "text/plain" :matches "*invoice ?? by*" { fileinto "BodyMatch"; }"#,
    r#"require "fileinto"; if address :is ["to", "cc"] ["ME@example.COM", "x@y"] { fileinto "Addr"; }"#,
    r#"require "fileinto"; if header :contains "received" "a.example" { fileinto "Via"; }"#,
    r#"require "fileinto"; if address :localpart :matches "from" "*" { fileinto "local"; } fileinto "INBOX";"#,
    // runtime errors on both sides (the message then goes to INBOX)
    r#"require ["reject", "fileinto"]; if exists "subject" { reject "no"; fileinto "x"; }"#,
    r#"require ["reject", "copy"]; reject "no"; redirect :copy "a@example.net";"#,
    r#"require ["vacation"]; vacation "a"; vacation :handle "x" "b";"#,
    r#"require "reject"; if header :contains "subject" "meeting" { reject "a"; reject "b"; }"#,
    r#"redirect "a1@example.net"; redirect "a2@example.net"; redirect "a3@example.net"; redirect "a4@example.net"; redirect "a5@example.net";"#,
    // compile errors on both sides
    r#"fileinto "x";"#,
    r#"if header :bogus "a" "b" { keep; }"#,
    r#"require "nonexistent"; keep;"#,
    r#"if true { keep; "#,
    r#"require "relational"; if header :value "xx" "a" "b" {}"#,
    r#"require "regex"; if header :regex "a" "(" {}"#,
    r#"require "variables"; set "1a" "x";"#,
    r#"require "vacation"; vacation :days "x" "r";"#,
    r#"elsif true { keep; }"#,
    r#"keep; require "fileinto";"#,
    r#"if header :comparator "i;bogus" "a" "b" {}"#,
    r#"require "envelope"; if envelope :is "x-unknown" "a" {}"#,
    r#"if not (true, false) {}"#,
];

fn sieve_test() -> PathBuf {
    let p = PathBuf::from("/usr/bin/sieve-test");
    assert!(
        p.exists(),
        "Pigeonhole's sieve-test is missing: install the Debian package dovecot-sieve (scripts/test does)"
    );
    p
}

struct Pigeonhole {
    dir: PathBuf,
}

impl Pigeonhole {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("mailstack-sieve-diff-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("mail")).unwrap();
        let uid = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout).unwrap();
        let uid = uid.trim();
        // As root, Pigeonhole insists on dropping privileges: let it become nobody, and make the
        // files readable for it.
        let (u, g) = if uid == "0" {
            ("65534".to_string(), "65534".to_string())
        } else {
            let gid =
                String::from_utf8(Command::new("id").arg("-g").output().unwrap().stdout).unwrap();
            (uid.to_string(), gid.trim().to_string())
        };
        std::fs::write(
            dir.join("dovecot.conf"),
            format!(
                "mail_uid = {u}\nmail_gid = {g}\nfirst_valid_uid = 0\nfirst_valid_gid = 0\nmail_location = maildir:{}\nplugin {{\n  sieve_extensions = +vacation-seconds\n}}\n",
                dir.join("mail").display()
            ),
        )
        .unwrap();
        chmod_all(&dir);
        Pigeonhole { dir }
    }

    /// Runs one script on one message; `None` when the script does not compile. Vacation
    /// decisions (RFC 3834 checks) are only made when Pigeonhole executes the actions (`-e`),
    /// so scripts with `vacation` run twice: once for the action list (with the period), once
    /// executed to learn whether the reply is sent or discarded.
    fn run(&self, script: &str, message: &str) -> Option<Vec<String>> {
        let mut res = self.run_mode(script, message, false)?;
        if script.contains("vacation") && res != ["error"] {
            let executed = self.run_raw(script, message, true);
            if executed.contains("discarding vacation response") {
                res.retain(|a| !a.starts_with("vacation"));
            } else {
                assert!(executed.contains("sent vacation response"), "{executed}");
            }
        }
        Some(res)
    }

    fn run_mode(&self, script: &str, message: &str, execute: bool) -> Option<Vec<String>> {
        let out = self.run_raw(script, message, execute);
        if out.contains("failed to compile") {
            return None;
        }
        if out.contains("final result: failed") {
            return Some(vec!["error".into()]);
        }
        Some(normalise_pigeonhole(&out))
    }

    fn run_raw(&self, script: &str, message: &str, execute: bool) -> String {
        let s = self.dir.join("t.sieve");
        let m = self.dir.join("t.eml");
        std::fs::write(&s, script).unwrap();
        std::fs::write(&m, message).unwrap();
        let _ = std::fs::remove_file(self.dir.join("t.svbin"));
        chmod_all(&self.dir);
        let out = Command::new(sieve_test())
            .env("HOME", &self.dir)
            .arg("-c")
            .arg(self.dir.join("dovecot.conf"))
            .args(["-f", SENDER, "-a", RCPT, "-r", RCPT])
            .args(if execute { &["-e"][..] } else { &[][..] })
            .arg(&s)
            .arg(&m)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success()
                || stderr.contains("failed to compile")
                || stderr.contains("final result: failed"),
            "sieve-test failed: {stderr}\n{stdout}"
        );
        format!("{stdout}\n{stderr}")
    }
}

impl Drop for Pigeonhole {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn chmod_all(dir: &Path) {
    let _ = Command::new("chmod")
        .args(["-R", "a+rwX"])
        .arg(dir)
        .status();
}

fn flags_text(flags: &[String]) -> String {
    let mut f: Vec<String> = flags.iter().map(|f| f.to_ascii_lowercase()).collect();
    f.sort();
    f.dedup();
    if f.is_empty() {
        String::new()
    } else {
        format!(" [{}]", f.join(" "))
    }
}

fn normalise_pigeonhole(out: &str) -> Vec<String> {
    let mut res = Vec::new();
    let mut implicit = false;
    let mut cur: Option<(String, Vec<String>)> = None;
    let flush = |cur: &mut Option<(String, Vec<String>)>, res: &mut Vec<String>| {
        if let Some((a, f)) = cur.take() {
            res.push(format!("{a}{}", flags_text(&f)));
        }
    };
    for line in out.lines() {
        let t = line.trim();
        if t.starts_with("Implicit keep:") {
            flush(&mut cur, &mut res);
            implicit = true;
            continue;
        }
        if let Some(a) = t.strip_prefix("* ") {
            flush(&mut cur, &mut res);
            let act = if let Some(mb) = a.strip_prefix("store message in folder: ") {
                if implicit {
                    "implicit keep".to_string()
                } else {
                    format!("store {mb}")
                }
            } else if let Some(r) = a.strip_prefix("redirect message to: ") {
                format!("redirect {}", r.trim_matches(|c| c == '<' || c == '>'))
            } else if a.starts_with("reject message") {
                "reject".into()
            } else if a.starts_with("send vacation message") {
                "vacation".into()
            } else if a == "discard" {
                "discard".into()
            } else {
                format!("?{a}")
            };
            cur = Some((act, Vec::new()));
        } else if let Some(f) = t.strip_prefix("+ add IMAP flags: ") {
            if let Some((_, fl)) = cur.as_mut() {
                fl.extend(f.split_whitespace().map(str::to_string));
            }
        } else if let Some(secs) = t.strip_prefix("=> seconds : ")
            && let Some((a, _)) = cur.as_mut()
        {
            *a = format!("vacation {}", secs.trim());
        }
    }
    flush(&mut cur, &mut res);
    res.sort();
    res.dedup();
    res
}

fn ours(script: &str, message: &str) -> Option<Vec<String>> {
    let limits = Limits::default();
    let s = compile(script, &limits).ok()?;
    let env = Envelope {
        from: SENDER.into(),
        to: RCPT.into(),
        auth: None,
    };
    let mut host = TestEnv {
        user: vec![RCPT.into()],
        ..TestEnv::default()
    };
    let Ok(o) = run(
        &[&s],
        &Message::new(message.as_bytes()),
        &env,
        &mut host,
        &limits,
    ) else {
        return Some(vec!["error".into()]);
    };
    let mut res: Vec<String> = o
        .actions
        .iter()
        .map(|a| match a {
            Action::Keep { flags } => format!("store INBOX{}", flags_text(flags)),
            Action::FileInto { mailbox, flags, .. } => {
                format!("store {mailbox}{}", flags_text(flags))
            }
            Action::Redirect { address, .. } => format!("redirect {address}"),
            Action::Reject { .. } | Action::Ereject { .. } => "reject".into(),
            Action::Discard => "discard".into(),
            Action::Vacation(v) => format!("vacation {}", v.period.as_secs()),
            other => format!("?{other:?}"),
        })
        .collect();
    if o.implicit_keep {
        res.push(format!(
            "implicit keep{}",
            flags_text(&o.implicit_keep_flags)
        ));
    }
    res.sort();
    res.dedup();
    Some(res)
}

#[test]
fn same_actions_as_pigeonhole() {
    let ph = Pigeonhole::new();
    let mut compared = 0;
    let (mut interesting, mut compile_errors) = (0, 0);
    let mut failures = Vec::new();
    for script in SCRIPTS {
        for (mi, message) in MESSAGES.iter().enumerate() {
            let theirs = ph.run(script, message);
            let mine = ours(script, message);
            compared += 1;
            match &theirs {
                None => compile_errors += 1,
                Some(a) if a.iter().any(|x| x != "implicit keep") => interesting += 1,
                Some(_) => {}
            }
            if theirs != mine {
                failures.push(format!(
                    "script {script}\n  message {mi}\n  pigeonhole: {theirs:?}\n  mailstack:  {mine:?}"
                ));
            }
            if mine.is_none() {
                break; // a compile error does not depend on the message
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // the corpus is not vacuous: most cases do something besides the implicit keep
    eprintln!("{compared} cases, {interesting} with actions, {compile_errors} compile errors");
    assert!(
        compared > 250 && interesting > 120 && compile_errors >= 13,
        "{compared} {interesting} {compile_errors}"
    );
}
