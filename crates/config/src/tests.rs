use super::*;
use std::path::Path;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn load_text(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    load_str(text, Path::new("/etc/m.toml"), env(vars))
}

#[test]
fn empty_file_gives_defaults() {
    let c = load_text("", &[]).unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.lmtp_mda.max_message_size, ByteSize::mib(50));
    assert!(c.store.fsync);
}

#[test]
fn values_and_units_are_read() {
    let c = load_text(
        "[lmtp_mda]\nmax_message_size = \"25M\"\ntimeout = \"2m\"\nlisten = [\"127.0.0.1:2424\", \"unix:/tmp/l.sock\"]\n",
        &[],
    )
    .unwrap();
    assert_eq!(c.lmtp_mda.max_message_size, ByteSize(25 << 20));
    assert_eq!(c.lmtp_mda.timeout, DurationSpec::secs(120));
    assert_eq!(c.lmtp_mda.listen.len(), 2);
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let e = load_text("[store]\nroot = \"/x\"\n\nfsnyc = false\n", &[]).unwrap_err();
    let p = &e.problems[0];
    assert_eq!(p.key, "store.fsnyc");
    assert_eq!(
        p.origin,
        Origin::File {
            path: "/etc/m.toml".into(),
            line: 4,
            column: 1
        }
    );
    assert!(
        e.to_string()
            .starts_with("/etc/m.toml:4:1: key `store.fsnyc`: unknown field"),
        "{e}"
    );
}

#[test]
fn unknown_section_is_an_error() {
    let e = load_text("[storage]\nroot = \"/x\"\n", &[]).unwrap_err();
    assert_eq!(e.problems[0].key, "storage");
    assert!(matches!(e.problems[0].origin, Origin::File { line: 1, .. }));
}

#[test]
fn wrong_type_names_the_key_and_line() {
    let e = load_text("[lmtp_mda]\n\nmax_recipients = \"many\"\n", &[]).unwrap_err();
    assert_eq!(e.problems[0].key, "lmtp_mda.max_recipients");
    assert!(
        matches!(e.problems[0].origin, Origin::File { line: 3, .. }),
        "{e}"
    );
}

#[test]
fn bad_unit_is_reported() {
    let e = load_text("[lmtp_mda]\nmax_message_size = \"25X\"\n", &[]).unwrap_err();
    assert_eq!(e.problems[0].key, "lmtp_mda.max_message_size");
    assert!(e.to_string().contains("suffix"), "{e}");
}

#[test]
fn bounds_are_checked_and_all_reported() {
    let e = load_text(
        "[lmtp_mda]\nmax_recipients = 0\nbare_newlines = \"sometimes\"\nlisten = [\"nowhere\"]\n",
        &[],
    )
    .unwrap_err();
    let keys: Vec<_> = e.problems.iter().map(|p| p.key.as_str()).collect();
    assert!(keys.contains(&"lmtp_mda.max_recipients"), "{keys:?}");
    assert!(keys.contains(&"lmtp_mda.bare_newlines"));
    assert!(keys.contains(&"lmtp_mda.listen"));
    let rcpt = e
        .problems
        .iter()
        .find(|p| p.key == "lmtp_mda.max_recipients")
        .unwrap();
    assert!(matches!(rcpt.origin, Origin::File { line: 2, .. }));
}

#[test]
fn syntax_error_has_a_line() {
    let e = load_text("[store]\nroot = \n", &[]).unwrap_err();
    assert!(
        matches!(e.problems[0].origin, Origin::File { line: 2, .. }),
        "{e}"
    );
}

#[test]
fn environment_overrides_file() {
    let c = load_text(
        "[lmtp_mda]\nmax_recipients = 10\n",
        &[
            ("MAILSTACK_LMTP_MDA__MAX_RECIPIENTS", "50"),
            ("MAILSTACK_STORE__ROOT", "/srv/mail"),
            ("MAILSTACK_LMTP_MDA__LISTEN", "127.0.0.1:1,unix:/tmp/s"),
            ("MAILSTACK_STORE__FSYNC", "false"),
            ("MAILSTACK_LOG", "debug"),
            ("PATH", "/bin"),
        ],
    )
    .unwrap();
    assert_eq!(c.lmtp_mda.max_recipients, 50);
    assert_eq!(c.store.root, "/srv/mail");
    assert!(!c.store.fsync);
    assert_eq!(c.lmtp_mda.listen, vec!["127.0.0.1:1", "unix:/tmp/s"]);
}

#[test]
fn bad_environment_override_names_the_variable() {
    let e = load_text("", &[("MAILSTACK_LMTP_MDA__MAX_RECIPIENTS", "0")]).unwrap_err();
    assert_eq!(
        e.problems[0].origin,
        Origin::Env("MAILSTACK_LMTP_MDA__MAX_RECIPIENTS".into())
    );
    let e = load_text("", &[("MAILSTACK_STORE__NOPE", "1")]).unwrap_err();
    assert_eq!(
        e.problems[0].origin,
        Origin::Env("MAILSTACK_STORE__NOPE".into())
    );
    let e = load_text("", &[("MAILSTACK_STORE__FSYNC", "\"maybe\"")]).unwrap_err();
    assert_eq!(
        e.problems[0].origin,
        Origin::Env("MAILSTACK_STORE__FSYNC".into())
    );
}

#[test]
fn reference_lists_every_key_with_default() {
    let md = reference_markdown();
    let toml_ref = reference_toml();
    for (section, _, keys) in sections() {
        assert!(md.contains(&format!("## `[{section}]`")));
        for k in keys {
            assert!(
                md.contains(&format!("| `{}` |", k.name)),
                "{section}.{}",
                k.name
            );
            assert!(toml_ref.contains(&format!("\n{} = {}\n", k.name, k.default)));
        }
    }
    // The TOML reference is itself a valid config equal to the defaults.
    assert_eq!(load_text(&toml_ref, &[]).unwrap(), Config::default());
}

#[test]
fn docs_config_md_is_generated_from_declarations() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/config.md");
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == reference_markdown(),
        "docs/config.md is out of date: run `cargo run -p mailctl -- config reference > docs/config.md`"
    );
}

#[test]
fn example_configs_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let prod = std::fs::read_to_string(dir.join("mailstack.toml")).unwrap();
    load_text(&prod, &[]).unwrap();
    let dev = std::fs::read_to_string(dir.join("mailstack-dev.toml"))
        .unwrap()
        .replace("@DIR@", "/tmp/x");
    let c = load_text(&dev, &[]).unwrap();
    assert_eq!(c.lmtp_mda.listen[0], "127.0.0.1:2424");
}
