//! Shared fixtures of the search_*.rs tests: a real store in a temporary directory.

#![allow(dead_code)]

use std::cell::Cell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mailstack_imap::search::key::Date;
use mailstack_store::{Mailbox, MessageMeta, Store, StoreOptions, UserStore};

/// A store with one user, kept alive with its temporary directory.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub user: UserStore,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(StoreOptions {
            root: dir.path().join("mail"),
            fsync: false,
        })
        .unwrap();
        let user = store.user("example.com", "alice").unwrap();
        Fixture { dir, store, user }
    }

    pub async fn inbox(&self) -> Mailbox {
        self.user.ensure_exists().await.unwrap();
        self.user.open("INBOX").await.unwrap()
    }
}

/// `\n` line endings to CRLF.
pub fn crlf(s: &str) -> Vec<u8> {
    s.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes()
}

/// A UTC time as `SystemTime`.
pub fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix(y, mo, d, h, mi, s) as u64)
}

/// A UTC time as seconds since the epoch.
pub fn unix(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    // days from civil (H. Hinnant)
    let y = if mo <= 2 { y - 1 } else { y } as i64;
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + h as i64 * 3600 + mi as i64 * 60 + s as i64
}

pub fn date(year: u16, month: u8, day: u8) -> Date {
    Date { year, month, day }
}

/// Now, seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A loader opening the message file that counts its calls.
pub fn counting_loader(
    calls: &Cell<usize>,
) -> impl FnMut(&MessageMeta) -> std::io::Result<std::fs::File> + '_ {
    move |m: &MessageMeta| {
        calls.set(calls.get() + 1);
        std::fs::File::open(&m.path)
    }
}
