//! Bytes from a stranger, made safe to print. Whoever sends a datagram or
//! writes a hosts file chooses its bytes, and a terminal obeys some of
//! them: ESC starts a control sequence (colours, cursor moves, even a new
//! window title), a newline makes one message look like two, U+202E
//! reverses the text after it. So such characters are shown escaped, and
//! bytes that are not UTF-8 as `\xNN`, in the notation Rust and Python use.

use std::fmt::Write;

/// Characters that print nothing yet change how text reads: bidi
/// controls, zero-width characters, line and paragraph separators.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}'
            | '\u{061c}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{e0000}'..='\u{e007f}'
    )
}

/// Must this character be escaped before it reaches a terminal?
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || invisible(c)
}

/// `bytes` for a terminal: control and invisible characters escaped (`\n`,
/// `\x1b`, `\u{202e}`), a backslash doubled, bytes that are not UTF-8 as
/// `\xNN`. Plain text comes out unchanged.
pub fn text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_ascii_control() => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c if is_unsafe(c) => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_unchanged() {
        for plain in [
            "localhost",
            "Your data was 23 bytes long",
            "münchen.de",
            "xn--mnchen-3ya.de",
        ] {
            assert_eq!(text(plain.as_bytes()), plain);
        }
    }

    #[test]
    fn what_a_terminal_would_obey_is_escaped() {
        assert_eq!(text(b"evil\x1b[31mred"), "evil\\x1b[31mred");
        assert_eq!(text(b"a\nb\tc\rd\x00e\x7f"), "a\\nb\\tc\\rd\\x00e\\x7f");
        assert_eq!(text("abc\u{202e}fed".as_bytes()), "abc\\u{202e}fed");
        assert_eq!(text("c1\u{9b}31m".as_bytes()), "c1\\u{9b}31m");
        assert_eq!(text("line\u{2028}sep".as_bytes()), "line\\u{2028}sep");
        assert_eq!(text(b"back\\slash"), "back\\\\slash");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_shown_not_lost() {
        assert_eq!(text(b"caf\xe9"), "caf\\xe9");
        assert_eq!(text(b"\xff\xfe"), "\\xff\\xfe");
    }
}
