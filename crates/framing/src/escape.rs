//! How the server prints a message it decoded: as text, with control
//! characters and invalid UTF-8 escaped, so a message can never corrupt
//! the terminal or fake an extra `message:` line.

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
                c if c.is_control() => text.push_str(&format!("\\u{{{:04x}}}", c as u32)),
                c => text.push(c),
            }
        }
        for byte in chunk.invalid() {
            text.push_str(&format!("\\x{byte:02x}"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn control_characters_and_bad_utf8_are_escaped() {
        assert_eq!(escape(b"plain text"), "plain text");
        assert_eq!(escape(b"tab\there\nnewline"), "tab\\there\\nnewline");
        assert_eq!(escape(b"nul\x00 bell\x07"), "nul\\x00 bell\\x07");
        assert_eq!(escape("ünïcode ok".as_bytes()), "ünïcode ok");
        assert_eq!(escape(b"bad \xff byte"), "bad \\xff byte");
        assert_eq!(escape(b"back\\slash"), "back\\\\slash");
    }
}
