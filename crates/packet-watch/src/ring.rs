//! The fast path: a ring of memory shared with the kernel (PACKET_RX_RING,
//! version TPACKET_V3), the way libpcap, and so tcpdump, reads packets.
//!
//! With `recvmsg` (what the bare example does) every packet costs a system
//! call, and each packet waits in the socket's queue as a kernel buffer
//! until we copy it out. With the ring, the kernel copies each accepted
//! packet straight into memory we mapped once with `mmap`, packed into
//! *blocks*; a block is handed to us when it is full (or after a few
//! milliseconds), we read all its packets with no system call at all, and
//! hand the block back. When every block is ours, the next packet is
//! dropped and counted (PACKET_STATISTICS).
//!
//! ```text
//! block:  [ block header: status (kernel or user), number of packets,
//!           offset of the first ]
//!         [ tpacket3_hdr: next offset, time, captured and wire lengths,
//!           offset of the frame; then a sockaddr_ll (direction, ...) ]
//!         [ the frame: Ethernet header, IP, TCP, data ] [ next packet ... ]
//! ```
//!
//! Who owns a block is one word, `block_status`: the kernel sets
//! TP_STATUS_USER when it hands a block over, we set TP_STATUS_KERNEL to give
//! it back. It is shared memory written by two parties, so it is read and
//! written as an atomic with acquire/release ordering: we must not read a
//! packet before the status says it is there, nor return the block before
//! we are done with it.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

/// 1 MiB per block, 30 blocks: 30 MiB of ring. With the 2 MiB of packets
/// a pcap file's writer may have in flight (`writer.rs`), 32 MiB in all:
/// what `tcpdump -B 32768` gets (tcpdump's default is 2 MiB).
const BLOCK_SIZE: u32 = 1 << 20;
const BLOCKS: u32 = 30;
/// A block that is not full is handed over anyway after this many ms, so a
/// quiet capture still shows each packet promptly.
const RETIRE_MS: u32 = 8;
/// How long to wait for a half-full block at the end of a capture.
pub const RETIRE_WAIT: Duration = Duration::from_millis(3 * RETIRE_MS as u64);

const TPACKET_V3: libc::c_int = 2;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;

// Offsets in the kernel's structs (linux/if_packet.h), read by hand so the
// layout is visible here. A block starts with tpacket_block_desc:
const BLOCK_STATUS: usize = 8; // hdr.bh1.block_status
const BLOCK_NUM_PKTS: usize = 12; // hdr.bh1.num_pkts
const BLOCK_FIRST: usize = 16; // hdr.bh1.offset_to_first_pkt
// Each packet starts with a tpacket3_hdr (48 bytes), then a sockaddr_ll:
const PKT_NEXT: usize = 0; // tp_next_offset
const PKT_SEC: usize = 4; // tp_sec
const PKT_NSEC: usize = 8; // tp_nsec
const PKT_SNAPLEN: usize = 12; // tp_snaplen: bytes in the ring
const PKT_LEN: usize = 16; // tp_len: bytes on the wire
const PKT_MAC: usize = 24; // tp_mac: where the frame starts
const PKT_PKTTYPE: usize = 48 + 10; // sockaddr_ll.sll_pkttype

/// The mapped ring and where we are in it.
pub struct Ring {
    base: NonNull<u8>,
    size: usize,
    /// The block we are reading (or waiting for).
    block: u32,
    /// Packets of that block not read yet, and the offset of the next one.
    left: u32,
    next: usize,
    /// The block we read is given back on the next call, once its last
    /// frame is no longer borrowed.
    release: Option<u32>,
}

/// One packet in the ring, borrowed until the next call.
pub struct Packet<'a> {
    pub data: &'a [u8],
    pub wire_len: usize,
    pub time: SystemTime,
    pub packet_type: u8,
}

impl Ring {
    /// Sets TPACKET_V3, asks for the ring and maps it. Called before bind,
    /// so every packet goes into the ring, none into the socket's queue.
    pub fn map(fd: &OwnedFd) -> Result<Ring> {
        set(fd, libc::PACKET_VERSION, &TPACKET_V3)
            .context("setting PACKET_VERSION to TPACKET_V3")?;
        let req = libc::tpacket_req3 {
            tp_block_size: BLOCK_SIZE,
            tp_block_nr: BLOCKS,
            // In V3 packets are packed, not in fixed frames; the kernel
            // still checks these two against the block size.
            tp_frame_size: 2048,
            tp_frame_nr: BLOCK_SIZE / 2048 * BLOCKS,
            tp_retire_blk_tov: RETIRE_MS,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        set(fd, libc::PACKET_RX_RING, &req).context("asking for a packet ring (PACKET_RX_RING)")?;
        let size = (BLOCK_SIZE * BLOCKS) as usize;
        // SAFETY: a shared mapping of the socket's ring, of the size we asked for.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error()).context("mapping the packet ring (mmap)");
        }
        Ok(Ring {
            base: NonNull::new(base.cast()).context("mmap returned null")?,
            size,
            block: 0,
            left: 0,
            next: 0,
            release: None,
        })
    }

    /// The word that says who owns block `n`.
    fn status(&self, n: u32) -> &AtomicU32 {
        let offset = (n * BLOCK_SIZE) as usize + BLOCK_STATUS;
        // SAFETY: inside the mapping, 4-byte aligned (blocks are page aligned),
        // and only ever accessed atomically by us.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(offset).cast()) }
    }

    fn read_u32(&self, offset: usize) -> u32 {
        // SAFETY: callers pass offsets inside the mapping (checked against size).
        unsafe {
            self.base
                .as_ptr()
                .add(offset)
                .cast::<u32>()
                .read_unaligned()
        }
    }

    /// The next packet, or `None` when the kernel has handed us nothing new
    /// (then wait for the socket to be readable: poll() says when a block
    /// is ours).
    pub fn next_packet(&mut self) -> Option<Packet<'_>> {
        if let Some(done) = self.release.take() {
            // Give the finished block back; Release: after all our reads.
            self.status(done).store(TP_STATUS_KERNEL, Ordering::Release);
        }
        if self.left == 0 {
            // Acquire: the packets are visible once the status says USER.
            if self.status(self.block).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
                return None;
            }
            let start = (self.block * BLOCK_SIZE) as usize;
            self.left = self.read_u32(start + BLOCK_NUM_PKTS);
            self.next = start + self.read_u32(start + BLOCK_FIRST) as usize;
            if self.left == 0 {
                self.finish_block();
                return self.next_packet();
            }
        }
        let at = self.next;
        let block_end = ((self.block + 1) * BLOCK_SIZE) as usize;
        let mac = at + usize::from(self.read_u16(at + PKT_MAC));
        let snaplen = self.read_u32(at + PKT_SNAPLEN) as usize;
        // The kernel wrote these; still, never read outside the block.
        let data_end = (mac + snaplen).min(block_end).max(mac.min(block_end));
        let mac = mac.min(data_end);
        // SAFETY: [mac, data_end) lies inside this block of the mapping,
        // which stays ours (not released) until the next call.
        let data =
            unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(mac), data_end - mac) };
        let time = UNIX_EPOCH
            + Duration::new(
                u64::from(self.read_u32(at + PKT_SEC)),
                self.read_u32(at + PKT_NSEC).min(999_999_999),
            );
        let wire_len = self.read_u32(at + PKT_LEN) as usize;
        // SAFETY: inside the packet's header, in the mapping.
        let packet_type = unsafe { *self.base.as_ptr().add(at + PKT_PKTTYPE) };
        self.left -= 1;
        self.next = at + self.read_u32(at + PKT_NEXT) as usize;
        if self.left == 0 || self.next >= block_end {
            self.left = 0;
            self.finish_block();
        }
        Some(Packet {
            data,
            wire_len,
            time,
            packet_type,
        })
    }

    fn read_u16(&self, offset: usize) -> u16 {
        // SAFETY: as read_u32.
        unsafe {
            self.base
                .as_ptr()
                .add(offset)
                .cast::<u16>()
                .read_unaligned()
        }
    }

    /// This block is read: give it back on the next call, move on.
    fn finish_block(&mut self) {
        self.release = Some(self.block);
        self.block = (self.block + 1) % BLOCKS;
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: the mapping we made, unmapped once.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.size) };
    }
}

fn set<T>(fd: &OwnedFd, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: value points at a T of the size we pass.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
