//! Fuzz the framer with arbitrary chunking: the first byte picks the chunk size; every frame
//! is parsed, and buffering stays within the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailstack_imap::proto::{CommandFramer, Limits, parse_command};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, data)) = data.split_first() else { return };
    let limits = Limits { max_line: 256, max_literal: 512, max_append_literal: 2048, ..Limits::default() };
    let mut framer = CommandFramer::new(limits);
    for piece in data.chunks(usize::from(chunk).max(1)) {
        framer.push(piece);
        while let Some(item) = framer.next() {
            if let Ok(frame) = item {
                let _ = parse_command(&frame);
            }
        }
        assert!(framer.buffered() <= 2 * 1024 * 1024 + piece.len());
    }
});
