//! `mailctl dkim` and `mailctl dns` as the administrator runs them: the real binary with a
//! config of the test generates RSA and Ed25519 keys; the TXT records it prints are served by
//! the in-process DNS server of the smtp tests; messages signed by `DkimSigner` from those key
//! files verify with mail-auth against them. Also: the `dns` output, no overwriting of keys,
//! refused domain names.

#[path = "../../smtp/tests/dns_server/mod.rs"]
mod dns_server;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use dns_server::DnsServer;
use mail_auth::hickory_resolver::config::{
    NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator};
use mailstack_smtp::dkim::DkimSigner;

const MESSAGE: &str = "From: Alice <alice@example.org>\r\n\
    To: bob@example.net\r\n\
    Subject: DKIM from mailctl keys\r\n\
    Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n\
    Message-ID: <dkim-dns-1@example.org>\r\n\
    \r\n\
    Signed with a key mailctl made.\r\n";

/// A temporary directory with a config whose `[submission] dkim_dir` is `<tmp>/dkim`.
struct Setup {
    tmp: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let config = format!(
            "[server]\nhostname = \"mx.example.org\"\n\n[submission]\ndkim_dir = \"{}\"\n",
            tmp.path().join("dkim").display()
        );
        std::fs::write(tmp.path().join("mailstack.toml"), config).unwrap();
        Setup { tmp }
    }

    fn dkim_dir(&self) -> PathBuf {
        self.tmp.path().join("dkim")
    }

    fn mailctl(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_mailctl"))
            .arg("--config")
            .arg(self.tmp.path().join("mailstack.toml"))
            .args(args)
            .env_remove("MAILSTACK_CONFIG")
            .output()
            .expect("mailctl runs")
    }

    /// Runs mailctl, expects success, returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.mailctl(args);
        assert!(
            out.status.success(),
            "mailctl {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

/// The owner name and the text (its strings joined) of the first TXT record for a name ending
/// in `suffix` in zone-file output.
fn parse_txt(output: &str, suffix: &str) -> (String, String) {
    let start = output
        .lines()
        .position(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|name| name.ends_with(suffix))
                && l.contains(" IN TXT ")
        })
        .unwrap_or_else(|| panic!("no TXT record for *{suffix} in:\n{output}"));
    let lines: Vec<&str> = output.lines().skip(start).collect();
    let name = lines[0].split_whitespace().next().unwrap().to_string();
    let mut text = String::new();
    let mut record = String::new();
    for line in &lines {
        record.push_str(line);
        record.push('\n');
        let parenthesized = lines[0].contains(" IN TXT (");
        if !parenthesized || line.trim_end().ends_with(')') {
            break;
        }
    }
    // Quoted strings; the records we print contain no escaped quotes.
    for (i, part) in record.split('"').enumerate() {
        if i % 2 == 1 {
            assert!(part.len() <= 255, "a string longer than 255 octets: {part}");
            text.push_str(part);
        }
    }
    (name, text)
}

async fn verify(dns: &DnsServer, message: &[u8]) -> Vec<DkimResult> {
    let addr = dns.addr();
    let mut server = NameServerConfig::udp_and_tcp(addr.ip());
    for connection in &mut server.connections {
        connection.port = addr.port();
    }
    let mut opts = ResolverOpts::default();
    opts.use_hosts_file = ResolveHosts::Never;
    opts.attempts = 1;
    opts.timeout = Duration::from_secs(5);
    let auth =
        MessageAuthenticator::new(ResolverConfig::from_name_servers(vec![server]), opts).unwrap();
    let parsed = AuthenticatedMessage::parse(message).unwrap();
    auth.verify_dkim(&parsed)
        .await
        .iter()
        .map(|o| o.result().clone())
        .collect()
}

fn sign(dir: &Path) -> (String, Vec<u8>) {
    // A new signer each time: no waiting for the 10 s recheck of a long-lived one.
    let header = DkimSigner::new(dir)
        .sign("example.org", MESSAGE.as_bytes())
        .unwrap()
        .expect("mailctl made an active key");
    let signed = format!("{header}{MESSAGE}").into_bytes();
    (header, signed)
}

fn selector_of(header: &str) -> String {
    let unfolded: String = header.split_whitespace().collect();
    unfolded
        .split(';')
        .find_map(|t| t.strip_prefix("s="))
        .unwrap()
        .to_string()
}

// Multi-threaded: the DNS server answers mailctl while the test waits for the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_made_by_mailctl_sign_mail_that_verifies_against_the_printed_records() {
    let setup = Setup::new();
    let rsa_out = setup.ok(&["dkim", "keygen", "example.org"]);
    let (rsa_name, rsa_record) = parse_txt(&rsa_out, "._domainkey.example.org.");
    assert!(
        rsa_record.starts_with("v=DKIM1; k=rsa; p=MIIB"),
        "{rsa_out}"
    );
    assert!(
        rsa_record.len() > 255,
        "an RSA-2048 record needs two strings"
    );
    let rsa_selector = rsa_name.strip_suffix("._domainkey.example.org.").unwrap();
    assert!(
        rsa_selector.len() == 7 && rsa_selector.starts_with("s20"),
        "default selector s<YYYYMM>: {rsa_selector}"
    );
    assert!(rsa_out.contains("; active"), "{rsa_out}");

    let ed_out = setup.ok(&[
        "dkim",
        "keygen",
        "example.org",
        "--algo",
        "ed25519",
        "--selector",
        "ed1",
    ]);
    let (ed_name, ed_record) = parse_txt(&ed_out, "._domainkey.example.org.");
    assert_eq!(ed_name, "ed1._domainkey.example.org.");
    assert!(ed_record.starts_with("v=DKIM1; k=ed25519; p="), "{ed_out}");
    assert!(ed_out.contains("not active"), "{ed_out}");

    let key_dir = setup.dkim_dir().join("example.org");
    for key in [format!("{rsa_selector}.key"), "ed1.key".to_string()] {
        let mode = std::fs::metadata(key_dir.join(&key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
    assert_eq!(
        std::fs::read_to_string(key_dir.join("selector")).unwrap(),
        format!("{rsa_selector}\n")
    );

    let dns = DnsServer::start().await;
    let resolver = dns.addr().to_string();
    dns.add_txt(&rsa_name, &rsa_record);

    // Activation checks that the record is published, unless forced.
    let out = setup.mailctl(&[
        "dkim",
        "activate",
        "example.org",
        "ed1",
        "--resolver",
        &resolver,
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not activated") && stderr.contains("ed1._domainkey.example.org."),
        "{stderr}"
    );
    dns.add_txt(&ed_name, &rsa_record);
    let stderr = setup
        .mailctl(&[
            "dkim",
            "activate",
            "example.org",
            "ed1",
            "--resolver",
            &resolver,
        ])
        .stderr;
    assert!(
        String::from_utf8_lossy(&stderr).contains("holds another key"),
        "{}",
        String::from_utf8_lossy(&stderr)
    );
    assert_eq!(
        std::fs::read_to_string(key_dir.join("selector")).unwrap(),
        format!("{rsa_selector}\n"),
        "unchanged"
    );
    dns.remove(&ed_name);
    dns.add_txt(&ed_name, &ed_record);

    // The first key is the active one.
    let (header, signed) = sign(&setup.dkim_dir());
    assert_eq!(selector_of(&header), rsa_selector);
    assert!(header.contains("a=rsa-sha256"), "{header}");
    assert_eq!(verify(&dns, &signed).await, vec![DkimResult::Pass]);
    let tampered = String::from_utf8(signed)
        .unwrap()
        .replace("mailctl made", "someone else made");
    let verdict = verify(&dns, tampered.as_bytes()).await;
    assert!(!matches!(verdict[0], DkimResult::Pass), "{verdict:?}");

    // `show` prints the active record again.
    let shown = setup.ok(&["dkim", "show", "example.org"]);
    assert_eq!(
        parse_txt(&shown, "._domainkey.example.org."),
        (rsa_name.clone(), rsa_record.clone())
    );

    // Activated, the Ed25519 key signs.
    let activated = setup.ok(&[
        "dkim",
        "activate",
        "example.org",
        "ed1",
        "--resolver",
        &resolver,
    ]);
    assert_eq!(
        parse_txt(&activated, "._domainkey.example.org.").1,
        ed_record
    );
    let (header, signed) = sign(&setup.dkim_dir());
    assert_eq!(selector_of(&header), "ed1");
    assert!(header.contains("a=ed25519-sha256"), "{header}");
    assert_eq!(verify(&dns, &signed).await, vec![DkimResult::Pass]);

    // Both sign, side by side; a new RSA key activated by keygen takes the old one's place.
    setup.ok(&[
        "dkim",
        "activate",
        "example.org",
        rsa_selector,
        "ed1",
        "--resolver",
        &resolver,
    ]);
    let (fields, signed) = sign(&setup.dkim_dir());
    assert_eq!(fields.matches("DKIM-Signature:").count(), 2, "{fields}");
    assert_eq!(
        verify(&dns, &signed).await,
        vec![DkimResult::Pass, DkimResult::Pass]
    );
    let new_out = setup.ok(&[
        "dkim",
        "keygen",
        "example.org",
        "--selector",
        "rsa2",
        "--activate",
    ]);
    assert!(
        new_out.contains(&format!("instead of {rsa_selector}")),
        "{new_out}"
    );
    assert_eq!(
        std::fs::read_to_string(key_dir.join("selector")).unwrap(),
        "ed1 rsa2\n"
    );
    // rsa2 is not published: refused, but --force activates it anyway (no DNS asked).
    let out = setup.mailctl(&[
        "dkim",
        "activate",
        "example.org",
        "rsa2",
        "--resolver",
        &resolver,
    ]);
    assert!(!out.status.success());
    setup.ok(&["dkim", "activate", "example.org", "rsa2", "ed1", "--force"]);
    assert_eq!(
        std::fs::read_to_string(key_dir.join("selector")).unwrap(),
        "rsa2 ed1\n"
    );
    setup.ok(&[
        "dkim",
        "activate",
        "example.org",
        "ed1",
        "--resolver",
        &resolver,
    ]);

    // `dns` lists every record kind and all keys, the active one marked.
    let zone = setup.ok(&["dns", "example.org"]);
    for expected in [
        "example.org. IN MX 10 mx.example.org.",
        "example.org. IN TXT \"v=spf1 mx -all\"",
        "_dmarc.example.org. IN TXT \"v=DMARC1; p=quarantine; rua=mailto:postmaster@example.org\"",
        "_mta-sts.example.org. IN TXT \"v=STSv1; id=",
        "mta-sts.example.org. IN CNAME mx.example.org.",
        ";     mode: enforce",
        ";     mx: mx.example.org",
        ";     max_age: 604800",
        "_smtp._tls.example.org. IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@example.org\"",
        "_submissions._tcp.example.org. IN SRV 0 1 465 mx.example.org.",
        "_submission._tcp.example.org. IN SRV 10 1 587 mx.example.org.",
        "_imaps._tcp.example.org. IN SRV 0 1 993 mx.example.org.",
        "_imap._tcp.example.org. IN SRV 10 1 143 mx.example.org.",
        "autoconfig.example.org. IN CNAME mx.example.org.",
        "autodiscover.example.org. IN CNAME mx.example.org.",
        "; selector ed1: ed25519, active (signs)",
        &format!("; selector {rsa_selector}: rsa-2048, not active"),
        "; selector rsa2: rsa-2048, not active",
    ] {
        assert!(zone.contains(expected), "missing {expected:?} in:\n{zone}");
    }
    assert_eq!(parse_txt(&zone, "ed1._domainkey.example.org.").1, ed_record);
    assert_eq!(
        parse_txt(&zone, &format!("{rsa_selector}._domainkey.example.org.")).1,
        rsa_record
    );
    let id = |zone: &str| parse_txt(zone, "_mta-sts.example.org.").1;
    assert_eq!(
        id(&zone),
        id(&setup.ok(&["dns", "example.org"])),
        "stable id"
    );

    // --mx names another host everywhere, and the MTA-STS id follows the policy.
    let other = setup.ok(&["dns", "example.org", "--mx", "mail.example.net"]);
    assert!(other.contains("example.org. IN MX 10 mail.example.net."));
    assert!(other.contains("_imaps._tcp.example.org. IN SRV 0 1 993 mail.example.net."));
    assert_ne!(id(&zone), id(&other));
}

#[test]
fn keygen_never_overwrites_a_key() {
    let setup = Setup::new();
    setup.ok(&["dkim", "keygen", "example.org", "--selector", "sel"]);
    let key = setup.dkim_dir().join("example.org/sel.key");
    let before = std::fs::read(&key).unwrap();
    for algo in ["rsa", "ed25519"] {
        let out = setup.mailctl(&[
            "dkim",
            "keygen",
            "example.org",
            "--selector",
            "sel",
            "--algo",
            algo,
            "--activate",
        ]);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("never overwritten"), "{stderr}");
        assert!(out.stdout.is_empty());
    }
    assert_eq!(std::fs::read(&key).unwrap(), before);
    let entries: Vec<_> = std::fs::read_dir(setup.dkim_dir().join("example.org"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(entries.len(), 2, "no temporary files left: {entries:?}");
}

#[test]
fn bad_domains_and_selectors_are_refused() {
    let setup = Setup::new();
    for args in [
        &["dkim", "keygen", "../x"][..],
        &["dkim", "keygen", "example.org/../../x"],
        &["dkim", "keygen", ".."],
        &["dkim", "keygen", "example.org", "--selector", "../../x"],
        &["dkim", "keygen", "example.org", "--selector", "a/b"],
        &["dkim", "show", "../x"],
        &["dkim", "activate", "../x", "sel"],
        &["dns", "../x"],
    ] {
        let out = setup.mailctl(args);
        assert!(!out.status.success(), "{args:?} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("is not a domain name") || stderr.contains("is not a DKIM selector"),
            "{args:?}: {stderr}"
        );
    }
    // Nothing was created anywhere.
    assert!(!setup.dkim_dir().exists());
    let mut entries: Vec<_> = std::fs::read_dir(setup.tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    entries.sort();
    assert_eq!(entries, ["mailstack.toml"]);
}

#[test]
fn show_and_activate_explain_what_is_missing() {
    let setup = Setup::new();
    let out = setup.mailctl(&["dkim", "show", "example.org"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("mailctl dkim keygen example.org"));
    let out = setup.mailctl(&["dkim", "activate", "example.org", "nosuch"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuch.key"));
    let zone = setup.ok(&["dns", "example.org"]);
    assert!(
        zone.contains("run `mailctl dkim keygen example.org`"),
        "{zone}"
    );
}

#[test]
fn a_broken_selector_file_is_kept_unless_activate_replaces_it() {
    let setup = Setup::new();
    let domain_dir = setup.dkim_dir().join("example.org");
    std::fs::create_dir_all(&domain_dir).unwrap();
    std::fs::write(domain_dir.join("selector"), "../../etc/passwd\n").unwrap();
    let out = setup.mailctl(&["dkim", "keygen", "example.org", "--selector", "a"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid DKIM selector"));
    assert!(!domain_dir.join("a.key").exists(), "nothing written");

    setup.ok(&[
        "dkim",
        "keygen",
        "example.org",
        "--selector",
        "b",
        "--activate",
    ]);
    assert_eq!(
        std::fs::read_to_string(domain_dir.join("selector")).unwrap(),
        "b\n"
    );
}
