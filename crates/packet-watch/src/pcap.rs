//! The pcap file format, the one tcpdump `-w` writes and Wireshark opens,
//! written and read by hand: it is small enough to show whole.
//!
//! ```text
//! file header, 24 bytes (in the writer's byte order; we write little-endian):
//!   magic      u32  0xa1b2c3d4: microsecond timestamps (0xa1b23c4d: nanoseconds);
//!                   read back as 0xd4c3b2a1, the file is in the other byte order
//!   version    u16, u16  2, 4
//!   thiszone   i32  0 (timestamps are UTC)
//!   sigfigs    u32  0
//!   snaplen    u32  the most bytes of one packet the file holds
//!   linktype   u32  what each packet starts with: 1 Ethernet, 113 Linux cooked, 101 raw IP
//! then per packet a 16-byte record header and the bytes:
//!   ts_sec     u32  seconds since 1970
//!   ts_frac    u32  microseconds (or nanoseconds) within that second
//!   incl_len   u32  bytes of the packet in the file
//!   orig_len   u32  bytes the packet had on the wire (more when cut by snaplen)
//!   data       incl_len bytes
//! ```
//!
//! A file may be cut short (a capture killed mid-write, a truncated
//! download) or not be a pcap at all: both are errors that say so, after
//! the packets that were whole. A record's length is checked against the
//! largest packet we accept before anything is allocated for it.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, ErrorKind, IoSlice, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use crate::bpf::SNAPLEN;
use crate::decode::LinkType;
use crate::ring::Block;

const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// pcapng, the newer format (tcpdump reads it, and can convert it).
const MAGIC_PCAPNG: u32 = 0x0a0d_0d0a;

fn linktype_number(link: LinkType) -> u32 {
    match link {
        LinkType::Ethernet => 1,
        LinkType::LinuxSll => 113,
        LinkType::RawIp => 101,
    }
}

/// The 24-byte file header.
pub fn file_header(link: LinkType) -> [u8; 24] {
    let mut header = [0u8; 24];
    header[0..4].copy_from_slice(&MAGIC_MICROS.to_le_bytes());
    header[4..6].copy_from_slice(&2u16.to_le_bytes());
    header[6..8].copy_from_slice(&4u16.to_le_bytes());
    // thiszone and sigfigs: 0.
    header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    header[20..24].copy_from_slice(&linktype_number(link).to_le_bytes());
    header
}

/// The 16-byte header of a record: `captured` bytes in the file, of a
/// packet `wire_len` bytes long, seen at `time`.
pub fn record_header(time: SystemTime, captured: usize, wire_len: usize) -> [u8; 16] {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut record = [0u8; 16];
    // pcap's seconds are 32 bits: fine until 2106.
    record[0..4].copy_from_slice(&(since.as_secs() as u32).to_le_bytes());
    record[4..8].copy_from_slice(&since.subsec_micros().to_le_bytes());
    record[8..12].copy_from_slice(&(captured as u32).to_le_bytes());
    record[12..16].copy_from_slice(&(wire_len.max(captured) as u32).to_le_bytes());
    record
}

/// Writes packets to a pcap file one at a time, through a buffer: the
/// format at its simplest (the tests write their files with it). A live
/// capture saves whole blocks of its ring instead ([`save_blocks`]).
pub struct Writer {
    out: BufWriter<File>,
    path: PathBuf,
}

impl Writer {
    /// Creates (or truncates) `path` and writes the file header.
    pub fn create(path: &Path, link: LinkType) -> Result<Writer> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut writer = Writer {
            out: BufWriter::with_capacity(256 * 1024, file),
            path: path.to_owned(),
        };
        writer.put(&file_header(link))?;
        Ok(writer)
    }

    /// Appends one packet: `data` as captured, `wire_len` as it was sent.
    pub fn write(&mut self, time: SystemTime, data: &[u8], wire_len: usize) -> Result<()> {
        self.put(&record_header(time, data.len(), wire_len))?;
        self.put(data)
    }

    /// Pushes buffered packets to the file.
    pub fn flush(&mut self) -> Result<()> {
        let path = &self.path;
        self.out
            .flush()
            .with_context(|| format!("writing {}", path.display()))
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        let path = &self.path;
        self.out
            .write_all(bytes)
            .with_context(|| format!("writing {}", path.display()))
    }
}

/// A live capture's pcap file, written on a thread of its own from the
/// ring's blocks as the capture hands them over: the header, then for
/// each block one `writev` (`write_vectored`) of record headers and the
/// packets themselves, in place in the ring. Each byte of a packet is
/// copied once, by the kernel, from the ring into the file; then the
/// block goes back to the kernel. (A copy of each packet into a buffer of
/// ours was half of the capture thread's time in a profile.)
pub fn save_blocks(mut file: File, link: LinkType, blocks: Receiver<Block>) -> io::Result<()> {
    file.write_all(&file_header(link))?;
    let mut headers: Vec<[u8; 16]> = Vec::new();
    for block in blocks {
        headers.clear();
        headers.extend((block.packets()).map(|p| record_header(p.time, p.data.len(), p.wire_len)));
        let mut slices = Vec::with_capacity(2 * headers.len());
        for (header, packet) in headers.iter().zip(block.packets()) {
            slices.push(IoSlice::new(header));
            slices.push(IoSlice::new(packet.data));
        }
        write_all_vectored(&mut file, &mut slices)?;
        drop(slices);
        block.release();
    }
    Ok(())
}

/// `write_vectored` until every slice is written (the kernel may take
/// part of them, and at most IOV_MAX, 1024, per call).
fn write_all_vectored(file: &mut File, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(io::Error::from(ErrorKind::WriteZero)),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One packet read back from a file.
pub struct Record<'a> {
    pub time: SystemTime,
    pub data: &'a [u8],
    pub wire_len: usize,
}

/// Reads a pcap file packet by packet.
pub struct Reader {
    input: BufReader<File>,
    path: PathBuf,
    swapped: bool,
    nanos: bool,
    pub link: LinkType,
    buf: Vec<u8>,
    count: u64,
}

impl Reader {
    pub fn open(path: &Path) -> Result<Reader> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut input = BufReader::with_capacity(256 * 1024, file);
        let mut header = [0u8; 24];
        let got = read_full(&mut input, &mut header)
            .with_context(|| format!("reading {}", path.display()))?;
        let magic = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let (swapped, nanos) = match magic {
            MAGIC_MICROS => (false, false),
            MAGIC_NANOS => (false, true),
            m if m.swap_bytes() == MAGIC_MICROS => (true, false),
            m if m.swap_bytes() == MAGIC_NANOS => (true, true),
            MAGIC_PCAPNG if got >= 4 => bail!(
                "{} is a pcapng file, not pcap; convert it with `tcpdump -r {} -w out.pcap`",
                path.display(),
                path.display()
            ),
            _ if got < 4 => bail!(
                "{} is not a pcap file: it has {got} bytes, a pcap header has 24",
                path.display()
            ),
            m => bail!(
                "{} is not a pcap file (it starts with {m:#010x}, a pcap file with a1b2c3d4)",
                path.display()
            ),
        };
        if got < 24 {
            bail!(
                "{} is cut short: its header has {got} of 24 bytes",
                path.display()
            );
        }
        let word = |at: usize| {
            let bytes = [header[at], header[at + 1], header[at + 2], header[at + 3]];
            if swapped {
                u32::from_be_bytes(bytes)
            } else {
                u32::from_le_bytes(bytes)
            }
        };
        let link = match word(20) & 0x0fff_ffff {
            1 => LinkType::Ethernet,
            113 => LinkType::LinuxSll,
            101 | 228 | 229 => LinkType::RawIp,
            other => bail!(
                "{}: link type {other} is not one packet-watch decodes \
                 (1 Ethernet, 113 Linux cooked, 101 raw IP)",
                path.display()
            ),
        };
        Ok(Reader {
            input,
            path: path.to_owned(),
            swapped,
            nanos,
            link,
            buf: Vec::new(),
            count: 0,
        })
    }

    /// The next packet, `None` at the end of the file, or an error if the
    /// file ends inside a record or a record is impossible.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>> {
        let path = self.path.display();
        let number = self.count + 1;
        let mut header = [0u8; 16];
        let got =
            read_full(&mut self.input, &mut header).with_context(|| format!("reading {path}"))?;
        if got == 0 {
            return Ok(None);
        }
        if got < 16 {
            bail!("{path} is cut short: packet {number}'s record header has {got} of 16 bytes");
        }
        let word = |at: usize| {
            let bytes = [header[at], header[at + 1], header[at + 2], header[at + 3]];
            if self.swapped {
                u32::from_be_bytes(bytes)
            } else {
                u32::from_le_bytes(bytes)
            }
        };
        let (secs, frac, incl, orig) = (word(0), word(4), word(8), word(12));
        // Checked before allocating: a corrupt length must not make us
        // reserve 4 GiB.
        if incl > SNAPLEN {
            bail!(
                "{path} is corrupt: packet {number} claims {incl} bytes, more than any \
                 capture keeps ({SNAPLEN})"
            );
        }
        self.buf.resize(incl as usize, 0);
        let got =
            read_full(&mut self.input, &mut self.buf).with_context(|| format!("reading {path}"))?;
        if got < self.buf.len() {
            bail!("{path} is cut short: packet {number} has {got} of its {incl} bytes");
        }
        self.count += 1;
        let frac = if self.nanos {
            Duration::from_nanos(u64::from(frac))
        } else {
            Duration::from_micros(u64::from(frac))
        };
        Ok(Some(Record {
            time: UNIX_EPOCH + Duration::from_secs(u64::from(secs)) + frac,
            data: &self.buf,
            wire_len: orig as usize,
        }))
    }

    /// How many packets were read.
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// Reads until `buf` is full or the input ends; returns how many bytes came.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
