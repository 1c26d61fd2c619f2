//! From a request's path to names under the served directory, refusing
//! every way out of it.
//!
//! The path arrives percent-encoded (`/a%20b.txt`). The naive server
//! decodes it and appends it to its root: then `/../../etc/passwd` walks
//! out, and so do `%2e%2e` (an encoded `..`) and `%2f` (an encoded `/` that
//! turns one name into two after decoding). So the path is split on `/`
//! *first*, each piece decoded on its own, and any piece that is `..`,
//! holds a `/` or a NUL once decoded is refused. Symlinks that point out
//! of the root are the server's to catch (it canonicalizes, then checks
//! the prefix): no string check can see them.

/// Why a path is refused: the status and a reason for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// `..`, an encoded `/`, a NUL: an attempt to leave the root (403).
    Forbidden(&'static str),
    /// A `%` not followed by two hex digits (400).
    BadEncoding,
}

/// The decoded names of a request path, and whether it ended in `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub names: Vec<Vec<u8>>,
    pub trailing_slash: bool,
}

/// Splits, decodes and checks `path` (without its `?query`).
pub fn names(path: &str) -> Result<Names, Refused> {
    let mut names = Vec::new();
    for raw in path.split('/') {
        let name = percent_decode(raw.as_bytes()).ok_or(Refused::BadEncoding)?;
        if name.contains(&b'/') {
            return Err(Refused::Forbidden("an encoded / (%2f) in the path"));
        }
        if name.contains(&b'\0') {
            return Err(Refused::Forbidden("a NUL byte (%00) in the path"));
        }
        match name.as_slice() {
            // `a//b` and `a/./b` name `a/b`: skip the empty and `.` names.
            b"" | b"." => {}
            b".." => return Err(Refused::Forbidden("`..` in the path")),
            _ => names.push(name),
        }
    }
    Ok(Names {
        names,
        trailing_slash: path.ends_with('/'),
    })
}

/// `%XX` to the byte XX; `None` for a `%` without two hex digits after it.
pub fn percent_decode(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            let text = std::str::from_utf8(hex).ok()?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(text, 16).ok()?);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_paths_decode_into_names() {
        let n = names("/docs/a%20b.txt").unwrap();
        assert_eq!(n.names, vec![b"docs".to_vec(), b"a b.txt".to_vec()]);
        assert!(!n.trailing_slash);
        let n = names("//docs/./x/").unwrap();
        assert_eq!(n.names, vec![b"docs".to_vec(), b"x".to_vec()]);
        assert!(n.trailing_slash);
        assert_eq!(names("/").unwrap().names, Vec::<Vec<u8>>::new());
    }

    #[test]
    fn every_way_out_is_refused() {
        for path in [
            "/../etc/passwd",
            "/a/../../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/%2E%2E/etc/passwd",
            "/.%2e/etc/passwd",
            "/a%2f..%2f..%2fetc%2fpasswd",
            "/%2F%2Fetc/passwd",
            "/index.html%00.png",
        ] {
            assert!(matches!(names(path), Err(Refused::Forbidden(_))), "{path}");
        }
        // Decoded once, never twice: %252e is the three characters `%2e`.
        assert_eq!(
            names("/%252e%252e").unwrap().names,
            vec![b"%2e%2e".to_vec()]
        );
        assert_eq!(names("/a%zz"), Err(Refused::BadEncoding));
        assert_eq!(names("/a%4"), Err(Refused::BadEncoding));
    }

    proptest::proptest! {
        #[test]
        fn no_accepted_name_can_step_out(path in "(/(\\.|%2[eE]|%2[fF]|%00|[a-z]|%41|%){0,6}){0,6}") {
            if let Ok(n) = names(&path) {
                for name in n.names {
                    proptest::prop_assert!(name != b".." && name != b"." && !name.is_empty());
                    proptest::prop_assert!(!name.contains(&b'/') && !name.contains(&0));
                }
            }
        }
    }
}
