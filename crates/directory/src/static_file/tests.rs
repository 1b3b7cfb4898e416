use super::*;
use crate::DirectoryError;

const ALICE_PHC: &str =
    "$argon2id$v=19$m=8,t=1,p=1$+xiFgKi/hZT3/NPcNLOYtg$JI6Ix6MP/DSDHvGCMT79jGq6k76Sb/mQfgHhyC7dQEA";
const BOB_PHC: &str =
    "$argon2id$v=19$m=8,t=1,p=1$F/wjQA3PouMjstaCzzbTVg$1zDNeAtmVaD0o9RKlh000ehS/9wjV3XOGnrSFYFXEqM";

fn sample() -> String {
    format!(
        r#"# mailstack users file
[[domain]]
name = "example.com"
# catch_all = "alice@example.com"

[[domain]]
name = "Example.ORG"
catch_all = "bob@example.com"

[[user]]
address = "alice@example.com"
password = "{ALICE_PHC}"
aliases = ["a.smith@example.com"]
quota = "1G"
quota_messages = 100000

[[user]]
address = "Bob@Example.com"
password = "{BOB_PHC}"
quota = 5000
disabled = true

[[alias]]
address = "postmaster@example.com"
targets = ["alice@example.com", "ext@remote.test"]

[[group]]
address = "all@example.org"
members = ["alice@example.com", "bob@example.com"]
"#
    )
}

fn invalid(r: Result<UsersFile, DirectoryError>) -> String {
    match r {
        Err(DirectoryError::Invalid(m)) => m,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn parses_the_documented_format() {
    let f = UsersFile::parse(&sample(), "users.toml").unwrap();
    assert_eq!(f.domains().len(), 2);
    assert_eq!(f.domains()[1].catch_all.as_deref(), Some("bob@example.com"));
    let alice = f.user("ALICE@example.com").unwrap();
    assert_eq!(alice.aliases, vec!["a.smith@example.com".to_string()]);
    assert_eq!(alice.quota, Some(Quota(1 << 30)));
    assert_eq!(alice.quota_messages, Some(100_000));
    assert!(!alice.disabled);
    let bob = f.user("bob@example.com").unwrap();
    assert_eq!(bob.quota, Some(Quota(5000)));
    assert!(bob.disabled);
    assert_eq!(f.aliases()[0].targets.len(), 2);
    assert_eq!(f.groups()[0].members.len(), 2);
}

#[test]
fn empty_file_is_valid_and_empty() {
    let f = UsersFile::parse("# nothing yet\n", "users.toml").unwrap();
    assert_eq!(f, UsersFile::default());
}

#[test]
fn quota_suffixes() {
    assert_eq!(parse_quota("0").unwrap(), 0);
    assert_eq!(parse_quota("1500").unwrap(), 1500);
    assert_eq!(parse_quota("1K").unwrap(), 1024);
    assert_eq!(parse_quota("2k").unwrap(), 2048);
    assert_eq!(parse_quota("512M").unwrap(), 512 << 20);
    assert_eq!(parse_quota("512MB").unwrap(), 512 << 20);
    assert_eq!(parse_quota(" 1G ").unwrap(), 1 << 30);
    assert_eq!(parse_quota("3T").unwrap(), 3 << 40);
    for bad in [
        "",
        "G",
        "1.5G",
        "-1",
        "1X",
        "1 G",
        "99999999999T",
        "18446744073709551616",
    ] {
        assert!(
            matches!(parse_quota(bad), Err(DirectoryError::Invalid(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn quota_display_is_the_shortest_exact_form() {
    assert_eq!(Quota(1 << 30).to_string(), "1G");
    assert_eq!(Quota(1536 << 10).to_string(), "1536K");
    assert_eq!(Quota(1000).to_string(), "1000");
    assert_eq!(Quota(0).to_string(), "0");
    for q in [0, 1, 1000, 1024, 1 << 20, 3 << 40, 1536 << 10] {
        assert_eq!(Quota(q).to_string().parse::<Quota>().unwrap(), Quota(q));
    }
}

#[test]
fn bad_quota_names_line_and_key() {
    let text = "[[domain]]\nname = \"example.com\"\n\n[[user]]\naddress = \"a@example.com\"\npassword = \"x\"\nquota = \"12Q\"\n";
    let m = invalid(UsersFile::parse(text, "u.toml"));
    assert!(m.starts_with("u.toml:7:9: key `quota`:"), "{m}");
    assert!(m.contains("unknown suffix"), "{m}");
    let text = text.replace("\"12Q\"", "-5");
    let m = invalid(UsersFile::parse(&text, "u.toml"));
    assert!(m.starts_with("u.toml:7:"), "{m}");
    assert!(m.contains("negative"), "{m}");
}

#[test]
fn unknown_key_is_an_error_with_line() {
    let text = sample().replace("quota_messages = 100000", "quota_mesages = 100000");
    let m = invalid(UsersFile::parse(&text, "users.toml"));
    assert!(
        m.starts_with("users.toml:15:1: key `quota_mesages`:"),
        "{m}"
    );
    assert!(m.contains("unknown field"), "{m}");
}

#[test]
fn toml_syntax_error_has_line_and_column() {
    let m = invalid(UsersFile::parse("[[domain]]\nname = \"a.b\n", "x.toml"));
    assert!(m.starts_with("x.toml:2:"), "{m}");
}

#[test]
fn validation_errors_name_line_and_key() {
    // Duplicate of alice's alias (line 13), declared as a group address (line 28).
    let text = sample().replace("all@example.org", "a.smith@example.com");
    let m = invalid(UsersFile::parse(&text, "users.toml"));
    assert_eq!(
        m,
        "users.toml:28:11: group[0].address: duplicate address \"a.smith@example.com\" (first at line 13)"
    );
}

#[test]
fn validation_reports_every_problem() {
    let text = format!(
        r#"[[domain]]
name = "example.com"

[[domain]]
name = "EXAMPLE.com"

[[user]]
address = "nobody"
password = "{ALICE_PHC}"

[[user]]
address = "bob@elsewhere.test"
password = "plain-text"
aliases = ["ok@example.com", "bad address@example.com"]

[[alias]]
address = "list@example.com"
targets = []

[[group]]
address = "g@example.com"
members = ["fine@remote.test", "@nope"]
"#
    );
    let m = invalid(UsersFile::parse(&text, "f"));
    let lines: Vec<&str> = m.lines().collect();
    assert_eq!(lines.len(), 7, "{m}");
    assert!(
        lines[0].starts_with(
            "f:5:8: domain[1].name: duplicate domain \"example.com\" (first at line 2)"
        ),
        "{m}"
    );
    assert!(
        lines[1].starts_with("f:8:11: user[0].address: malformed address"),
        "{m}"
    );
    assert!(
        lines[2].starts_with("f:12:11: user[1].address: domain \"elsewhere.test\" is not listed"),
        "{m}"
    );
    assert!(
        lines[3].starts_with("f:13:12: user[1].password: malformed password hash"),
        "{m}"
    );
    assert!(
        lines[4].starts_with("f:14:30: user[1].aliases[1]: malformed address"),
        "{m}"
    );
    assert!(
        lines[5].starts_with("f:18:11: alias[0].targets: needs at least one address"),
        "{m}"
    );
    assert!(
        lines[6].starts_with("f:22:32: group[0].members[1]: malformed address"),
        "{m}"
    );
}

#[test]
fn alias_loops_are_allowed_in_the_file() {
    let text = "[[domain]]\nname = \"example.com\"\n[[alias]]\naddress = \"a@example.com\"\ntargets = [\"b@example.com\"]\n[[alias]]\naddress = \"b@example.com\"\ntargets = [\"a@example.com\"]\n";
    let f = UsersFile::parse(text, "f").unwrap();
    assert_eq!(f.aliases().len(), 2);
}

#[test]
fn serialisation_round_trips_with_header() {
    let f = UsersFile::parse(&sample(), "users.toml").unwrap();
    let text = f.to_toml().unwrap();
    assert!(text.starts_with(USERS_FILE_HEADER), "{text}");
    assert!(text.contains("quota = \"1G\""), "{text}");
    assert!(text.contains("quota = 5000"), "{text}");
    assert!(!text.contains("disabled = false"), "{text}");
    assert!(
        text.contains("[[user]]") && text.contains("[[alias]]") && text.contains("[[group]]"),
        "{text}"
    );
    assert_eq!(UsersFile::parse(&text, "again").unwrap(), f);
}

#[test]
fn add_user_normalises_adds_domain_and_refuses_duplicates() {
    let mut f = UsersFile::default();
    f.add_user("Carol@New.Example", ALICE_PHC, Some(1 << 20))
        .unwrap();
    assert_eq!(f.users()[0].address, "carol@new.example");
    assert_eq!(f.domains()[0].name, "new.example");
    assert_eq!(f.users()[0].quota, Some(Quota(1 << 20)));
    f.add_user_alias("carol@new.example", "c@new.example")
        .unwrap();
    f.add_alias("info@new.example", &["carol@new.example"])
        .unwrap();
    f.add_group("team@new.example", &["carol@new.example", "x@remote.test"])
        .unwrap();
    for taken in [
        "CAROL@new.example",
        "c@new.example",
        "info@new.example",
        "team@new.example",
    ] {
        assert!(
            matches!(
                f.add_user(taken, BOB_PHC, None),
                Err(DirectoryError::AlreadyExists(_))
            ),
            "{taken}"
        );
        assert!(
            matches!(
                f.add_alias(taken, &["a@b.c"]),
                Err(DirectoryError::AlreadyExists(_))
            ),
            "{taken}"
        );
        assert!(
            matches!(
                f.add_group(taken, &["a@b.c"]),
                Err(DirectoryError::AlreadyExists(_))
            ),
            "{taken}"
        );
    }
    assert!(matches!(
        f.add_user("d@new.example", "not-a-hash", None),
        Err(DirectoryError::Invalid(_))
    ));
    assert!(matches!(
        f.add_user("no-at-sign", BOB_PHC, None),
        Err(DirectoryError::BadAddress(_))
    ));
    assert_eq!(f.users().len(), 1);
    f.validate().unwrap();
}

#[test]
fn aliases_need_a_listed_domain_and_targets() {
    let mut f = UsersFile::default();
    f.add_domain("example.com").unwrap();
    assert!(matches!(
        f.add_domain("EXAMPLE.com"),
        Err(DirectoryError::AlreadyExists(_))
    ));
    assert!(matches!(
        f.add_alias("x@other.test", &["a@example.com"]),
        Err(DirectoryError::NotFound(_))
    ));
    let none: [&str; 0] = [];
    assert!(matches!(
        f.add_alias("x@example.com", &none),
        Err(DirectoryError::Invalid(_))
    ));
    assert!(matches!(
        f.add_alias("x@example.com", &["bad"]),
        Err(DirectoryError::BadAddress(_))
    ));
    assert!(f.aliases().is_empty());
}

#[test]
fn remove_and_set_password() {
    let mut f = UsersFile::parse(&sample(), "users.toml").unwrap();
    f.set_password("ALICE@example.com", BOB_PHC).unwrap();
    assert_eq!(f.user("alice@example.com").unwrap().password, BOB_PHC);
    assert!(matches!(
        f.set_password("alice@example.com", "nope"),
        Err(DirectoryError::Invalid(_))
    ));
    assert!(matches!(
        f.set_password("zed@example.com", BOB_PHC),
        Err(DirectoryError::NotFound(_))
    ));

    // A user alias and an [[alias]] are both removable as aliases.
    f.remove_alias("a.smith@example.com").unwrap();
    assert!(f.user("alice@example.com").unwrap().aliases.is_empty());
    f.remove_alias("Postmaster@example.com").unwrap();
    assert!(f.aliases().is_empty());
    assert!(matches!(
        f.remove_alias("postmaster@example.com"),
        Err(DirectoryError::NotFound(_))
    ));

    let bob = f.remove_user("bob@EXAMPLE.com").unwrap();
    assert!(bob.disabled);
    assert!(matches!(
        f.remove_user("bob@example.com"),
        Err(DirectoryError::NotFound(_))
    ));
    assert_eq!(f.remove_group("all@example.org").unwrap().members.len(), 2);
    f.validate().unwrap();
}

#[test]
fn domains_in_use_cannot_be_removed() {
    let mut f = UsersFile::parse(&sample(), "users.toml").unwrap();
    assert!(matches!(
        f.remove_domain("example.com"),
        Err(DirectoryError::Invalid(_))
    ));
    f.remove_group("all@example.org").unwrap();
    f.remove_domain("EXAMPLE.org").unwrap();
    assert!(matches!(
        f.remove_domain("example.org"),
        Err(DirectoryError::NotFound(_))
    ));
    f.set_catch_all("example.com", Some("Alice@Example.com"))
        .unwrap();
    assert_eq!(
        f.domains()[0].catch_all.as_deref(),
        Some("alice@example.com")
    );
    f.set_catch_all("example.com", None).unwrap();
    assert_eq!(f.domains()[0].catch_all, None);
    assert!(matches!(
        f.set_catch_all("nope.test", None),
        Err(DirectoryError::NotFound(_))
    ));
}

#[test]
fn validate_without_source_names_keys() {
    let mut f = UsersFile::parse(&sample(), "users.toml").unwrap();
    f.user_mut("bob@example.com")
        .unwrap()
        .aliases
        .push("postmaster@example.com".into());
    let m = match f.validate() {
        Err(DirectoryError::Invalid(m)) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        m,
        "alias[0].address: duplicate address \"postmaster@example.com\" (first at user[1].aliases[0])"
    );
}
