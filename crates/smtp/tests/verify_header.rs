//! The Authentication-Results header as a whole: order and content of the methods, CRLF
//! folding, hostile HELO / MAIL FROM values, IPv6 clients, and a Send future.

mod dns_server;
mod verify_fixtures;

use dns_server::DnsServer;
use mailstack_smtp::verify::{SpfOutcome, Verifier, VerifyInput};
use verify_fixtures::{
    AUTH_SERV_ID, BODY, assert_header_shape, dkim_sign, message, rsa_key, unfold, verifier, verify,
};

async fn example_org() -> DnsServer {
    let dns = DnsServer::start().await;
    dns.add_txt("example.org", "v=spf1 ip4:127.0.0.1 ip6:2001:db8::/32 -all");
    dns.add_txt("_dmarc.example.org", "v=DMARC1; p=reject");
    dns
}

#[tokio::test]
async fn all_methods_pass_in_a_well_formed_header() {
    let dns = example_org().await;
    let key = rsa_key();
    dns.add_txt("sel._domainkey.example.org", &key.record);
    let signed = dkim_sign(
        key,
        "example.org",
        "sel",
        &message("alice@example.org", BODY),
    );
    let verdict = verify(&verifier(&dns), "127.0.0.1", "alice@example.org", &signed).await;

    let header = &verdict.header;
    assert_header_shape(header);
    assert!(header.starts_with(&format!("Authentication-Results: {AUTH_SERV_ID};")));
    assert!(
        !header.replace("\r\n", "").contains('\n'),
        "bare LF: {header:?}"
    );
    assert_eq!(header.matches("\r\n").count(), header.matches('\n').count());
    let unfolded = unfold(header);
    let spf = unfolded.find("spf=pass").expect(&unfolded);
    let dkim = unfolded
        .find("dkim=pass header.d=example.org")
        .expect(&unfolded);
    let dmarc = unfolded.find("dmarc=pass").expect(&unfolded);
    let arc = unfolded.find("arc=none").expect(&unfolded);
    assert!(spf < dkim && dkim < dmarc && dmarc < arc, "{unfolded}");
    // One header field: no line of it starts a new field.
    for line in header.trim_end_matches("\r\n").split("\r\n").skip(1) {
        assert!(line.starts_with([' ', '\t']), "{header:?}");
    }
}

#[tokio::test]
async fn hostile_helo_and_mail_from_cannot_break_the_header() {
    let dns = example_org().await;
    let verifier = verifier(&dns);
    let msg = message("alice@example.org", BODY);
    let input = VerifyInput {
        client_ip: "127.0.0.1".parse().unwrap(),
        helo: "evil\r\nX-Injected: yes",
        mail_from: "a\r\nX-Injected: yes\"; dkim=pass@example.org",
        message: &msg,
    };
    let verdict = verifier.verify(&input).await;
    assert_header_shape(&verdict.header);
    assert!(
        !verdict.header.contains("\r\nX-Injected"),
        "{:?}",
        verdict.header
    );
    let header = unfold(&verdict.header);
    // The MAIL FROM stays one quoted string (its quote escaped), so the only method results
    // are ours.
    assert!(
        header.contains(r#"smtp.mailfrom="aX-Injected: yes\"; dkim=pass@example.org""#),
        "{header}"
    );
    let bare = outside_quotes_and_comments(&header);
    let methods: Vec<&str> = bare
        .split(';')
        .skip(1)
        .map(|resinfo| resinfo.trim().split([' ', '=']).next().unwrap_or(""))
        .collect();
    assert_eq!(methods, ["spf", "dkim", "dmarc", "arc"], "{header}");
}

/// `text` without quoted strings and (non-nested) comments.
fn outside_quotes_and_comments(text: &str) -> String {
    let (mut out, mut quoted, mut comment, mut escaped) = (String::new(), false, false, false);
    for ch in text.chars() {
        match ch {
            _ if escaped => escaped = false,
            '\\' if quoted || comment => escaped = true,
            '"' if !comment => quoted = !quoted,
            '(' if !quoted => comment = true,
            ')' if !quoted => comment = false,
            _ if quoted || comment => {}
            _ => out.push(ch),
        }
    }
    out
}

#[tokio::test]
async fn ipv6_client_is_quoted_and_checked() {
    let dns = example_org().await;
    let verdict = verify(
        &verifier(&dns),
        "2001:db8::25",
        "alice@example.org",
        &message("alice@example.org", BODY),
    )
    .await;
    assert_eq!(verdict.spf, SpfOutcome::Pass);
    assert_header_shape(&verdict.header);
    assert!(
        unfold(&verdict.header).contains("smtp.remote-ip=\"2001:db8::25\""),
        "{}",
        verdict.header
    );
}

#[tokio::test]
async fn verifier_is_shared_across_tasks() {
    let dns = example_org().await;
    let verifier = verifier(&dns);
    let msg = message("alice@example.org", BODY);
    let mut tasks = Vec::new();
    for i in 0..8u8 {
        let verifier: Verifier = verifier.clone();
        let msg = msg.clone();
        tasks.push(tokio::spawn(async move {
            let ip = format!("127.0.0.{}", 1 + i % 2);
            verify(&verifier, &ip, "alice@example.org", &msg).await.spf
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    let passes = results.iter().filter(|&&r| r == SpfOutcome::Pass).count();
    let fails = results.iter().filter(|&&r| r == SpfOutcome::Fail).count();
    assert_eq!((passes, fails), (4, 4), "{results:?}");
}
