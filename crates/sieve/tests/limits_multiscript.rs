//! Resource limits (CPU steps, redirects, actions, variables) and the multiscript sequence
//! (sieve_before / user / sieve_after, Pigeonhole semantics).

mod common;

use common::*;
use mailstack_sieve::*;

fn run_limits(script: &str, limits: &Limits) -> Result<Outcome, RuntimeError> {
    let s = compile(script, limits).unwrap();
    run(
        &[&s],
        &Message::new(&plain()),
        &envelope(),
        &mut TestEnv::default(),
        limits,
    )
}

#[test]
fn too_many_redirects() {
    let l = Limits::default();
    let s: String = (0..5)
        .map(|i| format!("redirect \"r{i}@example.net\";\n"))
        .collect();
    assert_eq!(run_limits(&s, &l), Err(RuntimeError::TooManyRedirects(4)));
    let s: String = (0..4)
        .map(|i| format!("redirect \"r{i}@example.net\";\n"))
        .collect();
    assert_eq!(run_limits(&s, &l).unwrap().actions.len(), 4);
    // the same address twice is one redirect
    let s = "redirect \"a@example.net\"; redirect \"a@example.net\"; redirect \"b@example.net\";";
    let mut l = Limits::default();
    l.max_redirects = 2;
    assert_eq!(run_limits(s, &l).unwrap().actions.len(), 2);
}

#[test]
fn too_many_actions() {
    let s: String = std::iter::once("require \"fileinto\";\n".to_string())
        .chain((0..40).map(|i| format!("fileinto \"f{i}\";\n")))
        .collect();
    assert_eq!(
        run_limits(&s, &Limits::default()),
        Err(RuntimeError::TooManyActions(32))
    );
}

#[test]
fn cpu_steps_bound_expensive_matching() {
    // a large header and many :matches keys with many wildcards
    let big = "a".repeat(20_000);
    let keys: Vec<String> = (0..50)
        .map(|_| format!("\"{}b\"", "*a".repeat(30)))
        .collect();
    let s = format!(
        "if header :matches \"x-big\" [{}] {{ discard; }}",
        keys.join(",")
    );
    let m = msg(&format!("X-Big: {big}"), "x");
    let l = Limits::default();
    let sc = compile(&s, &l).unwrap();
    let start = std::time::Instant::now();
    let r = run(
        &[&sc],
        &Message::new(&m),
        &envelope(),
        &mut TestEnv::default(),
        &l,
    );
    assert_eq!(r, Err(RuntimeError::TooManySteps(1_000_000)));
    assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
    // a generous limit lets the same script finish (no match)
    let mut l = Limits::default();
    l.max_steps = u64::MAX;
    let r = run(
        &[&sc],
        &Message::new(&m),
        &envelope(),
        &mut TestEnv::default(),
        &l,
    )
    .unwrap();
    assert_eq!(fmt(&r), ["implicit keep"]);
}

#[test]
fn too_many_variables() {
    let s: String = std::iter::once("require \"variables\";\n".to_string())
        .chain((0..300).map(|i| format!("set \"v{i}\" \"x\";\n")))
        .collect();
    assert!(matches!(
        run_limits(&s, &Limits::default()),
        Err(RuntimeError::InvalidValue(_))
    ));
}

fn seq(scripts: &[&str], message: &[u8]) -> Vec<String> {
    let l = Limits::default();
    let compiled: Vec<Script> = scripts.iter().map(|s| compile(s, &l).unwrap()).collect();
    let refs: Vec<&Script> = compiled.iter().collect();
    fmt(&run(
        &refs,
        &Message::new(message),
        &envelope(),
        &mut TestEnv::default(),
        &l,
    )
    .unwrap())
}

#[test]
fn multiscript_sequence() {
    let spam = msg("From: a@b.c\nX-Spam-Flag: YES\nSubject: hi", "x");
    let ham = msg("From: a@b.c\nSubject: hi", "x");
    let before =
        r#"require "fileinto"; if header :is "x-spam-flag" "yes" { fileinto "Junk"; stop; }"#;
    let user = r#"require "fileinto"; fileinto "User";"#;
    let after = r#"require ["fileinto", "copy"]; fileinto :copy "Archive";"#;
    // the before script files spam and cancels the keep: the user script does not run
    assert_eq!(seq(&[before, user], &spam), ["fileinto Junk"]);
    // ham: the user script runs
    assert_eq!(seq(&[before, user], &ham), ["fileinto User"]);
    // stop ends only the current script
    assert_eq!(seq(&["stop;", user], &ham), ["fileinto User"]);
    // an explicit keep in a non-final script continues the sequence and is not performed
    assert_eq!(seq(&["keep;", user], &ham), ["fileinto User"]);
    assert_eq!(seq(&["keep;", "stop;"], &ham), ["implicit keep"]);
    // discard in the user script: the after script does not run
    assert_eq!(seq(&["discard;", after], &ham), ["discard"]);
    // the user script keeps: the after script runs and the implicit keep stands
    assert_eq!(
        seq(&["keep;", after], &ham),
        ["fileinto Archive :copy", "implicit keep"]
    );
    // variables and the flag variable are per script
    let a = r#"require ["variables", "imap4flags"]; set "x" "1"; addflag "\\Seen";"#;
    let b = r#"require ["variables", "fileinto"]; fileinto "v${x}";"#;
    assert_eq!(seq(&[a, b], &ham), ["fileinto v"]);
    assert_eq!(seq(&[b, a], &ham), ["fileinto v"]);
    assert_eq!(
        seq(
            &[r#"require ["fileinto", "copy"]; fileinto :copy "A";"#, a],
            &ham
        ),
        ["fileinto A :copy", "implicit keep [\\Seen]"]
    );
    // an error in any script fails the whole run (the host keeps the message in INBOX)
    let l = Limits::default();
    let ok = compile(user, &l).unwrap();
    let bad = compile("require \"reject\"; reject \"no\"; keep;", &l).unwrap();
    let r = run(
        &[&ok, &bad],
        &Message::new(&ham),
        &envelope(),
        &mut TestEnv::default(),
        &l,
    );
    assert!(
        r.is_ok(),
        "the user script cancelled the keep, the second never ran"
    );
    let r = run(
        &[&compile("keep;", &l).unwrap(), &bad],
        &Message::new(&ham),
        &envelope(),
        &mut TestEnv::default(),
        &l,
    );
    assert!(
        matches!(r, Err(RuntimeError::IncompatibleActions(_))),
        "{r:?}"
    );
}

#[test]
fn empty_sequence_keeps() {
    assert_eq!(seq(&[], &plain()), ["implicit keep"]);
    assert_eq!(seq(&[""], &plain()), ["implicit keep"]);
}
