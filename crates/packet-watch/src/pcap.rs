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
use std::io::{self, BufReader, BufWriter, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use crate::bpf::SNAPLEN;
use crate::decode::LinkType;

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

/// Writes packets to a pcap file as they are captured, through `W`: a
/// `BufWriter`, or (a live capture) a [`crate::writer::Handoff`] to a
/// thread of its own.
pub struct Writer<W: Write = BufWriter<File>> {
    out: W,
    path: PathBuf,
}

impl Writer {
    /// Creates (or truncates) `path` and writes the file header.
    pub fn create(path: &Path, link: LinkType) -> Result<Writer> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        Writer::new(BufWriter::with_capacity(256 * 1024, file), path, link)
    }
}

impl<W: Write> Writer<W> {
    /// Writes the file header to `out`, which writes to `path`.
    pub fn new(out: W, path: &Path, link: LinkType) -> Result<Writer<W>> {
        let mut header = Vec::with_capacity(24);
        header.extend(MAGIC_MICROS.to_le_bytes());
        header.extend(2u16.to_le_bytes());
        header.extend(4u16.to_le_bytes());
        header.extend(0i32.to_le_bytes());
        header.extend(0u32.to_le_bytes());
        header.extend(SNAPLEN.to_le_bytes());
        header.extend(linktype_number(link).to_le_bytes());
        let mut writer = Writer {
            out,
            path: path.to_owned(),
        };
        writer.put(&header)?;
        Ok(writer)
    }

    /// Appends one packet: `data` as captured, `wire_len` as it was sent.
    pub fn write(&mut self, time: SystemTime, data: &[u8], wire_len: usize) -> Result<()> {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let mut record = [0u8; 16];
        // pcap's seconds are 32 bits: fine until 2106.
        record[0..4].copy_from_slice(&(since.as_secs() as u32).to_le_bytes());
        record[4..8].copy_from_slice(&since.subsec_micros().to_le_bytes());
        record[8..12].copy_from_slice(&(data.len() as u32).to_le_bytes());
        record[12..16].copy_from_slice(&(wire_len.max(data.len()) as u32).to_le_bytes());
        self.put(&record)?;
        self.put(data)
    }

    /// Pushes buffered packets towards the file (done whenever the capture
    /// waits, so the file is complete up to the last quiet moment).
    pub fn flush(&mut self) -> Result<()> {
        let path = &self.path;
        self.out
            .flush()
            .with_context(|| format!("writing {}", path.display()))
    }

    /// The writer, to finish with (a Handoff's `close`).
    pub fn inner_mut(&mut self) -> &mut W {
        &mut self.out
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        let path = &self.path;
        self.out
            .write_all(bytes)
            .with_context(|| format!("writing {}", path.display()))
    }
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
