use super::*;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn counter_is_shared_by_name_and_encoded() {
    let m = Metrics::new();
    let a = m.counter("mailstack_delivered_total", "Messages delivered");
    let b = m
        .clone()
        .counter("mailstack_delivered", "Messages delivered");
    a.inc();
    b.inc_by(2);
    assert_eq!(a.get(), 3);
    let text = m.encode();
    assert!(
        text.contains("# HELP mailstack_delivered Messages delivered."),
        "{text}"
    );
    assert!(text.contains("mailstack_delivered_total 3"), "{text}");
    assert!(!text.contains("_total_total"), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[test]
fn gauges_histograms_and_families() {
    let m = Metrics::new();
    m.gauge("mailstack_queue_size", "Queued messages").set(7);
    m.gauge_fn("mailstack_connections_active", "Open connections", || 42);
    let h = m.histogram("mailstack_delivery_seconds", "Delivery time", [0.1, 1.0]);
    h.observe(0.5);
    let replies = m.counter_family("mailstack_replies", "Replies sent");
    replies.get_or_create(&labels(&[("code", "250")])).inc();
    m.gauge_family("mailstack_sessions", "Sessions by protocol")
        .get_or_create(&labels(&[("proto", "imap")]))
        .set(3);
    m.histogram_family("mailstack_size_bytes", "Message sizes", [1024.0, 65536.0])
        .get_or_create(&labels(&[("dir", "in")]))
        .observe(2048.0);

    let text = m.encode();
    for needle in [
        "mailstack_queue_size 7",
        "mailstack_connections_active 42",
        "mailstack_delivery_seconds_bucket{le=\"1.0\"} 1",
        "mailstack_delivery_seconds_bucket{le=\"0.1\"} 0",
        "mailstack_replies_total{code=\"250\"} 1",
        "mailstack_sessions{proto=\"imap\"} 3",
        "mailstack_size_bytes_bucket{le=\"65536.0\",dir=\"in\"} 1",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
#[should_panic(expected = "already registered as a counter")]
fn same_name_different_kind_panics() {
    let m = Metrics::new();
    m.counter("mailstack_x", "x");
    m.gauge("mailstack_x", "x");
}
