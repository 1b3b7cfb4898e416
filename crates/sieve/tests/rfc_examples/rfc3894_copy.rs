//! RFC 3894 (copy)

use super::common::*;

/// RFC 3894 §3 (the example): redirect :copy keeps the message too.
#[test]
fn rfc3894_copy() {
    let s = r#"
require ["copy", "fileinto"];
if header :contains "subject" "present" {
    redirect :copy "other@example.net";
    fileinto :copy "Copies";
}
"#;
    assert_eq!(
        actions(s, &plain()),
        [
            "redirect other@example.net :copy",
            "fileinto Copies :copy",
            "implicit keep"
        ]
    );
    assert!(compile_err(r#"redirect :copy "a@b.c";"#).contains("require \"copy\""));
}
