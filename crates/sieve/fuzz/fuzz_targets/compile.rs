//! Fuzz the Sieve compiler (lexer, parser, validation): any text must compile or fail with a
//! position inside the script, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailstack_sieve::{Limits, compile};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = compile(src, &Limits::default()) {
        assert!(e.line >= 1 && e.line as usize <= src.lines().count().max(1) + 1);
    }
});
