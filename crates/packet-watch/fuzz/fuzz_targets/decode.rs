//! Coverage-guided fuzzing of the packet decoder: any bytes, as any of the
//! three link types (the first byte chooses), must decode without a panic,
//! report a payload that lies inside the frame, and print in all three
//! formats without a panic.

#![no_main]

use std::time::UNIX_EPOCH;

use libfuzzer_sys::fuzz_target;
use packet_watch::decode::{self, LinkType, Transport};
use packet_watch::output::{self, Shown};
use packet_watch::track::Tracker;

fuzz_target!(|input: &[u8]| {
    let Some((&first, frame)) = input.split_first() else {
        return;
    };
    let link = match first % 3 {
        0 => LinkType::Ethernet,
        1 => LinkType::LinuxSll,
        _ => LinkType::RawIp,
    };
    let packet = decode::decode(link, frame);
    assert!(decode::is_within(packet.payload, frame));
    let mut tracker = Tracker::default();
    let seen = match (&packet.transport, packet.endpoints()) {
        (Transport::Tcp(tcp), Some((src, dst))) => {
            tracker.segment(Default::default(), src, dst, tcp, packet.payload.len())
        }
        _ => None,
    };
    let shown = Shown {
        number: 1,
        time: UNIX_EPOCH,
        packet: &packet,
        seen,
        captured: frame.len(),
        wire_len: frame.len(),
    };
    let _ = output::text_line(&shown);
    let _ = output::json_line(&shown);
    let _ = output::layers(&shown);
});
