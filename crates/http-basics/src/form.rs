//! `application/x-www-form-urlencoded`, what an HTML form sends by default
//! and `post --form` sends: `name=Ada+Lovelace&lang=Rust`. Letters, digits
//! and `*-._` go as they are, a space as `+`, every other byte as `%XX`.

use crate::path::percent_decode;

/// Encodes `(name, value)` pairs as a form body.
pub fn encode(fields: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        escape(name, &mut out);
        out.push('=');
        escape(value, &mut out);
    }
    out
}

fn escape(text: &str, out: &mut String) {
    for b in text.bytes() {
        match b {
            b' ' => out.push('+'),
            b if b.is_ascii_alphanumeric() || b"*-._".contains(&b) => out.push(char::from(b)),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
}

/// Decodes a form body into `(name, value)` pairs of bytes. As browsers
/// do, a malformed `%` escape is kept as it is rather than refused.
pub fn decode(body: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            (unescape(name), unescape(value))
        })
        .collect()
}

fn unescape(raw: &[u8]) -> Vec<u8> {
    let plus: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&plus).unwrap_or_else(|| {
        // Decode the valid escapes one at a time, keep the rest literally.
        let mut out = Vec::with_capacity(plus.len());
        let mut i = 0;
        while i < plus.len() {
            match plus.get(i..i + 3).and_then(percent_decode) {
                Some(byte) if plus[i] == b'%' => {
                    out.extend(byte);
                    i += 3;
                }
                _ => {
                    out.push(plus[i]);
                    i += 1;
                }
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_encode_and_decode() {
        let fields = vec![
            ("name".to_string(), "Ada Lovelace".to_string()),
            ("note".to_string(), "1+1=2 & ü".to_string()),
        ];
        let body = encode(&fields);
        assert_eq!(body, "name=Ada+Lovelace&note=1%2B1%3D2+%26+%C3%BC");
        let decoded = decode(body.as_bytes());
        assert_eq!(decoded[0], (b"name".to_vec(), b"Ada Lovelace".to_vec()));
        assert_eq!(decoded[1].1, "1+1=2 & ü".as_bytes());
        assert_eq!(
            decode(b"a=%zz%41&b"),
            vec![(b"a".to_vec(), b"%zzA".to_vec()), (b"b".to_vec(), vec![])]
        );
    }

    proptest::proptest! {
        #[test]
        fn any_fields_round_trip(fields in proptest::collection::vec(("\\PC{0,8}", "\\PC{0,8}"), 0..5)) {
            let fields: Vec<(String, String)> = fields.into_iter().filter(|(n, _)| !n.is_empty()).collect();
            let decoded = decode(encode(&fields).as_bytes());
            let expected: Vec<(Vec<u8>, Vec<u8>)> = fields.iter().map(|(n, v)| (n.clone().into_bytes(), v.clone().into_bytes())).collect();
            proptest::prop_assert_eq!(decoded, expected);
        }
    }
}
