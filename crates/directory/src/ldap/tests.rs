//! Unit tests: escaping (RFC 4515 / RFC 4514 examples), presets, entry parsing, passwords.

use std::collections::HashMap;

use ldap3::SearchEntry;

use super::options::check_filter_template;
use super::schema::{Kind, Mapping};
use super::*;

fn entry(dn: &str, attrs: &[(&str, &[&str])]) -> SearchEntry {
    SearchEntry {
        dn: dn.into(),
        attrs: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect(),
        bin_attrs: HashMap::new(),
    }
}

fn opts(preset: Preset) -> LdapOptions {
    LdapOptions {
        urls: vec!["ldap://127.0.0.1:389".into()],
        base_dn: "dc=example,dc=com".into(),
        preset,
        ..LdapOptions::default()
    }
}

#[test]
fn filter_escape_rfc4515_examples() {
    // RFC 4515 §4 examples, as values.
    assert_eq!(
        escape_filter_value("Parens R Us (for all your parenthetical needs)"),
        r"Parens R Us \28for all your parenthetical needs\29"
    );
    assert_eq!(escape_filter_value("*"), r"\2a");
    assert_eq!(escape_filter_value(r"C:\MyFile"), r"C:\5cMyFile");
    assert_eq!(escape_filter_value("\0\0\0\u{4}"), r"\00\00\00\04");
    // UTF-8 may stay as is (RFC 4515 §3: UTF1SUBSET / UTFMB are valid value characters).
    assert_eq!(escape_filter_value("Lučić"), "Lučić");
    // The classic injection.
    assert_eq!(escape_filter_value("*)(uid=*"), r"\2a\29\28uid=\2a");
    assert_eq!(escape_filter_value("a\nb"), r"a\0ab");
    assert_eq!(
        escape_filter_value("plain@example.com"),
        "plain@example.com"
    );
}

#[test]
fn dn_escape_rfc4514_examples() {
    // RFC 4514 §4: CN=James \"Jim\" Smith\, III
    assert_eq!(
        escape_dn_value(r#"James "Jim" Smith, III"#),
        r#"James \"Jim\" Smith\, III"#
    );
    // CN=Before\0dAfter
    assert_eq!(escape_dn_value("Before\rAfter"), r"Before\0dAfter");
    // OU=Sales+CN=J. Smith is a multi-valued RDN; as one value the + is escaped.
    assert_eq!(escape_dn_value("Sales+J. Smith"), r"Sales\+J. Smith");
    assert_eq!(escape_dn_value(" lead and trail "), r"\ lead and trail\ ");
    assert_eq!(escape_dn_value("#hash"), r"\#hash");
    assert_eq!(escape_dn_value("mid#hash"), "mid#hash");
    assert_eq!(escape_dn_value(r"a\b;c<d>e=f"), r"a\\b\;c\<d\>e\=f");
    assert_eq!(escape_dn_value("nul\0"), r"nul\00");
    assert_eq!(escape_dn_value("Weird *()\\ Name"), r"Weird *()\\ Name");
    assert_eq!(escape_dn_value("Lučić"), "Lučić");
}

#[test]
fn filter_templates_are_checked() {
    assert!(check_filter_template("(mail=%s)").is_ok());
    assert!(check_filter_template("(&(objectClass=person)(uid=%s))").is_ok());
    assert!(check_filter_template("mail=%s").is_err());
    assert!(check_filter_template("(mail=x)").is_err());
    assert!(check_filter_template("(&(mail=%s)").is_err());
    assert!(check_filter_template("(mail=%s))(").is_err());

    let mut o = opts(Preset::OpenLdap);
    assert!(o.validate().is_ok());
    o.user_filter = Some("(uid=*)".into());
    assert!(o.validate().is_err());
    let mut o = opts(Preset::OpenLdap);
    o.urls = vec!["http://x".into()];
    assert!(o.validate().is_err());
    let mut o = opts(Preset::ActiveDirectory);
    o.auth = AuthMethod::Compare;
    assert!(o.validate().is_err());
    let mut o = opts(Preset::OpenLdap);
    o.alias_attributes = Some(vec!["mail)(x".into()]);
    assert!(o.validate().is_err());
}

#[test]
fn debug_hides_the_bind_password() {
    let mut o = opts(Preset::OpenLdap);
    o.bind_password = "hunter2-secret".into();
    let shown = format!("{o:?}");
    assert!(!shown.contains("hunter2-secret"), "{shown}");
    assert!(shown.contains("***"));
}

#[test]
fn preset_filters_escape_every_placeholder() {
    let m = Mapping::new(&opts(Preset::OpenLdap));
    assert_eq!(
        m.user_filter("a*b@example.com"),
        r"(&(objectClass=inetOrgPerson)(|(mail=a\2ab@example.com)(mailAlternateAddress=a\2ab@example.com)(uid=a\2ab@example.com)))"
    );
    let f = m.lookup_filter("*)(uid=*");
    assert!(!f.contains("*)("), "{f}");
    assert_eq!(
        m.domain_filter("example.com"),
        "(|(mail=*@example.com)(mailAlternateAddress=*@example.com))"
    );
    let ad = Mapping::new(&opts(Preset::ActiveDirectory));
    let f = ad.user_filter("bob@example.com");
    assert!(f.contains("(proxyAddresses=smtp:bob@example.com)"), "{f}");
    assert!(f.contains("(sAMAccountName=bob@example.com)"), "{f}");
    assert_eq!(
        ad.catch_all_filter("example.com"),
        "(|(mail=@example.com)(proxyAddresses=smtp:@example.com))"
    );
}

#[test]
fn openldap_user_entry() {
    let m = Mapping::new(&opts(Preset::OpenLdap));
    let e = entry(
        "uid=alice,ou=people,dc=example,dc=com",
        &[
            (
                "objectClass",
                &["top", "inetOrgPerson", "mailstackRecipient"],
            ),
            ("mail", &["Alice@Example.COM"]),
            (
                "mailAlternateAddress",
                &["a.smith@example.com", "alice@example.com", "@example.com"],
            ),
            ("uid", &["alice"]),
            ("mailQuota", &["1G"]),
            ("mailHost", &["mx2.example.com"]),
        ],
    );
    assert_eq!(m.kind(&e), Kind::User);
    let u = m.user(&e).unwrap();
    assert_eq!(u.address, "alice@example.com");
    assert_eq!(u.aliases, ["a.smith@example.com"]);
    assert_eq!(u.uid.as_deref(), Some("alice"));
    assert_eq!(u.quota_bytes, Some(1 << 30));
    assert_eq!(u.host.as_deref(), Some("mx2.example.com"));
    assert!(!m.disabled(&e, AuthMethod::Bind));

    let q = entry(
        "uid=q",
        &[("mail", &["q@example.com"]), ("quota", &["1048576"])],
    );
    assert_eq!(m.user(&q).unwrap().quota_bytes, Some(1_048_576));
    let q = entry(
        "uid=q",
        &[("mail", &["q@example.com"]), ("mailQuota", &["0"])],
    );
    assert_eq!(m.user(&q).unwrap().quota_bytes, None);
    let q = entry(
        "uid=q",
        &[("mail", &["q@example.com"]), ("mailQuota", &["-1"])],
    );
    assert_eq!(m.user(&q).unwrap().quota_bytes, None);
    let none = entry("uid=nomail", &[("uid", &["nomail"])]);
    assert!(m.user(&none).is_none());
}

#[test]
fn openldap_disabled_accounts() {
    let m = Mapping::new(&opts(Preset::OpenLdap));
    let locked = entry("uid=x", &[("pwdAccountLockedTime", &["000001010000Z"])]);
    assert!(m.disabled(&locked, AuthMethod::Bind));
    let failures = entry("uid=x", &[("pwdAccountLockedTime", &["20260101000000Z"])]);
    assert!(
        !m.disabled(&failures, AuthMethod::Bind),
        "server decides on bind"
    );
    assert!(m.disabled(&failures, AuthMethod::Compare));
    assert!(m.disabled(
        &entry("uid=x", &[("shadowExpire", &["1"])]),
        AuthMethod::Bind
    ));
    assert!(!m.disabled(
        &entry("uid=x", &[("shadowExpire", &["-1"])]),
        AuthMethod::Bind
    ));
    assert!(!m.disabled(
        &entry("uid=x", &[("shadowExpire", &["99999"])]),
        AuthMethod::Bind
    ));
}

#[test]
fn openldap_groups_and_aliases() {
    let m = Mapping::new(&opts(Preset::OpenLdap));
    let g = entry(
        "cn=team",
        &[
            ("objectClass", &["groupOfUniqueNames"]),
            ("uniqueMember", &["uid=a,dc=x#'0101'B", "uid=b,dc=x"]),
        ],
    );
    assert_eq!(m.kind(&g), Kind::Group);
    assert_eq!(m.member_dns(&g), ["uid=a,dc=x", "uid=b,dc=x"]);
    let a = entry(
        "cn=postmaster@example.com",
        &[
            ("objectClass", &["nisMailAlias"]),
            (
                "rfc822MailMember",
                &["alice@example.com", " ext@remote.org "],
            ),
        ],
    );
    assert_eq!(m.kind(&a), Kind::Alias);
    assert_eq!(m.alias_targets(&a), ["alice@example.com", "ext@remote.org"]);
}

#[test]
fn active_directory_user_entry() {
    let m = Mapping::new(&opts(Preset::ActiveDirectory));
    let e = entry(
        "CN=Bob Jones,OU=Staff,DC=corp,DC=example,DC=com",
        &[
            (
                "objectClass",
                &["top", "person", "organizationalPerson", "user"],
            ),
            ("mail", &["bob.jones@example.com"]),
            ("userPrincipalName", &["bob@corp.example.com"]),
            ("sAMAccountName", &["bob"]),
            (
                "proxyAddresses",
                &[
                    "smtp:bob.jones@example.com",
                    "SMTP:Bob@Example.com",
                    "smtp:bj@example.com",
                    "X500:/o=Org/ou=x/cn=bob",
                    "SIP:bob@example.com",
                ],
            ),
            ("userAccountControl", &["512"]),
            ("accountExpires", &["9223372036854775807"]),
        ],
    );
    assert_eq!(m.kind(&e), Kind::User);
    let u = m.user(&e).unwrap();
    assert_eq!(u.address, "bob@example.com");
    assert_eq!(u.aliases, ["bob.jones@example.com", "bj@example.com"]);
    assert_eq!(u.uid.as_deref(), Some("bob"));
    assert!(!m.disabled(&e, AuthMethod::Bind));

    for uac in ["514", "66050", "528"] {
        let d = entry("CN=x", &[("userAccountControl", &[uac])]);
        assert!(m.disabled(&d, AuthMethod::Bind), "uac {uac}");
    }
    // accountExpires in 2001 (FILETIME).
    let exp = entry("CN=x", &[("accountExpires", &["126227808000000000"])]);
    assert!(m.disabled(&exp, AuthMethod::Bind));
    assert!(!m.disabled(
        &entry("CN=x", &[("accountExpires", &["0"])]),
        AuthMethod::Bind
    ));

    let g = entry(
        "CN=All,DC=x",
        &[
            ("objectClass", &["top", "group"]),
            ("member", &["CN=Bob Jones,DC=x"]),
        ],
    );
    assert_eq!(m.kind(&g), Kind::Group);
    let c = entry(
        "CN=Ext,DC=x",
        &[
            ("objectClass", &["top", "contact"]),
            ("targetAddress", &["SMTP:ext@remote.org"]),
        ],
    );
    assert_eq!(m.kind(&c), Kind::Alias);
    assert_eq!(m.alias_targets(&c), ["ext@remote.org"]);
}

#[test]
fn user_password_schemes() {
    use super::userpassword::verify;
    // Made by `slappasswd -h {SSHA} -s secret`.
    assert!(verify(b"{SSHA}rDnHwqNjcoZtjqpOM6SPUbmaEho4gTS/", "secret"));
    assert!(!verify(b"{SSHA}rDnHwqNjcoZtjqpOM6SPUbmaEho4gTS/", "Secret"));
    // Made by `slappasswd -o module-load=argon2 -h {ARGON2} -s secret`.
    let argon = b"{ARGON2}$argon2i$v=19$m=4096,t=3,p=1$LqKcmmID5V9Ti06/NcmXfA$r5iKJQL9g09Gp3WylDhY7GLEdczlVjtq032z5nlC0MI";
    assert!(verify(argon, "secret"));
    assert!(!verify(argon, "wrong"));
    let mine = ssha("pässword", b"saltsalt");
    assert!(verify(mine.as_bytes(), "pässword"));
    assert!(!verify(mine.as_bytes(), "password"));
    // Cleartext and unknown schemes never match, even with the right password.
    assert!(!verify(b"secret", "secret"));
    assert!(!verify(b"{CLEARTEXT}secret", "secret"));
    assert!(!verify(b"{SSHA}not base64!", "secret"));
    assert!(!verify(b"{SSHA}", ""));
}
