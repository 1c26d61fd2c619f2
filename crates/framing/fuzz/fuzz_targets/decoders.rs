//! Coverage-guided fuzzing of every framing decoder: arbitrary bytes,
//! delivered in chunk sizes the fuzzer also chooses (the first byte), must
//! never panic a decoder, and no decoded message may exceed its limit.
//! Each decoder runs twice: with a small limit, and with the largest a
//! `usize` allows, where only the decoder's own care (checked arithmetic,
//! buffers that grow with what arrives) keeps a 12-byte header such as
//! `99999999999:` from a 100 GB allocation: libFuzzer's `-malloc_limit_mb`
//! (by default its `-rss_limit_mb`, 2048) reports any such allocation as a
//! crash. Last, what the writers accept must read back unchanged.

#![no_main]

use std::io::{self, BufReader, Read};

use framing::codec::{delimiter, eof, fixed, length, netstring};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 256;

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
    let chunk = usize::from(first % 16) + 1;
    for limit in [LIMIT, usize::MAX] {
        decode(data, chunk, limit);
    }
    round_trip(data, chunk);
});

/// Every decoder over `data`: no panic, nothing over `limit`.
fn decode(data: &[u8], chunk: usize, limit: usize) {
    let reader = || BufReader::with_capacity(64, Chunky { data, chunk });

    let mut r = reader();
    while let Ok(Some(m)) = length::read(&mut r, limit) {
        assert!(m.len() <= limit);
    }
    let mut r = reader();
    while let Ok(Some(m)) = netstring::read(&mut r, limit) {
        assert!(m.len() <= limit);
    }
    let mut r = reader();
    while let Ok(Some(m)) = delimiter::read(&mut r, b"\r\n", limit) {
        assert!(m.len() <= limit);
    }
    let mut r = reader();
    while let Ok(Some(m)) = fixed::read(&mut r, 16) {
        assert_eq!(m.len(), 16);
    }
    if let Ok(m) = eof::read(&mut reader(), limit) {
        assert!(m.len() <= limit);
    }
}

/// `data` split at every 0xff into messages: what each writer accepts,
/// its reader gives back, in order.
fn round_trip(data: &[u8], chunk: usize) {
    let messages: Vec<&[u8]> = data.split(|&b| b == 0xff).collect();
    let mut length_wire = Vec::new();
    let mut netstring_wire = Vec::new();
    let mut line_wire = Vec::new();
    let (mut sent_length, mut sent_lines) = (Vec::new(), Vec::new());
    for &m in &messages {
        if length::write(&mut length_wire, m).is_ok() {
            sent_length.push(m);
        }
        netstring::write(&mut netstring_wire, m).unwrap();
        if delimiter::write(&mut line_wire, m, b"\r\n").is_ok() {
            sent_lines.push(m);
        }
    }
    length::write_end(&mut length_wire).unwrap();
    let read_all =
        |wire: &[u8], read: &dyn Fn(&mut BufReader<Chunky>) -> io::Result<Option<Vec<u8>>>| {
            let mut r = BufReader::with_capacity(64, Chunky { data: wire, chunk });
            let mut got = Vec::new();
            while let Some(m) = read(&mut r).unwrap() {
                got.push(m);
            }
            got
        };
    let got = read_all(&length_wire, &|r| length::read(r, usize::MAX));
    assert_eq!(got, sent_length);
    let got = read_all(&netstring_wire, &|r| netstring::read(r, usize::MAX));
    assert_eq!(got, messages);
    let got = read_all(&line_wire, &|r| delimiter::read(r, b"\r\n", usize::MAX));
    assert_eq!(got, sent_lines);
}
