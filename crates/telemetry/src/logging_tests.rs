use super::*;

#[test]
fn parses_formats() {
    assert_eq!("text".parse::<LogFormat>(), Ok(LogFormat::Text));
    assert_eq!("JSON".parse::<LogFormat>(), Ok(LogFormat::Json));
    let err = "yaml".parse::<LogFormat>().unwrap_err();
    assert!(err.contains("\"yaml\""), "{err}");
    assert_eq!(
        LogFormat::Json.to_string().parse::<LogFormat>(),
        Ok(LogFormat::Json)
    );
    assert_eq!(LogFormat::default(), LogFormat::Text);
}

#[test]
fn filter_defaults_and_rejects_garbage() {
    assert_eq!(build_filter(None).0.to_string(), "info");
    assert_eq!(build_filter(Some("  ")).0.to_string(), "info");
    let (filter, bad) = build_filter(Some("debug,mailstack_smtp=trace"));
    assert!(bad.is_none());
    assert!(filter.to_string().contains("mailstack_smtp=trace"));
    let (filter, bad) = build_filter(Some("foo=[[["));
    assert_eq!(filter.to_string(), "info");
    assert!(bad.unwrap().contains("foo=[[["));
}

#[test]
fn init_twice_is_a_noop() {
    init_logging(LogFormat::Json);
    init_logging(LogFormat::Text);
    tracing::info!("logging initialised twice without panic");
    assert!(INIT.is_completed());
}
