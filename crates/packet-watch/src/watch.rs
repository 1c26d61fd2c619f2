//! The loop that ties the lesson together: read a frame (from the packet
//! socket or a pcap file), save it, decode it, follow its TCP connection,
//! print it; at the end, what each connection did and what the kernel lost.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use common::log;
use common::stop::{Stop, Wait};

use crate::bpf;
use crate::capture::Capture;
use crate::decode::{self, LinkType, Transport};
use crate::output::{Format, Printer, Shown};
use crate::pcap;
use crate::ring::RETIRE_WAIT;
use crate::track::Tracker;
use crate::writer::Handoff;

#[derive(clap::Args, Debug)]
pub struct Options {
    /// The interface to capture on (`ip link` lists them).
    #[arg(long, default_value = "lo", value_name = "NAME")]
    pub interface: String,
    /// Keep only TCP and UDP packets from or to this port, filtered in the
    /// kernel (repeat for more ports, at most 16).
    #[arg(long = "port", value_name = "N")]
    pub ports: Vec<u16>,
    /// Stop after this many packets.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// One JSON object per packet instead of a line of text.
    #[arg(long, conflicts_with = "layers")]
    pub json: bool,
    /// Print each packet peeled into its layers: link, network, transport,
    /// application.
    #[arg(long)]
    pub layers: bool,
    /// Also write every captured packet to FILE, in the pcap format that
    /// tcpdump and Wireshark read.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Decode a pcap file instead of capturing (no root needed).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["pcap", "interface"])]
    pub read: Option<PathBuf>,
    /// Print the BPF program the port filter compiles to (as `tcpdump -d`
    /// prints one) and exit.
    #[arg(long)]
    pub dump_filter: bool,
}

/// How long, after Ctrl-C, we keep reading what the kernel had already
/// queued: enough to empty the queue, short enough to stop within 2 s.
const DRAIN: Duration = Duration::from_millis(500);
/// Then how long the writer threads get to write what is left: a stdout
/// that nobody reads must not hold up a stop.
const CLOSE: Duration = Duration::from_secs(1);
/// The pcap file is handed to its writer thread in batches of this size.
const PCAP_BATCH: usize = 256 * 1024;

/// Everything a frame goes through, whatever its source.
struct Pipeline {
    printer: Printer,
    tracker: Tracker,
    pcap: Option<pcap::Writer<Handoff>>,
    ports: Vec<u16>,
    shown: u64,
    count: Option<u64>,
}

impl Pipeline {
    /// Returns whether `--count` is reached.
    fn frame(
        &mut self,
        link: LinkType,
        time: SystemTime,
        data: &[u8],
        wire_len: usize,
    ) -> Result<bool> {
        let packet = decode::decode(link, data);
        // A file holds everything; the port filter applies to it here.
        // (A live capture was filtered by the kernel already.)
        if !self.ports.is_empty() {
            let ours = packet.endpoints().is_some_and(|(s, d)| {
                self.ports.contains(&s.port()) || self.ports.contains(&d.port())
            });
            if !ours {
                return Ok(false);
            }
        }
        if let Some(writer) = &mut self.pcap {
            writer.write(time, data, wire_len)?;
        }
        let seen = match (&packet.transport, packet.endpoints()) {
            (Transport::Tcp(tcp), Some((src, dst))) => {
                let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
                self.tracker
                    .segment(since, src, dst, tcp, packet.payload.len())
            }
            _ => None,
        };
        self.shown += 1;
        self.printer.packet(&Shown {
            number: self.shown,
            time,
            packet: &packet,
            seen,
            captured: data.len(),
            wire_len,
        })?;
        Ok(self.count.is_some_and(|c| self.shown >= c))
    }

    fn flush(&mut self) -> Result<()> {
        self.printer.flush()?;
        if let Some(writer) = &mut self.pcap {
            writer.flush()?;
        }
        Ok(())
    }

    /// Waits until every line and packet is written: up to `patience` in
    /// all (`None`: as long as it takes).
    fn close(&mut self, patience: Option<Duration>) -> Result<()> {
        let deadline = patience.map(|p| Instant::now() + p);
        let left = || deadline.map(|d| d.saturating_duration_since(Instant::now()));
        self.printer.close(left())?;
        if let Some(writer) = &mut self.pcap {
            let path = writer.path().display().to_string();
            let patience = left();
            (writer.inner_mut().close(patience)).with_context(|| format!("writing {path}"))?;
        }
        Ok(())
    }

    /// What each TCP connection did, on stderr.
    fn summary(&self) {
        for conn in &self.tracker.connections {
            let [a, b] = &conn.sides;
            let (Some(a_addr), Some(b_addr)) = (a.addr, b.addr) else {
                continue;
            };
            let handshake = conn.handshake.map_or("not seen".into(), |d| {
                format!("{:.3} ms", d.as_secs_f64() * 1000.0)
            });
            log!("connection {a_addr} <> {b_addr}: handshake (SYN to SYN-ACK) {handshake}");
            for (side, to) in [(a, b_addr), (b, a_addr)] {
                log!(
                    "  {} > {to}: {} bytes, {} retransmitted segments, {} duplicate ACKs, \
                     {} zero-window advertisements",
                    side.addr.map_or(String::new(), |a| a.to_string()),
                    side.bytes,
                    side.retransmissions,
                    side.duplicate_acks,
                    side.zero_windows
                );
            }
        }
        if self.tracker.untracked > 0 {
            log!(
                "{} segments of connections beyond the first {} were not tracked",
                self.tracker.untracked,
                crate::track::MAX_CONNECTIONS
            );
        }
    }
}

pub fn run(opts: &Options) -> Result<()> {
    if opts.dump_filter {
        let program = bpf::program(&opts.ports, opts.interface == "lo");
        let mut printer = Printer::new(Format::Text, None)?;
        printer.line(bpf::disassemble(&program).trim_end())?;
        return printer.close(None);
    }
    let format = if opts.json {
        Format::Json
    } else if opts.layers {
        Format::Layers
    } else {
        Format::Text
    };
    match &opts.read {
        Some(path) => {
            let pipeline = Pipeline::new(Printer::new(format, None)?, opts.count);
            read_file(path, opts, pipeline)
        }
        None => {
            let stop = Stop::from_signals()?;
            let pipeline = Pipeline::new(Printer::new(format, Some(stop.clone()))?, opts.count);
            live(opts, pipeline, &stop)
        }
    }
}

impl Pipeline {
    fn new(printer: Printer, count: Option<u64>) -> Pipeline {
        Pipeline {
            printer,
            tracker: Tracker::default(),
            pcap: None,
            ports: Vec::new(),
            shown: 0,
            count,
        }
    }
}

fn live(opts: &Options, mut pipeline: Pipeline, stop: &Stop) -> Result<()> {
    let mut capture = Capture::open(&opts.interface, &opts.ports)?;
    // The file only now, as tcpdump does: a capture that cannot start (no
    // privilege, no such interface) must not have emptied an existing file.
    if let Some(path) = &opts.pcap {
        let file =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let out = Handoff::spawn("pcap", file, PCAP_BATCH, Some(stop.clone()))
            .context("starting the thread that writes the pcap file")?;
        pipeline.pcap = Some(pcap::Writer::new(out, path, LinkType::Ethernet)?);
    }
    // Only now, with the filter attached and the socket bound, is the
    // capture really on: this line says so (tests wait for it).
    pipeline
        .printer
        .line(&format!("capturing on {}", opts.interface))?;
    capture_loop(&mut capture, &mut pipeline, stop)?;
    // After a stop, a writer blocked on a pipe nobody reads (or a disk far
    // behind) gets a second; if that is not enough, the summary still
    // comes, then the error says what was not written.
    let closed = pipeline.close(stop.is_stopped().then_some(CLOSE));
    pipeline.summary();
    let (passed, dropped) = capture.statistics()?;
    log!(
        "captured {} packets; kernel: {passed} passed the filter, {dropped} dropped",
        pipeline.shown
    );
    closed
}

/// Reads the ring until a stop (then what was queued, for at most DRAIN),
/// `--count`, or an error.
fn capture_loop(capture: &mut Capture, pipeline: &mut Pipeline, stop: &Stop) -> Result<()> {
    // Set by a stop: until then, keep reading what was already queued.
    let mut drain_until: Option<Instant> = None;
    loop {
        if let Some(frame) = capture.try_next()? {
            if pipeline.frame(LinkType::Ethernet, frame.time, frame.data, frame.wire_len)? {
                return Ok(()); // --count reached
            }
            // Under a flood the queue is never empty, so look for a stop here too.
            if drain_until.is_none() && stop.is_stopped() {
                drain_until = Some(Instant::now() + DRAIN);
            }
            if drain_until.is_some_and(|d| Instant::now() >= d) {
                return Ok(());
            }
            continue;
        }
        // Nothing queued: hand over what we have before we sleep.
        pipeline.flush()?;
        if let Some(deadline) = drain_until {
            // Stopped, and the ring is empty but for a block the kernel is
            // still filling: it hands it over within a few milliseconds.
            if Instant::now() < deadline && capture.wait(RETIRE_WAIT)? {
                continue;
            }
            return Ok(());
        }
        match stop.wait_readable(capture, None)? {
            Wait::Ready => capture.check()?,
            Wait::Stopped | Wait::TimedOut => drain_until = Some(Instant::now() + DRAIN),
        }
    }
}

fn read_file(path: &std::path::Path, opts: &Options, mut pipeline: Pipeline) -> Result<()> {
    let mut reader = pcap::Reader::open(path)?;
    let link = reader.link;
    pipeline.ports = opts.ports.clone();
    let mut result = Ok(());
    loop {
        match reader.next_record() {
            Ok(Some(record)) => {
                match pipeline.frame(link, record.time, record.data, record.wire_len) {
                    Ok(false) => {}
                    Ok(true) => break,
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            Ok(None) => break,
            // The packets before a cut are shown; then the error.
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    // Every line written before the summary; the first error is the one to
    // report (a closed stdout fails again here).
    if let Err(e) = pipeline.close(None) {
        return result.and(Err(e));
    }
    pipeline.summary();
    log!("read {} packets from {}", reader.count(), path.display());
    result
}
