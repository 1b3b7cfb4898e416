//! Unit tests of `compile`: validation errors with positions.

use crate::{Limits, compile};

fn err(s: &str) -> String {
    compile(s, &Limits::default()).unwrap_err().to_string()
}

#[test]
fn unknown_command_hints_require() {
    assert_eq!(
        err("require \"envelope\";\n\n  fileinto \"x\";"),
        "line 3, column 3: unknown command \"fileinto\" (did you `require \"fileinto\"`?)"
    );
    assert_eq!(
        err("filein \"x\";"),
        "line 1, column 1: unknown command \"filein\""
    );
    assert!(err("require \"bogus\";").contains("unsupported capability \"bogus\""));
    assert!(err("keep; require \"fileinto\";").contains("require must come before"));
}

#[test]
fn argument_checks() {
    assert!(err("if header :contains \"a\" {}").contains("expects a header list and a key list"));
    assert!(err("if header :foo \"a\" \"b\" {}").contains("unknown tagged argument \":foo\""));
    assert!(err("if header :is :contains \"a\" \"b\" {}").contains("cannot be combined"));
    assert!(err("if header :comparator \"i;bogus\" \"a\" \"b\" {}").contains("unknown comparator"));
    assert!(
        err("if header :comparator \"i;ascii-numeric\" \"a\" \"b\" {}")
            .contains("comparator-i;ascii-numeric")
    );
    assert!(
        err("require \"regex\"; if header :regex \"a\" \"(\" {}")
            .contains("bad regular expression")
    );
    assert!(err("if header :regex \"a\" \"b\" {}").contains("did you `require \"regex\"`"));
    assert!(err("redirect \"not an address\";").contains("not a valid address"));
    assert!(err("if size 100 {}").contains(":over or :under"));
    assert!(err("if true { keep; } else { stop; } elsif true {}").contains("after \"else\""));
    assert!(err("else { keep; }").contains("without a preceding"));
    assert!(err("if exists \"bad:name\" {}").contains("invalid header name"));
    assert!(err("require \"variables\"; set \"1x\" \"v\";").contains("not a valid variable name"));
    assert!(err("require \"variables\"; set \"a\" \"${ns.x}\";").contains("namespace"));
    assert!(
        err("require \"variables\"; set :lower :upper \"a\" \"b\";").contains("same precedence")
    );
    assert!(
        err("require [\"date\"]; if date \"date\" \"yearly\" \"x\" {}")
            .contains("unknown date part")
    );
    assert!(
        err("require \"relational\"; if header :count \"foo\" \"a\" \"1\" {}")
            .contains("invalid relational")
    );
    assert!(err("keep").contains("expected ';' or '{'"));
    assert!(
        err("if true keep;").contains("true takes no nested test"),
        "{}",
        err("if true keep;")
    );
    assert!(err("if anyof true {}").contains("test list"));
    assert!(err("if not (true) {}").contains("exactly one test"));
}

#[test]
fn limits_on_size_and_nesting() {
    let l = Limits {
        max_script_bytes: 10,
        ..Limits::default()
    };
    assert!(
        compile("keep; keep; keep;", &l)
            .unwrap_err()
            .message
            .contains("too large")
    );
    let deep = format!("{}keep;{}", "if true {".repeat(40), "}".repeat(40));
    assert!(
        compile(&deep, &Limits::default())
            .unwrap_err()
            .message
            .contains("nesting too deep")
    );
    let deep_test = format!("if {}true{} {{}}", "not ".repeat(40), "");
    assert!(
        compile(&deep_test, &Limits::default())
            .unwrap_err()
            .message
            .contains("nesting too deep")
    );
    let ok = format!("{}keep;{}", "if true {".repeat(20), "}".repeat(20));
    compile(&ok, &Limits::default()).unwrap();
}

#[test]
fn encoded_character() {
    // RFC 5228 §2.4.2.4
    compile(
        "require \"encoded-character\"; if header :contains \"Subject\" \"$${hex:24 24}\" {}",
        &Limits::default(),
    )
    .unwrap();
    assert!(
        err("require \"encoded-character\"; set \"x\" \"${unicode:110000}\";")
            .contains("unknown command \"set\"")
            || err("require \"encoded-character\"; if header \"a\" \"${unicode:110000}\" {}")
                .contains("Unicode")
    );
    assert!(
        err("require \"encoded-character\"; if header \"a\" \"${unicode:D800}\" {}")
            .contains("Unicode")
    );
}
