//! How the server prints a message it decoded: as text, with control
//! characters and invalid UTF-8 escaped, so a message can never corrupt
//! the terminal or fake an extra `message:` line. Invisible characters
//! that change how a line *looks* are escaped too: U+202E (right-to-left
//! override) can make `message: txt.exe` display as `message: exe.txt`,
//! and U+2028 (line separator) starts a new line in many viewers.

/// `b"a\tb\n"` -> `a\tb\n` (escaped, on one line); `\` becomes `\\`.
pub fn escape(message: &[u8]) -> String {
    let mut text = String::with_capacity(message.len());
    for chunk in message.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => text.push_str("\\n"),
                '\r' => text.push_str("\\r"),
                '\t' => text.push_str("\\t"),
                '\\' => text.push_str("\\\\"),
                c if c.is_ascii_control() => text.push_str(&format!("\\x{:02x}", c as u32)),
                c if c.is_control() || is_invisible(c) => {
                    text.push_str(&format!("\\u{{{:04x}}}", c as u32))
                }
                c => text.push(c),
            }
        }
        for byte in chunk.invalid() {
            text.push_str(&format!("\\x{byte:02x}"));
        }
    }
    text
}

/// At most `max` bytes of `message`, escaped, for an error line: a refused
/// 50 MB message must not become 50 MB of stderr.
pub fn quote(message: &[u8], max: usize) -> String {
    if message.len() <= max {
        return format!("\"{}\"", escape(message));
    }
    let shown = escape(&message[..max]);
    format!("\"{shown}...\" ({} bytes)", message.len())
}

/// `1 message`, `2 messages`: a count with its noun, singular for one.
pub fn count(n: u64, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// Unicode's format characters (category Cf: bidirectional overrides and
/// isolates, zero-width characters, the byte order mark, tags) and the line
/// and paragraph separators (Zl, Zp): printed as they are, they would
/// reorder, hide or break the line around them.
fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891
        | 0x08E2 | 0x180E | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x2064
        | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD
        | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001
        | 0xE0020..=0xE007F)
}

#[cfg(test)]
mod tests {
    use super::{escape, quote};

    #[test]
    fn control_characters_and_bad_utf8_are_escaped() {
        assert_eq!(escape(b"plain text"), "plain text");
        assert_eq!(escape(b"tab\there\nnewline"), "tab\\there\\nnewline");
        assert_eq!(escape(b"nul\x00 bell\x07"), "nul\\x00 bell\\x07");
        assert_eq!(escape("ünïcode ok".as_bytes()), "ünïcode ok");
        assert_eq!(escape(b"bad \xff byte"), "bad \\xff byte");
        assert_eq!(escape(b"back\\slash"), "back\\\\slash");
        assert_eq!(escape("next\u{85}line".as_bytes()), "next\\u{0085}line");
    }

    #[test]
    fn characters_that_reorder_or_break_a_line_are_escaped() {
        assert_eq!(escape("txt\u{202e}exe".as_bytes()), "txt\\u{202e}exe");
        assert_eq!(
            escape("a\u{2028}b\u{2029}c".as_bytes()),
            "a\\u{2028}b\\u{2029}c"
        );
        assert_eq!(escape("\u{feff}bom".as_bytes()), "\\u{feff}bom");
        assert_eq!(escape("zero\u{200b}width".as_bytes()), "zero\\u{200b}width");
        assert_eq!(escape("iso\u{2066}late".as_bytes()), "iso\\u{2066}late");
        assert_eq!(escape("tag\u{e0041}".as_bytes()), "tag\\u{e0041}");
        // Visible non-ASCII stays as it is.
        assert_eq!(escape("naïve – ok →".as_bytes()), "naïve – ok →");
    }

    #[test]
    fn an_error_quotes_only_a_prefix_of_a_long_message() {
        assert_eq!(quote(b"short\n", 32), "\"short\\n\"");
        let long = vec![b'x'; 50_000_000];
        let quoted = quote(&long, 32);
        assert_eq!(
            quoted,
            format!("\"{}...\" (50000000 bytes)", "x".repeat(32))
        );
    }
}
