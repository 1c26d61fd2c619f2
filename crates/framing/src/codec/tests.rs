//! Codec tests: byte-exact wire formats from the book, limits, truncation,
//! and property tests that feed the decoders random small chunks.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{self, BufReader, ErrorKind};
use test_support::Chunky;

use proptest::prelude::*;

use super::{delimiter, eof, fixed, length, netstring};

fn reader(data: Vec<u8>, sizes: Vec<usize>) -> BufReader<Chunky> {
    BufReader::new(Chunky::new(data, sizes))
}

/// Records, per thread, the largest single allocation, so a test can check
/// that a decoder never allocated what a hostile peer asked for. (Per
/// thread, because the tests run in parallel.)
struct LargestAllocation;

thread_local! {
    // `const`-initialised: reading it never allocates, which matters inside
    // an allocator.
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is passed straight to the system allocator; we only
// note the size asked for.
unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(layout.size())));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(new_size)));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

/// The largest single allocation `decode` makes on this thread.
fn largest_allocation(decode: impl FnOnce()) -> usize {
    LARGEST.with(|largest| largest.set(0));
    decode();
    LARGEST.with(Cell::get)
}

/// The three lines of the Zen of Python that blocks.py sends.
const ZEN: [&[u8]; 3] = [
    b"Beautiful is better than ugly.",
    b"Explicit is better than implicit.",
    b"Simple is better than complex.",
];

#[test]
fn length_frames_match_blocks_py_byte_for_byte() {
    let mut wire = Vec::new();
    for line in ZEN {
        length::write(&mut wire, line).unwrap();
    }
    length::write_end(&mut wire).unwrap();
    // struct.pack('!I', 30) + line, ... + struct.pack('!I', 0)
    assert_eq!(wire.len(), 109);
    assert_eq!(&wire[..4], &[0, 0, 0, 30]);
    assert_eq!(&wire[105..], &[0, 0, 0, 0]);
    let mut read = reader(wire, vec![1]);
    for line in ZEN {
        assert_eq!(
            length::read(&mut read, 1 << 20).unwrap().as_deref(),
            Some(line)
        );
    }
    assert_eq!(length::read(&mut read, 1 << 20).unwrap(), None);
}

#[test]
fn fixed_records_match_tcp_sixteen_py() {
    let mut wire = Vec::new();
    fixed::write(&mut wire, b"Hi there, server", 16).unwrap();
    assert_eq!(wire, b"Hi there, server");
    let mut short = Vec::new();
    fixed::write(&mut short, b"Hi", 16).unwrap();
    assert_eq!(short, b"Hi              ");
    let refused = fixed::write(&mut Vec::new(), b"seventeen bytes!!", 16).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::InvalidInput);
}

#[test]
fn netstrings_and_delimiters_on_the_wire() {
    let mut wire = Vec::new();
    netstring::write(&mut wire, b"hello").unwrap();
    netstring::write(&mut wire, b"").unwrap();
    assert_eq!(wire, b"5:hello,0:,");
    let mut lines = Vec::new();
    delimiter::write(&mut lines, b"one", b"\r\n").unwrap();
    assert_eq!(lines, b"one\r\n");
    assert_eq!(
        delimiter::write(&mut lines, b"a\r\nb", b"\r\n")
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    // "--END-" followed by "--END--" would be read as "" then garbage.
    assert!(delimiter::write(&mut lines, b"--END-", b"--END--").is_err());
    assert!(delimiter::write(&mut lines, b"ab\r", b"\r\n").is_ok());
}

#[test]
fn delimiter_escapes_parse() {
    assert_eq!(delimiter::parse("\\n").unwrap(), b"\n");
    assert_eq!(delimiter::parse("\\r\\n").unwrap(), b"\r\n");
    assert_eq!(delimiter::parse("\\x00|").unwrap(), b"\x00|");
    assert!(delimiter::parse("").is_err());
    assert!(delimiter::parse("\\q").is_err());
    assert!(delimiter::parse("\\xZZ").is_err());
    // Two hex digits, no more and no fewer: from_str_radix alone takes `+1`.
    assert_eq!(delimiter::parse("\\x0A").unwrap(), b"\n");
    for bad in ["\\x+1", "\\x1", "\\x", "\\x1g", "\\x-1", "ab\\x1"] {
        let error = delimiter::parse(bad).unwrap_err();
        assert!(error.contains("two hex digits"), "{bad}: {error}");
    }
}

#[test]
fn an_empty_message_is_refused_by_the_length_writer() {
    // Its zero length is the end marker: the reader would stop there.
    let mut wire = Vec::new();
    let error = length::write(&mut wire, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert!(error.to_string().contains("end marker"), "{error}");
    assert!(
        wire.is_empty(),
        "nothing may be written for a refused message"
    );
}

#[test]
fn lengths_at_the_edge_of_the_integers_are_refused_not_wrapped() {
    // 2^64 as a netstring length: wrapping would make it 0, an empty message.
    for limit in [usize::MAX, u32::MAX as usize, 1 << 20] {
        let error = netstring::read(
            &mut reader(b"18446744073709551616:,".to_vec(), vec![64]),
            limit,
        )
        .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidData, "limit {limit}");
    }
    // The largest limits still let ordinary messages through.
    let message = netstring::read(
        &mut reader(b"11:hello world,".to_vec(), vec![3]),
        usize::MAX,
    );
    assert_eq!(message.unwrap().as_deref(), Some(&b"hello world"[..]));
    let mut framed = Vec::new();
    length::write(&mut framed, b"hello world").unwrap();
    let message = length::read(&mut reader(framed, vec![3]), usize::MAX);
    assert_eq!(message.unwrap().as_deref(), Some(&b"hello world"[..]));
    let line = delimiter::read(
        &mut reader(b"hello world\r\n".to_vec(), vec![3]),
        b"\r\n",
        usize::MAX,
    );
    assert_eq!(line.unwrap().as_deref(), Some(&b"hello world"[..]));
    // `max + 1` once wrapped to 0 here: the message came out empty.
    let whole = eof::read(&mut reader(b"hello world".to_vec(), vec![3]), usize::MAX);
    assert_eq!(whole.unwrap(), b"hello world");
}

#[test]
fn oversized_lengths_are_refused_before_reading_the_body() {
    // Only the header exists: had the decoder tried to allocate and read
    // 4 GiB, it would report EOF, not InvalidData.
    let error = length::read(&mut reader(vec![0xff; 4], vec![64]), 1 << 20).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidData);
    assert!(error.to_string().contains("4294967295"), "{error}");
    let error = netstring::read(
        &mut reader(b"99999999999999999999:".to_vec(), vec![64]),
        1 << 20,
    )
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidData);
    let error = delimiter::read(&mut reader(vec![b'x'; 100], vec![7]), b"\n", 64).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidData);
    let error = eof::read(&mut reader(vec![b'x'; 100], vec![7]), 64).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidData);
}

#[test]
fn hostile_sizes_never_make_a_decoder_allocate_them() {
    const LIMIT: usize = 1024;
    // A decoder may hold at most LIMIT plus one read's worth (our readers
    // hand out 4 KiB at a time); without its limit it would allocate 4 GiB
    // (the claimed lengths) or 128 KiB (buffering the whole 100 KB line).
    const BOUND: usize = 16 * 1024;
    let endless_line = vec![b'x'; 100_000];
    let mut r = reader(
        [&u32::MAX.to_be_bytes()[..], &[b'x'; 100]].concat(),
        vec![4096],
    );
    let largest = largest_allocation(|| drop(length::read(&mut r, LIMIT)));
    assert!(
        largest <= BOUND,
        "length: allocated {largest} bytes at once"
    );
    let mut r = reader([&b"4000000000:"[..], &[b'x'; 100]].concat(), vec![4096]);
    let largest = largest_allocation(|| drop(netstring::read(&mut r, LIMIT)));
    assert!(
        largest <= BOUND,
        "netstring: allocated {largest} bytes at once"
    );
    let mut r = reader(endless_line.clone(), vec![4096]);
    let largest = largest_allocation(|| drop(delimiter::read(&mut r, b"\n", LIMIT)));
    assert!(
        largest <= BOUND,
        "delimiter: allocated {largest} bytes at once"
    );
    let mut r = reader(endless_line.clone(), vec![4096]);
    let largest = largest_allocation(|| drop(eof::read(&mut r, LIMIT)));
    assert!(largest <= BOUND, "eof: allocated {largest} bytes at once");
}

#[test]
fn with_the_largest_limits_buffers_grow_only_with_what_arrives() {
    // A limit as large as the integers allow, so only the decoders' own
    // care stands between a 12-byte header and a 100 GB allocation. 100
    // bytes arrive after each header: a decoder may allocate for those
    // (and a small first buffer), not for what the header claims.
    const BOUND: usize = 16 * 1024;
    let tail = [b'x'; 100];
    let mut r = reader([&b"99999999999:"[..], &tail].concat(), vec![4096]);
    let largest = largest_allocation(|| {
        let error = netstring::read(&mut r, usize::MAX).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UnexpectedEof, "{error}");
    });
    assert!(
        largest <= BOUND,
        "netstring: allocated {largest} bytes at once"
    );
    let mut r = reader([&u32::MAX.to_be_bytes()[..], &tail].concat(), vec![4096]);
    let largest = largest_allocation(|| {
        let error = length::read(&mut r, usize::MAX).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UnexpectedEof, "{error}");
    });
    assert!(
        largest <= BOUND,
        "length: allocated {largest} bytes at once"
    );
    // What does arrive is all kept: 1 MB in 4 KiB reads, nothing lost.
    let body = vec![b'y'; 1_000_000];
    let mut r = reader([&b"1000000:"[..], &body, b","].concat(), vec![4096]);
    let largest = largest_allocation(|| {
        let message = netstring::read(&mut r, usize::MAX).unwrap().unwrap();
        assert_eq!(message, body);
    });
    assert!(
        largest <= 4 * body.len(),
        "netstring: allocated {largest} bytes for a 1 MB body"
    );
}

#[test]
fn a_message_exactly_at_the_limit_is_accepted() {
    let mut wire = vec![b'x'; 64];
    wire.extend_from_slice(b"\r\n");
    let message = delimiter::read(&mut reader(wire, vec![1]), b"\r\n", 64).unwrap();
    assert_eq!(message.map(|m| m.len()), Some(64));
    let mut framed = Vec::new();
    length::write(&mut framed, &[7; 64]).unwrap();
    assert_eq!(
        length::read(&mut reader(framed, vec![3]), 64)
            .unwrap()
            .map(|m| m.len()),
        Some(64)
    );
}

#[test]
fn eof_inside_a_frame_is_an_error_not_a_short_message() {
    let cases: Vec<(&str, io::Result<Option<Vec<u8>>>)> = vec![
        (
            "length header",
            length::read(&mut reader(vec![0, 0], vec![1]), 1024),
        ),
        (
            "length body",
            length::read(&mut reader(vec![0, 0, 0, 10, b'a', b'b'], vec![1]), 1024),
        ),
        (
            "netstring length",
            netstring::read(&mut reader(b"12".to_vec(), vec![1]), 1024),
        ),
        (
            "netstring body",
            netstring::read(&mut reader(b"5:hel".to_vec(), vec![1]), 1024),
        ),
        (
            "netstring comma",
            netstring::read(&mut reader(b"5:hello".to_vec(), vec![1]), 1024),
        ),
        (
            "delimiter",
            delimiter::read(&mut reader(b"no newline".to_vec(), vec![1]), b"\n", 1024),
        ),
        (
            "fixed",
            fixed::read(&mut reader(b"short".to_vec(), vec![1]), 16),
        ),
    ];
    for (what, result) in cases {
        assert_eq!(
            result.unwrap_err().kind(),
            ErrorKind::UnexpectedEof,
            "{what}"
        );
    }
}

#[test]
fn malformed_netstrings_are_refused() {
    for bad in [
        &b"5:hello;"[..],
        b"05:hello,",
        b":hello,",
        b"5x:hello,",
        b"-1:,",
    ] {
        let error = netstring::read(&mut reader(bad.to_vec(), vec![2]), 1024).unwrap_err();
        assert_eq!(
            error.kind(),
            ErrorKind::InvalidData,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn pipelined_small_frames_cost_a_small_fraction_of_a_read_each() {
    let mut wire = Vec::new();
    for i in 0..10_000u32 {
        length::write(&mut wire, format!("frame {i:>10}").as_bytes()).unwrap();
    }
    length::write_end(&mut wire).unwrap();
    // A kernel that hands over up to 64 KiB per read(), as loopback does.
    let mut read = BufReader::with_capacity(64 * 1024, Chunky::new(wire, vec![64 * 1024]));
    let mut frames = 0;
    while length::read(&mut read, 1024).unwrap().is_some() {
        frames += 1;
    }
    assert_eq!(frames, 10_000);
    let per_frame = read.get_ref().reads() as f64 / frames as f64;
    assert!(per_frame <= 0.05, "{per_frame} reads per frame");
}

/// Whether `message` + `delimiter` decodes as exactly `message`, nothing
/// left over: the reader's view of "this message can be sent".
fn reads_back_alone(message: &[u8], delim: &[u8]) -> bool {
    let mut read = reader([message, delim].concat(), vec![5]);
    matches!(delimiter::read(&mut read, delim, usize::MAX), Ok(Some(m)) if m == message)
        && matches!(delimiter::read(&mut read, delim, usize::MAX), Ok(None))
}

#[test]
fn the_delimiter_oracle_accepts_and_refuses() {
    // The proptest below leans on reads_back_alone; it must say both.
    assert!(reads_back_alone(b"hello", b"\n"));
    assert!(reads_back_alone(b"ab\r", b"\r\n"));
    assert!(!reads_back_alone(b"a\nb", b"\n"));
    assert!(!reads_back_alone(b"--END-", b"--END--"));
    // And the writer sends what the reader gets back.
    for delim in [&b"\n"[..], b"\r\n", b"\x00", b"--END--"] {
        delimiter::write(&mut Vec::new(), b"hello", delim).unwrap();
    }
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..200)
}

fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..9, 1..20)
}

proptest! {
    // 256 cases by default; `make fuzz` raises PROPTEST_CASES for a long run.
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn length_round_trips(messages in prop::collection::vec(message(), 0..20), sizes in chunk_sizes()) {
        // An empty message would be the terminator: the writer refuses
        // exactly those, and every other message arrives.
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        for m in messages {
            match length::write(&mut wire, &m) {
                Ok(()) => expected.push(m),
                Err(_) => prop_assert!(m.is_empty(), "refused a {}-byte message", m.len()),
            }
        }
        length::write_end(&mut wire).unwrap();
        let mut read = reader(wire, sizes);
        let mut got = Vec::new();
        while let Some(m) = length::read(&mut read, 1024).unwrap() {
            got.push(m);
        }
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn netstring_round_trips(messages in prop::collection::vec(message(), 0..20), sizes in chunk_sizes()) {
        let mut wire = Vec::new();
        for m in &messages {
            netstring::write(&mut wire, m).unwrap();
        }
        let mut read = reader(wire, sizes);
        let mut got = Vec::new();
        while let Some(m) = netstring::read(&mut read, 1024).unwrap() {
            got.push(m);
        }
        prop_assert_eq!(got, messages);
    }

    #[test]
    fn delimiter_round_trips(
        messages in prop::collection::vec(message(), 0..20),
        delim in prop::sample::select(vec![&b"\n"[..], b"\r\n", b"\x00", b"--END--"]),
        sizes in chunk_sizes(),
    ) {
        // The writer refuses exactly the messages it cannot frame. The
        // judge is the reader, not the writer's own is_sendable: would
        // `message + delimiter`, alone on the wire, come back as `message`?
        let mut wire = Vec::new();
        let mut sent = Vec::new();
        for m in messages {
            let readable = reads_back_alone(&m, delim);
            match delimiter::write(&mut wire, &m, delim) {
                Ok(()) => {
                    prop_assert!(readable, "sent {:?}, which the reader would cut", m);
                    sent.push(m);
                }
                Err(_) => prop_assert!(!readable, "refused {:?}, which the reader would get", m),
            }
        }
        let messages = sent;
        let mut read = reader(wire, sizes);
        let mut got = Vec::new();
        while let Some(m) = delimiter::read(&mut read, delim, 1024).unwrap() {
            got.push(m);
        }
        prop_assert_eq!(got, messages);
    }

    #[test]
    fn fixed_round_trips(messages in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..=16), 0..20), sizes in chunk_sizes()) {
        let mut wire = Vec::new();
        for m in &messages {
            fixed::write(&mut wire, m, 16).unwrap();
        }
        let mut read = reader(wire, sizes);
        for m in &messages {
            prop_assert_eq!(fixed::read(&mut read, 16).unwrap(), Some(fixed::pad(m, 16).unwrap()));
        }
        prop_assert_eq!(fixed::read(&mut read, 16).unwrap(), None);
    }

    #[test]
    fn eof_round_trips(m in prop::collection::vec(any::<u8>(), 0..2000), sizes in chunk_sizes()) {
        let mut wire = Vec::new();
        eof::write(&mut wire, &m).unwrap();
        prop_assert_eq!(eof::read(&mut reader(wire, sizes), 4096).unwrap(), m);
    }

    /// Garbage never panics a decoder, and nothing it returns is over the limit.
    #[test]
    fn arbitrary_bytes_never_panic_or_exceed_the_limit(data in prop::collection::vec(any::<u8>(), 0..600), sizes in chunk_sizes()) {
        const LIMIT: usize = 64;
        let mut r = reader(data.clone(), sizes.clone());
        while let Ok(Some(m)) = length::read(&mut r, LIMIT) { prop_assert!(m.len() <= LIMIT); }
        let mut r = reader(data.clone(), sizes.clone());
        while let Ok(Some(m)) = netstring::read(&mut r, LIMIT) { prop_assert!(m.len() <= LIMIT); }
        let mut r = reader(data.clone(), sizes.clone());
        while let Ok(Some(m)) = delimiter::read(&mut r, b"\r\n", LIMIT) { prop_assert!(m.len() <= LIMIT); }
        let mut r = reader(data.clone(), sizes.clone());
        while let Ok(Some(m)) = fixed::read(&mut r, 16) { prop_assert_eq!(m.len(), 16); }
        if let Ok(m) = eof::read(&mut reader(data, sizes), LIMIT) { prop_assert!(m.len() <= LIMIT); }
    }
}
