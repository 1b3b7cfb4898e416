//! `LdapDirectory` over TLS: StartTLS and `ldaps://` with a private CA (`ca_file`), and
//! refusal of a server whose certificate the CA did not sign.

mod slapd;

use mailstack_directory::ldap::LdapDirectory;
use mailstack_directory::{AuthOutcome, Directory, DirectoryError, Entry};
use slapd::{Slapd, options};

fn is_alice(e: Option<Entry>) -> bool {
    matches!(e, Some(Entry::User(u)) if u.address == "alice@example.com")
}

#[tokio::test]
async fn starttls_and_ldaps_with_a_private_ca() {
    let s = Slapd::start_tls().await;

    let mut o = options(&[s.url()]);
    o.starttls = true;
    o.ca_file = Some(s.ca_file());
    let dir = LdapDirectory::connect(o).await.unwrap();
    assert!(is_alice(dir.lookup("alice@example.com").await.unwrap()));
    assert!(matches!(
        dir.authenticate("alice", "alice-pw").await.unwrap(),
        AuthOutcome::Accepted(_)
    ));

    let ldaps = s.ldaps_url().unwrap();
    let mut o = options(std::slice::from_ref(&ldaps));
    o.ca_file = Some(s.ca_file());
    let dir = LdapDirectory::connect(o).await.unwrap();
    assert!(is_alice(dir.lookup("alice@example.com").await.unwrap()));
    assert_eq!(dir.last_server(), Some(ldaps));
}

#[tokio::test]
async fn an_untrusted_certificate_is_unavailable() {
    let s = Slapd::start_tls().await;
    // Another test CA: the server's certificate does not chain to it.
    let other = Slapd::start_tls().await;
    let mut o = options(&[s.ldaps_url().unwrap()]);
    o.ca_file = Some(other.ca_file());
    let dir = LdapDirectory::connect(o).await.unwrap();
    assert!(matches!(
        dir.lookup("alice@example.com").await,
        Err(DirectoryError::Unavailable(_))
    ));
    let mut o = options(&[s.url()]);
    o.starttls = true;
    o.ca_file = Some(other.ca_file());
    let dir = LdapDirectory::connect(o).await.unwrap();
    assert!(matches!(
        dir.lookup("alice@example.com").await,
        Err(DirectoryError::Unavailable(_))
    ));
}

#[tokio::test]
async fn a_bad_ca_file_is_a_configuration_error() {
    let mut o = options(&["ldaps://127.0.0.1:1".to_string()]);
    o.ca_file = Some("/nonexistent/ca.pem".into());
    assert!(matches!(
        LdapDirectory::connect(o).await,
        Err(DirectoryError::Invalid(_))
    ));
}
