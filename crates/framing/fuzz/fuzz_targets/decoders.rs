//! Coverage-guided fuzzing of every framing decoder: arbitrary bytes,
//! delivered in chunk sizes the fuzzer also chooses (the first byte), must
//! never panic a decoder, and no decoded message may exceed its limit.

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
    let reader = || BufReader::with_capacity(64, Chunky { data, chunk });

    let mut r = reader();
    while let Ok(Some(m)) = length::read(&mut r, LIMIT) {
        assert!(m.len() <= LIMIT);
    }
    let mut r = reader();
    while let Ok(Some(m)) = netstring::read(&mut r, LIMIT) {
        assert!(m.len() <= LIMIT);
    }
    let mut r = reader();
    while let Ok(Some(m)) = delimiter::read(&mut r, b"\r\n", LIMIT) {
        assert!(m.len() <= LIMIT);
    }
    let mut r = reader();
    while let Ok(Some(m)) = fixed::read(&mut r, 16) {
        assert_eq!(m.len(), 16);
    }
    if let Ok(m) = eof::read(&mut reader(), LIMIT) {
        assert!(m.len() <= LIMIT);
    }
});
