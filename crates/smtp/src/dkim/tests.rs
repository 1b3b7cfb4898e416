//! Unit tests of DKIM signing: signatures made here are verified by mail-auth against keys
//! published on the in-process DNS server of `tests/dns_server`; key files, selector changes
//! and broken files on a temporary directory.

#[allow(unreachable_pub)]
#[path = "../../tests/dns_server/mod.rs"]
mod dns_server;

use std::time::Duration;

use dns_server::DnsServer;
use mail_auth::hickory_resolver::config::{
    NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator};

use super::*;

const MESSAGE: &str = "From: Alice <alice@example.org>\r\n\
    To: bob@example.net\r\n\
    Subject: Lunch  on\r\n\tFriday\r\n\
    Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n\
    Message-ID: <lunch-1@example.org>\r\n\
    MIME-Version: 1.0\r\n\
    Content-Type: text/plain; charset=utf-8\r\n\
    X-Mailer: test\r\n\
    \r\n\
    Shall we meet at noon?\r\n\
    Alice\r\n";

fn authenticator(dns: &DnsServer) -> MessageAuthenticator {
    let addr = dns.addr();
    let mut server = NameServerConfig::udp_and_tcp(addr.ip());
    for connection in &mut server.connections {
        connection.port = addr.port();
    }
    let mut opts = ResolverOpts::default();
    opts.use_hosts_file = ResolveHosts::Never;
    opts.attempts = 1;
    opts.timeout = Duration::from_secs(5);
    MessageAuthenticator::new(ResolverConfig::from_name_servers(vec![server]), opts).unwrap()
}

/// mail-auth's verdicts on `message` (signature header + original).
async fn verify(dns: &DnsServer, message: &[u8]) -> Vec<DkimResult> {
    let auth = authenticator(dns);
    let parsed = AuthenticatedMessage::parse(message).expect("message parses");
    auth.verify_dkim(&parsed)
        .await
        .iter()
        .map(|o| o.result().clone())
        .collect()
}

/// Writes a new key for `selector` of `domain` under `dir` and returns its DNS record.
fn install_key(dir: &Path, domain: &str, selector: &str, algorithm: KeyAlgorithm) -> String {
    let generated = generate_key(algorithm).unwrap();
    std::fs::create_dir_all(dir.join(domain)).unwrap();
    std::fs::write(key_path(dir, domain, selector), &generated.pem).unwrap();
    generated.key.dns_record()
}

fn activate(dir: &Path, domain: &str, selector: &str) {
    std::fs::write(selector_path(dir, domain), format!("{selector}\n")).unwrap();
}

fn signed(header: &str, message: &str) -> Vec<u8> {
    format!("{header}{message}").into_bytes()
}

/// The value of tag `name` in an unfolded DKIM-Signature header.
fn tag(header: &str, name: &str) -> String {
    let unfolded: String = header
        .trim_start_matches("DKIM-Signature:")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    unfolded
        .split(';')
        .find_map(|t| t.strip_prefix(&format!("{name}=")).map(str::to_string))
        .unwrap_or_default()
}

#[tokio::test]
async fn rsa_signature_verifies_against_the_published_key() {
    let dir = tempfile::tempdir().unwrap();
    let record = install_key(dir.path(), "example.org", "s202611", KeyAlgorithm::Rsa);
    activate(dir.path(), "example.org", "s202611");
    assert!(record.starts_with("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"));
    let dns = DnsServer::start().await;
    dns.add_txt("s202611._domainkey.example.org", &record);

    let signer = DkimSigner::new(dir.path());
    let header = signer
        .sign("example.org", MESSAGE.as_bytes())
        .unwrap()
        .expect("a key exists");

    assert!(header.starts_with("DKIM-Signature: v=1; a=rsa-sha256; "));
    assert!(header.ends_with(";\r\n"));
    let body = header.trim_end_matches("\r\n");
    assert!(
        body.split("\r\n").skip(1).all(|l| l.starts_with('\t')),
        "{header}"
    );
    // mail-auth folds every line after the first at 78 columns; the first holds v, a, s, d, c.
    assert!(
        body.split("\r\n").skip(1).all(|l| l.len() <= 78),
        "{header}"
    );
    assert_eq!(header.matches('\n').count(), header.matches("\r\n").count());
    assert_eq!(tag(&header, "c"), "relaxed/relaxed");
    assert_eq!(tag(&header, "d"), "example.org");
    assert_eq!(tag(&header, "s"), "s202611");
    assert!(tag(&header, "t").parse::<u64>().unwrap() > 1_700_000_000);
    assert_eq!(tag(&header, "x"), "");
    assert_eq!(tag(&header, "l"), "");
    let mut h: Vec<String> = tag(&header, "h")
        .split(':')
        .map(str::to_ascii_lowercase)
        .collect();
    h.sort();
    assert_eq!(
        h,
        [
            "content-type",
            "date",
            "from",
            "from",
            "message-id",
            "mime-version",
            "subject",
            "to"
        ],
        "present headers signed, From over-signed, X-Mailer and absent ones not: {header}"
    );

    let message = signed(&header, MESSAGE);
    assert_eq!(verify(&dns, &message).await, vec![DkimResult::Pass]);
}

#[tokio::test]
async fn ed25519_signature_verifies_against_the_published_key() {
    let dir = tempfile::tempdir().unwrap();
    let record = install_key(dir.path(), "example.org", "e202611", KeyAlgorithm::Ed25519);
    activate(dir.path(), "example.org", "e202611");
    let p = record.strip_prefix("v=DKIM1; k=ed25519; p=").unwrap();
    assert_eq!(BASE64.decode(p).unwrap().len(), 32, "RFC 8463: the raw key");
    let dns = DnsServer::start().await;
    dns.add_txt("e202611._domainkey.example.org", &record);

    let header = DkimSigner::new(dir.path())
        .sign("example.org", MESSAGE.as_bytes())
        .unwrap()
        .unwrap();
    assert!(header.starts_with("DKIM-Signature: v=1; a=ed25519-sha256; "));
    let message = signed(&header, MESSAGE);
    assert_eq!(verify(&dns, &message).await, vec![DkimResult::Pass]);
}

#[tokio::test]
async fn changed_body_or_added_from_fails() {
    let dir = tempfile::tempdir().unwrap();
    let record = install_key(dir.path(), "example.org", "sel", KeyAlgorithm::Rsa);
    activate(dir.path(), "example.org", "sel");
    let dns = DnsServer::start().await;
    dns.add_txt("sel._domainkey.example.org", &record);
    let header = DkimSigner::new(dir.path())
        .sign("example.org", MESSAGE.as_bytes())
        .unwrap()
        .unwrap();

    let tampered = signed(&header, &MESSAGE.replace("noon", "midnight"));
    let verdict = verify(&dns, &tampered).await;
    assert_eq!(verdict.len(), 1);
    assert!(
        !matches!(verdict[0], DkimResult::Pass),
        "body changed: {verdict:?}"
    );

    let second_from = signed(
        &header,
        &MESSAGE.replace("X-Mailer: test\r\n", "From: mallory@example.com\r\n"),
    );
    let verdict = verify(&dns, &second_from).await;
    assert!(
        !matches!(verdict[0], DkimResult::Pass),
        "From over-signed: {verdict:?}"
    );

    // Re-folding and case changes of headers do not matter (relaxed canonicalization).
    let refolded = signed(
        &header,
        &MESSAGE.replace("Subject: Lunch  on\r\n\tFriday", "subject:Lunch on Friday"),
    );
    assert_eq!(verify(&dns, &refolded).await, vec![DkimResult::Pass]);
}

#[tokio::test]
async fn rsa_and_ed25519_sign_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = install_key(dir.path(), "example.org", "s202611", KeyAlgorithm::Rsa);
    let ed = install_key(dir.path(), "example.org", "e202611", KeyAlgorithm::Ed25519);
    std::fs::write(
        selector_path(dir.path(), "example.org"),
        "s202611\ne202611 s202611\n",
    )
    .unwrap();
    let dns = DnsServer::start().await;
    dns.add_txt("s202611._domainkey.example.org", &rsa);
    dns.add_txt("e202611._domainkey.example.org", &ed);

    let fields = DkimSigner::new(dir.path())
        .sign("example.org", MESSAGE.as_bytes())
        .unwrap()
        .unwrap();
    let starts: Vec<_> = fields
        .match_indices("DKIM-Signature: ")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        starts.len(),
        2,
        "one field per key, duplicates once: {fields}"
    );
    let (first, second) = fields.split_at(starts[1]);
    assert!(first.contains("a=rsa-sha256") && first.ends_with(";\r\n"));
    assert!(second.contains("a=ed25519-sha256") && second.ends_with(";\r\n"));
    assert_eq!(
        verify(&dns, &signed(&fields, MESSAGE)).await,
        vec![DkimResult::Pass, DkimResult::Pass]
    );

    // Too many selectors, or an empty file (none active).
    std::fs::write(selector_path(dir.path(), "example.org"), "a b c d e\n").unwrap();
    let err = DkimSigner::new(dir.path())
        .sign("example.org", MESSAGE.as_bytes())
        .unwrap_err();
    assert!(matches!(err, DkimError::BadSelector { .. }), "{err}");
    std::fs::write(selector_path(dir.path(), "example.org"), "\n").unwrap();
    assert!(
        DkimSigner::new(dir.path())
            .sign("example.org", MESSAGE.as_bytes())
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn no_key_means_none() {
    let dir = tempfile::tempdir().unwrap();
    let signer = DkimSigner::new(dir.path());
    // No directory for the domain.
    assert!(
        signer
            .sign("example.org", MESSAGE.as_bytes())
            .unwrap()
            .is_none()
    );
    // A directory with a key, but no selector file: nothing is active.
    install_key(dir.path(), "example.net", "sel", KeyAlgorithm::Ed25519);
    assert!(
        signer
            .sign("example.net", MESSAGE.as_bytes())
            .unwrap()
            .is_none()
    );
    // Names that cannot be a directory never reach the file system.
    std::fs::write(dir.path().join("selector"), "sel\n").unwrap();
    for bad in [
        "",
        ".",
        "..",
        "../example.net",
        "example.net/..",
        "a/b",
        "-x.org",
    ] {
        assert!(
            signer.sign(bad, MESSAGE.as_bytes()).unwrap().is_none(),
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn domain_is_matched_case_insensitively() {
    let dir = tempfile::tempdir().unwrap();
    install_key(dir.path(), "example.org", "sel", KeyAlgorithm::Ed25519);
    activate(dir.path(), "example.org", "sel");
    let header = DkimSigner::new(dir.path())
        .sign("Example.ORG", MESSAGE.as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(tag(&header, "d"), "example.org");
}

#[tokio::test]
async fn a_new_selector_is_picked_up_after_the_recheck_interval() {
    let dir = tempfile::tempdir().unwrap();
    let old = install_key(dir.path(), "example.org", "old", KeyAlgorithm::Rsa);
    let new = install_key(dir.path(), "example.org", "new", KeyAlgorithm::Ed25519);
    activate(dir.path(), "example.org", "old");
    let dns = DnsServer::start().await;
    dns.add_txt("old._domainkey.example.org", &old);
    dns.add_txt("new._domainkey.example.org", &new);

    // With the default interval, a change right after the first use is not seen yet.
    let cached = DkimSigner::new(dir.path());
    let rechecking = DkimSigner::with_recheck_interval(dir.path(), Duration::ZERO);
    for signer in [&cached, &rechecking] {
        let header = signer
            .sign("example.org", MESSAGE.as_bytes())
            .unwrap()
            .unwrap();
        assert_eq!(tag(&header, "s"), "old");
    }
    activate(dir.path(), "example.org", "new");
    let header = cached
        .sign("example.org", MESSAGE.as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(tag(&header, "s"), "old", "looked again within 10 s");

    let header = rechecking
        .sign("example.org", MESSAGE.as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(tag(&header, "s"), "new");
    assert!(header.contains("a=ed25519-sha256"));
    assert_eq!(
        verify(&dns, &signed(&header, MESSAGE)).await,
        vec![DkimResult::Pass]
    );

    // The key file of the active selector replaced in place (same name): reloaded too.
    let replaced = install_key(dir.path(), "example.org", "new", KeyAlgorithm::Rsa);
    let header = rechecking
        .sign("example.org", MESSAGE.as_bytes())
        .unwrap()
        .unwrap();
    assert!(header.contains("a=rsa-sha256"), "{header}");
    dns.remove("new._domainkey.example.org");
    dns.add_txt("new._domainkey.example.org", &replaced);
    assert_eq!(
        verify(&dns, &signed(&header, MESSAGE)).await,
        vec![DkimResult::Pass]
    );

    // The selector file removed: nothing to sign with any more.
    std::fs::remove_file(selector_path(dir.path(), "example.org")).unwrap();
    assert!(
        rechecking
            .sign("example.org", MESSAGE.as_bytes())
            .unwrap()
            .is_none()
    );
}

#[test]
fn unusable_keys_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let signer = DkimSigner::with_recheck_interval(dir.path(), Duration::ZERO);
    let domain_dir = dir.path().join("example.org");
    std::fs::create_dir_all(&domain_dir).unwrap();

    // The selector names a key that does not exist.
    activate(dir.path(), "example.org", "gone");
    let err = signer.sign("example.org", MESSAGE.as_bytes()).unwrap_err();
    assert!(matches!(err, DkimError::MissingKey { .. }), "{err}");
    assert!(err.to_string().contains("gone.key"), "{err}");

    // Not a PEM key.
    std::fs::write(domain_dir.join("gone.key"), "not a key\n").unwrap();
    let err = signer.sign("example.org", MESSAGE.as_bytes()).unwrap_err();
    assert!(matches!(err, DkimError::BadKey { .. }), "{err}");
    assert!(err.to_string().contains("gone.key"), "{err}");

    // A PEM block that is no key of ours.
    std::fs::write(
        domain_dir.join("gone.key"),
        pem_encode("PRIVATE KEY", b"\x30\x03\x02\x01\x00"),
    )
    .unwrap();
    let err = signer.sign("example.org", MESSAGE.as_bytes()).unwrap_err();
    assert!(matches!(err, DkimError::BadKey { .. }), "{err}");

    // The selector file holds a path, not a selector.
    activate(dir.path(), "example.org", "../../etc/passwd");
    let err = signer.sign("example.org", MESSAGE.as_bytes()).unwrap_err();
    assert!(matches!(err, DkimError::BadSelector { .. }), "{err}");
    assert!(err.to_string().contains("selector"), "{err}");

    // Fixed: signs again (errors are not cached past the interval).
    install_key(dir.path(), "example.org", "fixed", KeyAlgorithm::Ed25519);
    activate(dir.path(), "example.org", "fixed");
    assert!(
        signer
            .sign("example.org", MESSAGE.as_bytes())
            .unwrap()
            .is_some()
    );
}

#[test]
fn errors_do_not_contain_key_material() {
    let dir = tempfile::tempdir().unwrap();
    let generated = generate_key(KeyAlgorithm::Ed25519).unwrap();
    // A truncated key: the PEM parses, the key does not.
    let der = PrivateKeyDer::from_pem_slice(generated.pem.as_bytes()).unwrap();
    let secret = der.secret_der();
    let broken = pem_encode("PRIVATE KEY", &secret[..secret.len() - 4]);
    std::fs::create_dir_all(dir.path().join("example.org")).unwrap();
    std::fs::write(key_path(dir.path(), "example.org", "sel"), &broken).unwrap();
    activate(dir.path(), "example.org", "sel");
    let err = DkimSigner::new(dir.path())
        .sign("example.org", MESSAGE.as_bytes())
        .unwrap_err();
    let text = format!("{err} {err:?}");
    let body: String = broken.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!text.contains(&body[..20]), "{text}");
    assert!(!format!("{generated:?}").contains(&generated.pem[30..60]));
}

#[test]
fn generated_keys_round_trip_through_pem() {
    let rsa = generate_key(KeyAlgorithm::Rsa).unwrap();
    assert!(rsa.pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(rsa.pem.lines().all(|l| l.len() <= 64));
    assert_eq!(rsa.key.algorithm(), KeyAlgorithm::Rsa);
    assert_eq!(rsa.key.bits(), 2048);
    let again = KeyFile::from_pem(rsa.pem.as_bytes()).unwrap();
    assert_eq!(again.dns_record(), rsa.key.dns_record());

    let ed = generate_key(KeyAlgorithm::Ed25519).unwrap();
    assert_eq!(ed.key.algorithm(), KeyAlgorithm::Ed25519);
    let again = KeyFile::from_pem(ed.pem.as_bytes()).unwrap();
    assert_eq!(again.dns_record(), ed.key.dns_record());
    assert_ne!(
        generate_key(KeyAlgorithm::Ed25519)
            .unwrap()
            .key
            .dns_record(),
        ed.key.dns_record()
    );
}

#[test]
fn pkcs1_rsa_keys_as_opendkim_writes_them_are_accepted() {
    let rsa = generate_key(KeyAlgorithm::Rsa).unwrap();
    let der = PrivateKeyDer::from_pem_slice(rsa.pem.as_bytes()).unwrap();
    let pkcs8 = der.secret_der();
    // PrivateKeyInfo: SEQUENCE { 0, AlgorithmIdentifier (rsaEncryption),
    //                           OCTET STRING { RSAPrivateKey } }
    assert_eq!(&pkcs8[22..24], &[0x04, 0x82], "2048-bit layout");
    let pkcs1 = pem_encode("RSA PRIVATE KEY", &pkcs8[26..]);
    let key = KeyFile::from_pem(pkcs1.as_bytes()).unwrap();
    assert_eq!(key.algorithm(), KeyAlgorithm::Rsa);
    assert_eq!(key.dns_record(), rsa.key.dns_record());
}

#[test]
fn published_records_are_matched_to_keys() {
    let rsa = generate_key(KeyAlgorithm::Rsa).unwrap().key;
    let ed = generate_key(KeyAlgorithm::Ed25519).unwrap().key;
    let record = rsa.dns_record();
    assert!(rsa.matches_record(&record));
    // As DNS providers reformat it: spaces, no k=, another order, extra tags.
    let p = record.split("p=").nth(1).unwrap();
    let (a, b) = p.split_at(100);
    assert!(rsa.matches_record(&format!("p={a} {b} ; v=DKIM1; t=s")));
    assert!(!rsa.matches_record(&ed.dns_record()));
    assert!(!ed.matches_record(&record));
    assert!(!rsa.matches_record("v=DKIM1; k=rsa; p="), "revoked");
    assert!(!rsa.matches_record(&record.replace("k=rsa", "k=ed25519")));
    assert!(!rsa.matches_record(""));
    assert!(ed.matches_record(&ed.dns_record()));
}

#[test]
fn names_and_selectors_are_checked() {
    for good in [
        "example.org",
        "mail.example.co.uk",
        "xn--bcher-kva.example",
        "a",
    ] {
        assert!(is_valid_domain(good), "{good}");
    }
    for bad in [
        "",
        ".",
        "..",
        "../x",
        "a/b",
        ".example.org",
        "example.org.",
        "a..b",
        "-a.org",
    ] {
        assert!(!is_valid_domain(bad), "{bad}");
    }
    assert!(!is_valid_domain(&"a".repeat(64)));
    for good in ["s202611", "mail", "2026-11.rsa", "e202611"] {
        assert!(is_valid_selector(good), "{good}");
    }
    for bad in ["", "a/b", "..", ".x", "x.", "a_b", "-x", "sel key"] {
        assert!(!is_valid_selector(bad), "{bad}");
    }
}

#[test]
fn selectors_are_listed_from_key_files() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        list_selectors(dir.path(), "example.org")
            .unwrap()
            .is_empty()
    );
    install_key(dir.path(), "example.org", "s202611", KeyAlgorithm::Rsa);
    install_key(dir.path(), "example.org", "e202611", KeyAlgorithm::Ed25519);
    activate(dir.path(), "example.org", "s202611");
    std::fs::write(dir.path().join("example.org/notes.txt"), "x").unwrap();
    assert_eq!(
        list_selectors(dir.path(), "example.org").unwrap(),
        ["e202611", "s202611"]
    );
    assert_eq!(
        active_selectors(dir.path(), "example.org").unwrap(),
        ["s202611"]
    );
}

#[test]
fn the_signer_is_shared_between_tasks() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<DkimSigner>();
    shareable::<DkimError>();
    let dir = tempfile::tempdir().unwrap();
    install_key(dir.path(), "example.org", "sel", KeyAlgorithm::Ed25519);
    activate(dir.path(), "example.org", "sel");
    let signer = DkimSigner::new(dir.path());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let signer = signer.clone();
            std::thread::spawn(move || signer.sign("example.org", MESSAGE.as_bytes()))
        })
        .collect();
    for thread in threads {
        assert!(thread.join().unwrap().unwrap().is_some());
    }
}

#[test]
fn only_present_headers_are_signed_and_from_twice() {
    let names = headers_to_sign(b"from: a@b\r\nSUBJECT: x\r\nX-Other: y\r\nCc: c@d\r\n\r\nbody");
    assert_eq!(names, ["From", "From", "Cc", "Subject"]);
    assert_eq!(headers_to_sign(b"\r\nbody"), ["From"]);
}
