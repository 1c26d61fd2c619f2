//! udp-realtime, bare: live audio over UDP, std only. The client sends a
//! numbered 20 ms frame (a 1 kHz tone) every 20 ms, never twice: it would
//! come too late. The server plays slot N at first arrival + 60 ms + N x
//! 20 ms with what came in time. Datagrams as in the full lesson: "SLRT",
//! u32 sequence, u32 timestamp, u8 K = 0, then 640 bytes of 16 kHz PCM.
//! $ cargo run -p udp-realtime --example udp-realtime-bare -- server   # then: -- client 5
use std::collections::BTreeMap;
use std::io::{self, ErrorKind, Write};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

const FRAME: Duration = Duration::from_millis(20); // 320 samples at 16 kHz
const PLAYOUT: Duration = Duration::from_millis(60); // the jitter we absorb
const USAGE: &str = "usage: server | client [SECONDS] [--port N]";

fn main() -> io::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut port = 7005;
    if let Some(at) = args.iter().position(|arg| arg == "--port") {
        let value = args.get(at + 1).and_then(|p| p.parse().ok());
        port = value.ok_or_else(|| io::Error::other("--port takes a number"))?;
        args.drain(at..at + 2);
    }
    match args.first().map(String::as_str) {
        Some("server") => server(port),
        Some("client") => client(port, args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5)),
        _ => Err(io::Error::other(USAGE)),
    }
}

fn client(port: u16, seconds: u16) -> io::Result<()> {
    let (socket, start) = (UdpSocket::bind("127.0.0.1:0")?, Instant::now());
    socket.connect(("127.0.0.1", port))?;
    let tone = (0..320).map(|n| ((n as f64 / 16.0 * std::f64::consts::TAU).sin() * 8e3) as i16);
    for seq in 0..u32::from(seconds) * 50 {
        let mut datagram = [*b"SLRT", seq.to_be_bytes(), (seq * 320).to_be_bytes()].concat();
        datagram.push(0); // K: no low-quality copies of earlier frames
        datagram.extend(tone.clone().flat_map(i16::to_le_bytes));
        // Frame N leaves at start + N x 20 ms: absolute deadlines never drift.
        std::thread::sleep((start + FRAME * seq).saturating_duration_since(Instant::now()));
        socket.send(&datagram)?;
    }
    Ok(())
}

fn server(port: u16) -> io::Result<()> {
    let socket = UdpSocket::bind(("127.0.0.1", port))?;
    writeln!(io::stdout(), "listening on {}", socket.local_addr()?)?;
    let (mut data, mut waiting, mut played) = ([0u8; 2048], BTreeMap::new(), 0); // to play
    let (mut start, mut heard, mut first, mut slot, mut newest) = (None, Instant::now(), 0, 0, 0);
    while start.is_none() || slot <= newest || heard.elapsed() < Duration::from_secs(2) {
        let due = start.map(|at: Instant| at + FRAME * (slot - first) as u32);
        let left = due.map(|due| due.saturating_duration_since(Instant::now()));
        if left.is_some_and(|left| left.is_zero()) {
            // The slot's moment: play its frame if it came, else it is a gap.
            played += u64::from(waiting.remove(&slot).is_some()); // to the speaker
            slot += 1;
            continue;
        }
        // Until then (before the stream: as long as it takes), receive.
        socket.set_read_timeout(left)?;
        match socket.recv(&mut data) {
            Ok(len) if len >= 653 && data.starts_with(b"SLRT") => {
                let seq = u64::from(u32::from_be_bytes([data[4], data[5], data[6], data[7]]));
                if start.is_none() {
                    (start, first, slot) = (Some(Instant::now() + PLAYOUT), seq, seq);
                }
                if seq >= slot {
                    waiting.insert(seq, data[len - 640..len].to_vec()); // frame is last
                    (heard, newest) = (Instant::now(), newest.max(seq));
                } // else: its slot has played; late is as good as lost
            }
            Ok(_) => {} // not one of ours
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
    }
    let frames = newest - first + 1; // after 2 s without a datagram
    writeln!(io::stdout(), "played {played} of {frames} frames")
}
