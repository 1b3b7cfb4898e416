use super::*;

#[test]
fn parses_and_round_trips() {
    for text in [
        "0.0.0.0:24",
        "[::]:24",
        "127.0.0.1:2424",
        "unix:/run/mailstack/lmtp.sock",
        "[::1]:0",
    ] {
        let addr: ListenAddr = text.parse().unwrap();
        assert_eq!(addr.to_string(), text);
        assert_eq!(addr.to_string().parse::<ListenAddr>().unwrap(), addr);
    }
    assert_eq!(
        "unix:/run/x.sock".parse::<ListenAddr>().unwrap(),
        ListenAddr::Unix("/run/x.sock".into())
    );
    assert!(matches!("[::]:24".parse::<ListenAddr>().unwrap(), ListenAddr::Tcp(a) if a.is_ipv6()));
}

#[test]
fn rejects_bad_input_with_reason() {
    for (text, reason) in [
        ("localhost:25", "expected IP:PORT"),
        ("0.0.0.0", "expected IP:PORT"),
        ("::1:25", "expected IP:PORT"),
        ("unix:", "empty"),
        ("unix:run/x.sock", "absolute"),
    ] {
        let err = text.parse::<ListenAddr>().unwrap_err().to_string();
        assert!(err.contains(reason), "{text}: {err}");
        assert!(err.contains(&format!("{text:?}")), "{text}: {err}");
    }
}
