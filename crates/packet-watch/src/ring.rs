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
//!
//! With `--pcap`, a block the capture has read is not given back at once:
//! it goes to the pcap writer's thread as a [`Block`], which writes its
//! packets to the file from where they are and then gives it back. The
//! ring is the only buffer, as in tcpdump (the same 32 MiB), and no packet
//! is copied by us.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

/// 1 MiB per block, 32 blocks: 32 MiB of ring (tcpdump's default is 2 MiB;
/// `tcpdump -B 32768` gives it the same).
const BLOCK_SIZE: u32 = 1 << 20;
const BLOCKS: u32 = 32;
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

/// The memory shared with the kernel, unmapped when the last holder (the
/// ring, or a block a writer thread still has) is gone.
struct Mapping {
    base: NonNull<u8>,
    size: usize,
}

// SAFETY: the mapping is plain memory. Which parts a thread may read is
// decided by block ownership (a block is read only while its status says
// USER and by whoever holds it), and the status words are atomics.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping we made, unmapped once, when nobody holds it.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.size) };
    }
}

impl Mapping {
    /// The word that says who owns block `n`.
    fn status(&self, n: u32) -> &AtomicU32 {
        let offset = (n * BLOCK_SIZE) as usize + BLOCK_STATUS;
        // SAFETY: inside the mapping, 4-byte aligned (blocks are page aligned),
        // and only ever accessed atomically by us.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(offset).cast()) }
    }

    fn read_u32(&self, offset: usize) -> u32 {
        debug_assert!(offset + 4 <= self.size);
        // SAFETY: callers pass offsets inside the mapping.
        unsafe {
            self.base
                .as_ptr()
                .add(offset)
                .cast::<u32>()
                .read_unaligned()
        }
    }

    fn read_u16(&self, offset: usize) -> u16 {
        debug_assert!(offset + 2 <= self.size);
        // SAFETY: as read_u32.
        unsafe {
            self.base
                .as_ptr()
                .add(offset)
                .cast::<u16>()
                .read_unaligned()
        }
    }

    /// The packet whose header is at `at` in block `block`, and the offset
    /// of the next one.
    ///
    /// SAFETY: the caller holds block `block` (its status is USER and it
    /// was not handed on) for all of `'a`, so the kernel does not write it
    /// while the returned slice lives, and the mapping outlives `'a`.
    unsafe fn packet<'a>(&self, block: u32, at: usize) -> (Packet<'a>, usize) {
        let block_end = ((block + 1) * BLOCK_SIZE) as usize;
        let mac = at + usize::from(self.read_u16(at + PKT_MAC));
        let snaplen = self.read_u32(at + PKT_SNAPLEN) as usize;
        // The kernel wrote these; still, never read outside the block.
        let data_end = (mac + snaplen).min(block_end).max(mac.min(block_end));
        let mac = mac.min(data_end);
        // SAFETY: [mac, data_end) lies inside this block of the mapping,
        // which the caller holds.
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
        let next = at + self.read_u32(at + PKT_NEXT) as usize;
        let packet = Packet {
            data,
            wire_len,
            time,
            packet_type,
        };
        (packet, next)
    }
}

/// The mapped ring and where we are in it.
pub struct Ring {
    map: Arc<Mapping>,
    /// The block we are reading (or waiting for).
    block: u32,
    /// Packets of that block read so far, not read yet, and the offset of
    /// the next one.
    read: u32,
    left: u32,
    next: usize,
    /// The block we finished is handed on at the next call, once its last
    /// packet is no longer borrowed.
    finished: Option<Block>,
    /// Who gets each finished block: by default it goes back to the kernel
    /// at once; a writer thread can take it first ([`Ring::hand_blocks_to`]).
    hand_on: Option<Box<dyn FnMut(Block) + Send>>,
}

/// One packet in the ring, borrowed until the next call.
pub struct Packet<'a> {
    pub data: &'a [u8],
    pub wire_len: usize,
    pub time: SystemTime,
    pub packet_type: u8,
}

/// A block the capture has read, held until [`Block::release`] (or drop)
/// gives it back to the kernel: the kernel will not write into it until
/// then. It can be sent to another thread, which reads its packets in
/// place, with no copy.
pub struct Block {
    map: Arc<Mapping>,
    index: u32,
    /// How many of its packets the capture read (all of them, unless it
    /// stopped inside this block): only those are the capture's.
    packets: u32,
    released: bool,
}

impl Block {
    /// The packets the capture read, in order.
    pub fn packets(&self) -> impl Iterator<Item = Packet<'_>> {
        let start = (self.index * BLOCK_SIZE) as usize;
        let block_end = start + BLOCK_SIZE as usize;
        let mut at = start + self.map.read_u32(start + BLOCK_FIRST) as usize;
        (0..self.packets).map_while(move |_| {
            if at + PKT_PKTTYPE >= block_end {
                return None; // a corrupt offset: never read outside the block
            }
            // SAFETY: we hold this block until release.
            let (packet, next) = unsafe { self.map.packet(self.index, at) };
            at = next;
            Some(packet)
        })
    }

    /// Gives the block back to the kernel.
    pub fn release(mut self) {
        self.give_back();
    }

    fn give_back(&mut self) {
        if !self.released {
            self.released = true;
            // Release: after all our reads of the block.
            (self.map.status(self.index)).store(TP_STATUS_KERNEL, Ordering::Release);
        }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        self.give_back();
    }
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
        let base = NonNull::new(base.cast()).context("mmap returned null")?;
        Ok(Ring {
            map: Arc::new(Mapping { base, size }),
            block: 0,
            read: 0,
            left: 0,
            next: 0,
            finished: None,
            hand_on: None,
        })
    }

    /// From now on every block the capture has read goes to `hand_on`
    /// (a writer thread), which gives it back to the kernel when done.
    pub fn hand_blocks_to(&mut self, hand_on: impl FnMut(Block) + Send + 'static) {
        self.hand_on = Some(Box::new(hand_on));
    }

    /// Finished blocks go back to the kernel at once again (dropping the
    /// writer's end, so that the writer sees the last block came).
    pub fn stop_handing_on(&mut self) {
        self.hand_on = None;
    }

    /// Whether [`Ring::next_packet`] has something: a packet left in the
    /// block being read, or the next block handed over.
    pub fn ready(&self) -> bool {
        self.left > 0 || self.map.status(self.block).load(Ordering::Acquire) & TP_STATUS_USER != 0
    }

    /// The next packet, or `None` when the kernel has handed us nothing new
    /// (then wait for the socket to be readable: poll() says when a block
    /// is ours).
    pub fn next_packet(&mut self) -> Option<Packet<'_>> {
        self.hand_on_finished();
        if self.left == 0 {
            // Acquire: the packets are visible once the status says USER.
            if self.map.status(self.block).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
                return None;
            }
            let start = (self.block * BLOCK_SIZE) as usize;
            self.read = 0;
            self.left = self.map.read_u32(start + BLOCK_NUM_PKTS);
            self.next = start + self.map.read_u32(start + BLOCK_FIRST) as usize;
            if self.left == 0 {
                self.finish_block();
                return self.next_packet();
            }
        }
        let at = self.next;
        let block_end = ((self.block + 1) * BLOCK_SIZE) as usize;
        // SAFETY: the status said USER, and we hand the block on only once
        // this packet is no longer borrowed (at the next call).
        let (packet, next) = unsafe { self.map.packet(self.block, at) };
        self.read += 1;
        self.left -= 1;
        self.next = next;
        if self.left == 0 || self.next + PKT_PKTTYPE >= block_end {
            self.left = 0;
            self.finish_block();
        }
        Some(packet)
    }

    /// The capture is over: hands on the block it stopped in, with the
    /// packets it read from it (a writer must save exactly those).
    pub fn finish(&mut self) {
        self.hand_on_finished();
        if self.left > 0 {
            self.left = 0;
            self.finish_block();
            self.hand_on_finished();
        }
    }

    /// This block is read: hand it on at the next call, move on.
    fn finish_block(&mut self) {
        self.finished = Some(Block {
            map: Arc::clone(&self.map),
            index: self.block,
            packets: self.read,
            released: false,
        });
        self.block = (self.block + 1) % BLOCKS;
    }

    fn hand_on_finished(&mut self) {
        if let Some(block) = self.finished.take() {
            match &mut self.hand_on {
                Some(hand_on) => hand_on(block),
                None => block.release(),
            }
        }
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
