//! RFC 5173 (body)

use super::common::*;

fn multipart() -> Vec<u8> {
    msg(
        "From: agent@example.org\nTo: me@example.com\nSubject: plans\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"",
        "preamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nThe missile coordinates are =\r\nsecret. The project schedule slipped.\r\n--b1\r\nContent-Type: text/html\r\n\r\n<p>Meet at <b>noon</b></p>\r\n--b1\r\nContent-Type: audio/mp3\r\nContent-Transfer-Encoding: base64\r\n\r\nSUQzAwAAAAAA\r\n--b1--\r\n",
    )
}

/// RFC 5173 §7 (examples).
#[test]
fn rfc5173_7_examples() {
    let s = r#"
require ["body", "fileinto"];

# Save any message with any text MIME part that contains the
# words "missile" or "coordinates" in the "secrets" folder.

if body :content "text" :contains ["missile", "coordinates"] {
        fileinto "secrets";
}

# Save any message with an audio/mp3 MIME part in
# the "jukebox" folder.

if body :content "audio/mp3" :contains "" {
        fileinto "jukebox";
}
"#;
    assert_eq!(
        actions(s, &multipart()),
        ["fileinto secrets", "fileinto jukebox"]
    );
    assert_eq!(actions(s, &plain()), ["implicit keep"]);
    let s = r#"require ["body", "fileinto"];
        # Save messages mentioning the project schedule in the
        # project/schedule folder.
        if body :text :contains "project schedule" {
            fileinto "project/schedule";
        }"#;
    assert_eq!(actions(s, &multipart()), ["fileinto project/schedule"]);
}

/// RFC 5173 §5.1 (:raw: no decoding) vs §5.3 (:text: decoded, HTML as text).
#[test]
fn rfc5173_5_transforms() {
    let t = |test: &str| {
        let s = format!("require \"body\";\nif {test} {{ discard; }}");
        actions(&s, &multipart()) == ["discard"]
    };
    assert!(
        t(r#"body :raw :contains "coordinates are =""#),
        ":raw sees the QP soft break"
    );
    assert!(!t(r#"body :text :contains "coordinates are =""#));
    assert!(
        t(r#"body :text :contains "coordinates are secret""#),
        ":text decodes QP"
    );
    assert!(t(r#"body :raw :contains "preamble""#));
    assert!(
        t(r#"body :contains "Meet at noon""#),
        "HTML parts are converted to text"
    );
    assert!(t(r#"body :content "text/html" :contains "<b>noon</b>""#));
    assert!(!t(r#"body :content "image" :contains """#));
    assert!(
        t(r#"body :content "" :contains "ID3""#),
        "\"\" matches every part; base64 decoded"
    );
}
