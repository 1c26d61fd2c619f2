//! The request rules against hand-picked heads, and arbitrary bytes.

use proptest::prelude::*;

use super::*;

fn head(text: &str) -> Head {
    match parse(text.as_bytes()) {
        Ok(httparse::Status::Complete((head, len))) => {
            assert_eq!(len, text.len(), "the head is all of {text:?}");
            head
        }
        other => panic!("{text:?} does not parse: {other:?}"),
    }
}

fn checked(text: &str) -> Result<Request, Reject> {
    check(head(text), 1000)
}

fn status(text: &str) -> u16 {
    checked(text).err().map_or(200, |r| r.status)
}

#[test]
fn a_plain_get_keeps_the_connection_in_1_1_and_closes_it_in_1_0() {
    let r = checked("GET /a%20b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    assert_eq!(
        (r.path.as_str(), r.query.as_deref()),
        ("/a%20b", Some("x=1"))
    );
    assert!(r.keep_alive);
    assert_eq!(r.framing, Framing::Empty);
    assert!(
        !checked("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            .unwrap()
            .keep_alive
    );
    assert!(!checked("GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive);
    assert!(
        checked("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            .unwrap()
            .keep_alive
    );
    let absolute = checked("GET http://h:1/p?q HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    assert_eq!(absolute.path, "/p");
}

#[test]
fn host_is_required_in_1_1_and_allowed_once() {
    assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    assert_eq!(status("GET / HTTP/1.0\r\n\r\n"), 200);
}

#[test]
fn smuggling_shapes_are_refused() {
    let both =
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(status(both), 400);
    assert_eq!(
        status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
        400
    );
    assert_eq!(
        status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n"),
        400
    );
    assert_eq!(
        status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n"),
        400
    );
    assert_eq!(
        status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\n"),
        400
    );
    assert_eq!(
        status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        400
    );
    assert_eq!(
        status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"),
        501
    );
    assert_eq!(
        status("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
        501
    );
    // The same length twice is one length.
    let same =
        checked("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(same.unwrap().framing, Framing::Length(5));
    let chunked = checked("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n");
    assert_eq!(chunked.unwrap().framing, Framing::Chunked);
}

#[test]
fn a_stated_length_over_the_limit_is_413_before_any_byte_of_it() {
    assert_eq!(
        status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n"),
        413
    );
    assert_eq!(
        status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
        413
    );
    assert_eq!(
        status("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n"),
        200
    );
}

#[test]
fn expect_and_targets() {
    let r =
        checked("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
            .unwrap();
    assert!(r.expect_continue);
    assert_eq!(
        status("POST / HTTP/1.1\r\nHost: h\r\nExpect: magic\r\nContent-Length: 5\r\n\r\n"),
        417
    );
    assert_eq!(status("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_eq!(status("GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

#[test]
fn httparse_refuses_broken_syntax_and_too_many_fields() {
    for bad in [
        "GET / HTTP/2.0\r\n\r\n",
        "GET /\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
        "G\x01T / HTTP/1.1\r\n\r\n",
    ] {
        assert!(parse(bad.as_bytes()).is_err(), "{bad:?}");
    }
    let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
    let text = format!("GET / HTTP/1.1\r\n{many}\r\n");
    assert_eq!(
        parse(text.as_bytes()).unwrap_err(),
        httparse::Error::TooManyHeaders
    );
    assert!(
        parse(b"GET / HTTP/1.1\r\nHost: h\r\n")
            .unwrap()
            .is_partial()
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_head_rules(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(httparse::Status::Complete((head, len))) = parse(&data) {
            prop_assert!(len <= data.len());
            if let Ok(Request { framing: Framing::Length(n), .. }) = check(head, 100) {
                prop_assert!(n <= 100);
            }
        }
    }

    #[test]
    fn plausible_heads_never_panic_and_lengths_hold(
        method in "(GET|HEAD|POST|PUT)",
        target in "(/[a-z%.]{0,6}){1,3}",
        minor in 0u8..2,
        fields in proptest::collection::vec(
            ("(Host|Content-Length|Transfer-Encoding|Connection|Expect|X-A)",
             "(chunked|close|keep-alive|100-continue|[0-9]{1,22}|h|, )"), 0..6),
    ) {
        let mut text = format!("{method} {target} HTTP/1.{minor}\r\n");
        for (name, value) in &fields {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        let head = head(&text);
        let lengths = head.values("content-length").count();
        let te = head.values("transfer-encoding").count();
        match check(head, 1000) {
            Ok(request) => {
                prop_assert!(!(lengths > 0 && te > 0), "both framings accepted: {}", text);
                if let Framing::Length(n) = request.framing {
                    prop_assert!(n <= 1000);
                }
            }
            Err(reject) => prop_assert!([400, 413, 417, 501].contains(&reject.status)),
        }
    }
}
