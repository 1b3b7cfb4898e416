//! Fuzz the command parser: any bytes as a framed command must parse or fail, never panic,
//! and a parsed command's tag must be a prefix of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailstack_imap::proto::{Frame, ParseLimits, parse_command, parse_command_bytes};

fuzz_target!(|data: &[u8]| {
    if let Ok(cmd) = parse_command_bytes(data, &ParseLimits::default()) {
        assert!(data.starts_with(cmd.tag.as_bytes()));
    }
    let _ = parse_command(&Frame::Command(data.to_vec()));
});
