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

#[test]
fn own_verifier_agrees_with_the_argon2_crate() {
    use argon2::password_hash::PasswordVerifier;
    use argon2::{Params, Version};
    // Other algorithms, versions and costs than ours: hashes made elsewhere keep working.
    let cases = [
        (
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(64, 1, 1, None).unwrap(),
        ),
        (
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(128, 2, 2, Some(16)).unwrap(),
        ),
        (
            Algorithm::Argon2d,
            Version::V0x10,
            Params::new(32, 3, 1, Some(64)).unwrap(),
        ),
    ];
    let mut memory = Vec::new();
    for (alg, version, params) in cases {
        let h = Argon2::new(alg, version, params)
            .hash_password(b"pw 1")
            .unwrap()
            .to_string();
        let parsed = PasswordHash::new(&h).unwrap();
        assert!(Argon2::default().verify_password(b"pw 1", &parsed).is_ok());
        // One work area reused for every cost, larger and smaller.
        assert!(pool::verify_with(&h, "pw 1", &mut memory), "{h}");
        assert!(!pool::verify_with(&h, "pw 2", &mut memory), "{h}");
        assert!(verify_password(&h, "pw 1"));
    }
    assert!(memory.len() >= 128);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_async_verifications_answer_right() {
    let cheap = Argon2::new(
        Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(256, 1, 1, None).unwrap(),
    );
    let good = cheap.hash_password(b"right").unwrap().to_string();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64 {
        let h = good.clone();
        let pw = if i % 3 == 0 { "wrong" } else { "right" };
        tasks.spawn(async move { (i, verify_password_async(h, pw.to_string()).await.unwrap()) });
    }
    let mut n = 0;
    while let Some(r) = tasks.join_next().await {
        let (i, ok) = r.unwrap();
        assert_eq!(ok, i % 3 != 0, "verification {i}");
        n += 1;
    }
    assert_eq!(n, 64);
    assert!(!verify_dummy_async("x".into()).await.unwrap());
    assert!(
        !verify_password_async("not a hash".into(), "x".into())
            .await
            .unwrap()
    );
    assert!((1..=4).contains(&pool::workers()));
}
