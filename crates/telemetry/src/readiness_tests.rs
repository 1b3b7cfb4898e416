use super::*;

#[test]
fn ready_when_all_checks_pass() {
    let r = Readiness::new();
    assert!(r.is_ready(), "no checks means ready");
    r.set("store", false);
    r.set("directory", false);
    assert_eq!(
        r.failing(),
        vec!["directory".to_owned(), "store".to_owned()]
    );
    let shared = r.clone();
    shared.set("directory", true);
    assert_eq!(r.failing(), vec!["store".to_owned()]);
    shared.set("store", true);
    assert!(r.is_ready());
}

#[test]
fn shutting_down_is_never_ready() {
    let r = Readiness::new();
    r.set("store", true);
    r.set_shutting_down();
    assert!(!r.is_ready());
    assert_eq!(r.failing(), vec!["shutting down".to_owned()]);
}
