//! Names from the resolver, made safe to print. Whoever writes a hosts
//! file or runs a DNS zone chooses the bytes of a name, and a terminal
//! obeys some of them: ESC starts a control sequence (colours, cursor
//! moves, even a new window title), U+202E reverses the text after it.
//! So a name is shown with such characters escaped, and bytes that are not
//! UTF-8 as `\xNN`; the escapes are the ones Rust and Python use. The
//! escaping for the terminal is `common::escape` (udp-datagrams prints
//! datagrams through it too); JSON, which is this lesson's own, is here.

use std::fmt::Write;

use common::escape::is_unsafe;

/// `name` for a terminal: control and invisible characters escaped (`\n`,
/// `\x1b`, `\u{202e}`), a backslash doubled, bytes that are not UTF-8 as
/// `\xNN` (shared with the other lessons: `common/src/escape.rs`).
pub use common::escape::text;

/// `name` as a JSON string value: the name itself when it is UTF-8 (JSON
/// escapes keep it exact), else with each byte that is not UTF-8 written
/// as the text `\xNN` (Python's "backslashreplace"): JSON holds only text.
pub fn json_value(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len());
    for chunk in name.utf8_chunks() {
        out.push_str(chunk.valid());
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out
}

/// A JSON document with every character that is unsafe for a terminal
/// written as a `\uXXXX` escape. serde_json escapes only what JSON
/// requires (below U+0020, `"` and `\`); DEL, C1 controls and U+202E are
/// legal JSON text but still act on a terminal. Outside strings JSON has
/// only ASCII punctuation, digits and letters, so every such character is
/// inside a string, where the escape means the same character.
pub fn terminal_safe_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if is_unsafe(c) {
            for unit in c.encode_utf16(&mut [0; 2]) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_unchanged() {
        for name in [
            "localhost",
            "vm",
            "www.example.com",
            "münchen.de",
            "xn--mnchen-3ya.de",
        ] {
            assert_eq!(text(name.as_bytes()), name);
            assert_eq!(json_value(name.as_bytes()), name);
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_are_shown_not_lost() {
        assert_eq!(text(b"caf\xe9"), "caf\\xe9");
        assert_eq!(json_value(b"caf\xe9"), "caf\\xe9");
    }

    #[test]
    fn json_keeps_the_value_and_loses_the_danger() {
        let raw = serde_json::to_string("a\u{1b}b\u{7f}c\u{9b}d\u{202e}e\u{e0041}").unwrap();
        let safe = terminal_safe_json(&raw);
        assert!(safe.chars().all(|c| !is_unsafe(c)), "{safe}");
        let back: String = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, "a\u{1b}b\u{7f}c\u{9b}d\u{202e}e\u{e0041}");
    }
}
