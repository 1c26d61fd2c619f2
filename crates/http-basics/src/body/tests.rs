//! The body decoders against hand-picked and random input: random bodies
//! in random chunkings, delivered in random read sizes, must decode to
//! themselves; arbitrary bytes must never panic a decoder nor yield more
//! than its limit.

use proptest::prelude::*;

use super::*;

fn decode(
    data: &[u8],
    framing: Framing,
    max: usize,
    reads: &[usize],
) -> (Result<usize, BodyError>, Vec<u8>, Vec<u8>) {
    // `data` in reads of the given sizes (cycled), as TCP hands it out.
    let mut wire = Wire::new(test_support::Chunky::new(data.to_vec(), reads.to_vec()));
    let mut out = Vec::new();
    let result = read_body(&mut wire, framing, max, &mut out);
    let mut rest = wire.buffer().to_vec();
    let _ = wire.get_mut().read_to_end(&mut rest);
    (result, out, rest)
}

#[test]
fn a_chunked_body_with_extensions_and_trailers_decodes_and_leaves_the_next_message() {
    let data =
        b"5;name=value\r\nhello\r\n6 ; x\r\n world\r\n0\r\nExpires: never\r\nX-A: b\r\n\r\nNEXT";
    let (result, body, rest) = decode(data, Framing::Chunked, 100, &[3]);
    assert_eq!(result.unwrap(), 2);
    assert_eq!(body, b"hello world");
    assert_eq!(rest, b"NEXT");
}

#[test]
fn chunk_sizes_that_overflow_or_exceed_the_limit_are_refused_before_reading() {
    for size in ["ffffffffffffffffff", "10000000000000000", "65"] {
        let data = format!("{size}\r\nabc");
        let (result, body, _) = decode(data.as_bytes(), Framing::Chunked, 100, &[64]);
        assert!(
            matches!(result, Err(BodyError::TooLarge { .. })),
            "{size}: {result:?}"
        );
        assert!(body.is_empty());
    }
    // Leading zeros are fine: 0000000000000000000000005 is 5.
    let (result, body, _) = decode(
        b"0000000000000000000000005\r\nhello\r\n0\r\n\r\n",
        Framing::Chunked,
        5,
        &[7],
    );
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(body, b"hello");
}

#[test]
fn the_limit_counts_the_whole_body_not_one_chunk() {
    let data = encode_chunked(&[b'x'; 30], &[10]);
    let (result, _, _) = decode(&data, Framing::Chunked, 25, &[64]);
    assert!(matches!(result, Err(BodyError::TooLarge { limit: 25 })));
    let (result, body, _) = decode(&data, Framing::Chunked, 30, &[64]);
    assert!(result.is_ok());
    assert_eq!(body.len(), 30);
}

#[test]
fn malformed_chunked_framing_is_refused() {
    for data in [
        &b"x\r\n"[..],                // no hex digit
        b"-1\r\n",                    // a sign
        b"5\nhello\r\n0\r\n\r\n",     // a bare LF
        b"5\r\nhelloXX0\r\n\r\n",     // no CRLF after the data
        b"5 5\r\nhello\r\n0\r\n\r\n", // junk after the size
        b"0\r\nno colon\r\n\r\n",     // a trailer that is not a field
    ] {
        let (result, _, _) = decode(data, Framing::Chunked, 100, &[64]);
        assert!(
            matches!(result, Err(BodyError::Malformed(_))),
            "{:?}: {result:?}",
            data.escape_ascii().to_string()
        );
    }
    let long = format!("5;{}\r\n", "e".repeat(MAX_LINE));
    let (result, _, _) = decode(long.as_bytes(), Framing::Chunked, 100, &[64]);
    assert!(matches!(result, Err(BodyError::Malformed(_))));
}

#[test]
fn a_body_cut_short_is_truncated_not_a_message() {
    let (result, _, _) = decode(b"5\r\nhel", Framing::Chunked, 100, &[2]);
    assert!(matches!(result, Err(BodyError::Truncated)));
    let (result, _, _) = decode(b"hel", Framing::Length(5), 100, &[2]);
    assert!(matches!(result, Err(BodyError::Truncated)));
}

#[test]
fn content_length_is_checked_against_the_limit_and_close_framing_is_capped() {
    let (result, body, _) = decode(b"hello", Framing::Length(u64::MAX), 100, &[64]);
    assert!(matches!(result, Err(BodyError::TooLarge { .. })));
    assert!(body.is_empty());
    let (result, body, rest) = decode(b"helloNEXT", Framing::Length(5), 5, &[1]);
    assert!(result.is_ok());
    assert_eq!(
        (body.as_slice(), rest.as_slice()),
        (&b"hello"[..], &b"NEXT"[..])
    );
    let (result, body, _) = decode(b"12345", Framing::Close, 5, &[2]);
    assert!(result.is_ok());
    assert_eq!(body, b"12345");
    let (result, body, _) = decode(b"123456", Framing::Close, 5, &[2]);
    assert!(matches!(result, Err(BodyError::TooLarge { limit: 5 })));
    assert!(body.len() <= 5);
}

proptest! {
    #[test]
    fn any_body_in_any_chunking_and_any_reads_decodes_to_itself(
        body in proptest::collection::vec(any::<u8>(), 0..3000),
        sizes in proptest::collection::vec(1usize..600, 1..8),
        reads in proptest::collection::vec(1usize..700, 1..8),
        upper in any::<bool>(),
    ) {
        let mut data = encode_chunked(&body, &sizes);
        if upper {
            // Hex digits may be upper case too: the same chunks, sizes as %X.
            data.clear();
            let mut rest = &body[..];
            for &size in sizes.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let size = size.min(rest.len());
                data.extend_from_slice(format!("{size:X}\r\n").as_bytes());
                data.extend_from_slice(&rest[..size]);
                data.extend_from_slice(b"\r\n");
                rest = &rest[size..];
            }
            data.extend_from_slice(b"0\r\n\r\n");
        }
        data.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let (result, decoded, rest) = decode(&data, Framing::Chunked, body.len(), &reads);
        prop_assert!(result.is_ok(), "{:?}", result);
        prop_assert_eq!(&decoded, &body);
        prop_assert_eq!(rest.as_slice(), &b"GET / HTTP/1.1\r\n"[..]);
        if !body.is_empty() {
            let (result, decoded, _) = decode(&data, Framing::Chunked, body.len() - 1, &reads);
            let too_large = matches!(result, Err(BodyError::TooLarge { .. }));
            prop_assert!(too_large);
            prop_assert!(decoded.len() < body.len());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_nor_exceed_the_limit(
        data in proptest::collection::vec(any::<u8>(), 0..2000),
        max in 0usize..500,
        reads in proptest::collection::vec(1usize..64, 1..4),
        length in any::<u64>(),
    ) {
        for framing in [Framing::Chunked, Framing::Close, Framing::Length(length % 1000)] {
            let (result, decoded, _) = decode(&data, framing, max, &reads);
            prop_assert!(decoded.len() <= max, "{:?} gave {} bytes over {}", framing, decoded.len(), max);
            if result.is_ok() {
                prop_assert!(decoded.len() <= data.len());
            }
        }
    }

    #[test]
    fn hex_sizes_with_noise_around_them_decode_or_fail_cleanly(
        size in any::<u64>(),
        ext in "[ \t]{0,2}(;[a-z]{0,5}(=[a-z0-9\"]{0,5})?)?",
    ) {
        let line = format!("{size:x}{ext}");
        prop_assert_eq!(chunk_size(line.as_bytes()).ok(), Some(size));
    }
}
