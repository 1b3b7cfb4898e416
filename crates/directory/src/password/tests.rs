use super::*;

#[test]
fn hash_is_argon2id_with_default_params_and_verifies() {
    let h = hash_password("s3cret pw").unwrap();
    assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
    assert!(verify_password(&h, "s3cret pw"));
    assert!(!verify_password(&h, "s3cret pW"));
    assert!(!verify_password(&h, ""));
    assert_eq!(check_phc(&h), Ok(()));
}

#[test]
fn salts_are_random() {
    let a = hash_password("same").unwrap();
    let b = hash_password("same").unwrap();
    assert_ne!(a, b);
}

#[test]
fn malformed_hashes_never_verify() {
    for bad in [
        "",
        "plain",
        "$argon2id$",
        "$2b$12$abcdefghijklmnopqrstuv",
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ",
    ] {
        assert!(!verify_password(bad, "x"), "{bad:?}");
        assert!(check_phc(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn dummy_hash_is_well_formed_with_the_default_cost() {
    assert_eq!(check_phc(DUMMY_HASH), Ok(()));
    let real = hash_password("x").unwrap();
    let params = |h: &str| h.split('$').nth(3).map(str::to_string);
    assert_eq!(params(DUMMY_HASH), params(&real));
    assert!(!verify_dummy("x"));
    assert!(!verify_dummy(""));
}

#[test]
fn cheap_params_from_the_hash_are_honoured() {
    // A hash made with other parameters verifies: the string's parameters win.
    let cheap = Argon2::new(
        Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(8, 1, 1, None).unwrap(),
    );
    let h = cheap.hash_password(b"pw").unwrap().to_string();
    assert!(h.contains("m=8,t=1,p=1"), "{h}");
    assert!(verify_password(&h, "pw"));
    assert!(!verify_password(&h, "pw2"));
}
