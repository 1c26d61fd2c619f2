//! Coverage-guided fuzzing of what the server reads from a peer: arbitrary
//! bytes, delivered in read sizes the fuzzer also chooses (the first byte),
//! go through the request head reader and rules, then the body decoder the
//! head asked for; and, on their own, through the chunked decoder. Nothing
//! may panic, no head may pass its cap, no body its limit, and a chunked
//! body that decodes must decode the same once re-encoded.

#![no_main]

use std::io::{self, Read};

use http_basics::body::{Framing, encode_chunked, read_body};
use http_basics::head::read_head;
use http_basics::request;
use http_basics::wire::Wire;
use libfuzzer_sys::fuzz_target;

const MAX_HEAD: usize = 512;
const MAX_BODY: usize = 256;

/// Hands out the data `chunk` bytes at a time, like a TCP stream.
struct Chunky<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl Read for Chunky<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&first, data)) = input.split_first() else {
        return;
    };
    let chunk = usize::from(first % 32) + 1;

    // As the server reads: requests one after another until one fails.
    let mut wire = Wire::new(Chunky { data, chunk });
    while let Ok(Some((head, len))) = read_head(&mut wire, MAX_HEAD, request::parse) {
        assert!(len <= MAX_HEAD);
        wire.consume(len);
        let Ok(req) = request::check(head, MAX_BODY) else {
            break;
        };
        if let Framing::Length(n) = req.framing {
            assert!(n <= MAX_BODY as u64);
        }
        let mut body = Vec::new();
        let ok = read_body(&mut wire, req.framing, MAX_BODY, &mut body).is_ok();
        assert!(body.len() <= MAX_BODY);
        if !ok {
            break;
        }
    }

    // The chunked decoder alone, and its round trip.
    let mut wire = Wire::new(Chunky { data, chunk });
    let mut body = Vec::new();
    let decoded = read_body(&mut wire, Framing::Chunked, MAX_BODY, &mut body);
    assert!(body.len() <= MAX_BODY);
    if decoded.is_ok() {
        let again = encode_chunked(&body, &[chunk]);
        let mut wire = Wire::new(Chunky {
            data: &again,
            chunk: 3,
        });
        let mut twice = Vec::new();
        assert!(read_body(&mut wire, Framing::Chunked, MAX_BODY, &mut twice).is_ok());
        assert_eq!(twice, body);
    }
});
