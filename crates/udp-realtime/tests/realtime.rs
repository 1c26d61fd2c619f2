//! Integration tests: the real `udp-realtime` binary on loopback, port 0.
//! The receivers here use a generous playout (300 ms) so a busy test
//! machine cannot make a frame late: these tests are about what arrives
//! and how it is counted; the lab checks (scripts/scenarios/lab.sh) are
//! about timing and loss.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use test_support::{Server, refused_port, run, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_udp-realtime");

fn receiver(extra: &[&str]) -> Server {
    let mut args = vec!["receive", "--port", "0", "--playout-ms", "300"];
    args.extend_from_slice(extra);
    Server::start(BIN, &args)
}

/// The receiver's final line, as a map of counter to value.
fn counters(server: &Server) -> (String, HashMap<String, u64>) {
    let line = server.wait_stdout("frames=");
    let map = line
        .split(' ')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().expect("a number")))
        .collect();
    (line, map)
}

/// A file name in the temp directory, unique to this test and process.
fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("udp-realtime-{}-{name}", std::process::id()))
}

/// What Python's `wave` module says about a WAV file:
/// "channels sample-width rate frames", and the peak sample.
fn python_wave(path: &PathBuf) -> String {
    let script = "import sys, wave, array\n\
        w = wave.open(sys.argv[1])\n\
        data = array.array('h', w.readframes(w.getnframes()))\n\
        print(w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes(), max(map(abs, data), default=0))";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "python3 wave: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

#[test]
fn no_loss_on_loopback_plays_every_frame_from_the_primary_and_the_wav_is_valid() {
    let wav = temp("primary.wav");
    let server = receiver(&["--wav", wav.to_str().unwrap()]);
    let port = server.addr().port().to_string();
    let out = run(BIN, &["send", "--port", &port, "--seconds", "1"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("sent 50 frames (1.00 s of audio) in 1.0"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("redundancy 1 (816-byte datagrams)"));
    let (line, _) = counters(&server);
    assert_eq!(
        line,
        "frames=50 primary=50 redundant=0 concealed=0 late=0 duplicate=0 reordered=0 invalid=0"
    );
    server.wait_stderr("wrote 50 frames (1.00 s)");
    let info = python_wave(&wav);
    std::fs::remove_file(&wav).unwrap();
    let fields: Vec<u64> = info.split(' ').map(|f| f.parse().unwrap()).collect();
    // Mono, 16-bit, 16 kHz, exactly 1 s, and not silence.
    assert_eq!(&fields[..4], &[1, 2, 16_000, 16_000], "{info}");
    assert!(fields[4] > 4000, "peak {info}");
}

#[test]
fn over_tcp_on_loopback_every_frame_plays_from_the_primary() {
    let wav = temp("tcp.wav");
    let server = receiver(&["--tcp", "--wav", wav.to_str().unwrap()]);
    let port = server.addr().port().to_string();
    let out = run(
        BIN,
        &[
            "send",
            "--tcp",
            "--port",
            &port,
            "--seconds",
            "1",
            "--redundancy",
            "2",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (line, _) = counters(&server);
    assert_eq!(
        line,
        "frames=50 primary=50 redundant=0 concealed=0 late=0 duplicate=0 reordered=0 invalid=0"
    );
    server.wait_stderr("wrote 50 frames");
    let info = python_wave(&wav);
    std::fs::remove_file(&wav).unwrap();
    assert!(info.starts_with("1 2 16000 16000 "), "{info}");
}

/// A datagram in the documented format, built here from DESIGN.md's
/// description, not with the lesson's code.
fn datagram(seq: u32, copies: &[(u8, [u8; 160])]) -> Vec<u8> {
    let mut d = b"SLRT".to_vec();
    d.extend(seq.to_be_bytes());
    d.extend(seq.wrapping_mul(320).to_be_bytes());
    d.push(copies.len() as u8);
    for (distance, mulaw) in copies {
        d.push(*distance);
        d.extend(160u16.to_be_bytes());
        d.extend(mulaw);
    }
    for n in 0..320u32 {
        d.extend((seq.wrapping_mul(320).wrapping_add(n) as i16).to_le_bytes());
    }
    d
}

/// Sends `frames` datagrams at 20 ms intervals (absolute deadlines: this
/// is the stream's pace, not a wait for the receiver), and calls `also`
/// after each one with the frame's sequence number.
fn stream(socket: &UdpSocket, to: std::net::SocketAddr, frames: u32, mut also: impl FnMut(u32)) {
    let start = Instant::now();
    for seq in 0..frames {
        let due = start + Duration::from_millis(20 * u64::from(seq));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        socket.send_to(&datagram(seq, &[]), to).unwrap();
        also(seq);
    }
}

#[test]
fn hostile_datagrams_change_only_invalid_and_duplicate_and_the_stream_plays_on() {
    let server = receiver(&[]);
    let to = server.addr();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut hostile = 0u64;
    let mut big = datagram(0, &[]);
    big.resize(3000, 0);
    let mut no_magic = datagram(7, &[]);
    no_magic[0] = b'X';
    let mut bad_k = datagram(8, &[]);
    bad_k[12] = 9;
    stream(&sender, to, 50, |seq| {
        // A duplicate of everything, from the sender itself.
        sender.send_to(&datagram(seq, &[]), to).unwrap();
        let forged: &[Vec<u8>] = match seq % 5 {
            // Garbage and truncations.
            0 => &[
                b"hello".to_vec(),
                b"SLRT".to_vec(),
                datagram(seq, &[])[..652].to_vec(),
            ],
            // A sequence jump of 2^31, and far behind: out of the window.
            1 => &[
                datagram(seq ^ (1 << 31), &[]),
                datagram(seq.wrapping_sub(5000), &[(1, [0; 160])]),
            ],
            // No magic, K = 9, and a datagram longer than any of ours.
            2 => &[no_magic.clone(), bad_k.clone(), big.clone()],
            _ => &[],
        };
        for bytes in forged {
            sender.send_to(bytes, to).unwrap();
            hostile += 1;
        }
        // A stranger's stream, valid in every byte, just not the sender's.
        if seq > 0 {
            stranger.send_to(&datagram(seq + 1, &[]), to).unwrap();
            hostile += 1;
        }
    });
    let (line, _) = counters(&server);
    assert_eq!(
        line,
        format!(
            "frames=50 primary=50 redundant=0 concealed=0 late=0 duplicate=50 reordered=0 invalid={hostile}"
        )
    );
    server.wait_stderr("(further invalid datagrams are counted, not logged)");
    server.wait_stderr("not from the stream's sender");
}

#[test]
fn a_lost_frame_plays_from_the_next_datagrams_copy_and_late_ones_are_counted() {
    let server = receiver(&[]);
    let to = server.addr();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let start = Instant::now();
    // 10 frames, each with a copy of the one before (mu-law of silence is
    // 0xFF); frame 4 is not sent, and frame 7 only after 2 s, far too late.
    for seq in 0..10u32 {
        let due = start + Duration::from_millis(20 * u64::from(seq));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        if seq != 4 && seq != 7 {
            sender
                .send_to(&datagram(seq, &[(1, [0xFF; 160])]), to)
                .unwrap();
        }
    }
    // Slot 7 plays 300 + 140 ms after the first arrival (from 8's copy);
    // frame 7 leaves 1 s after the first. Not a wait for the receiver: the
    // point of this frame is to be late, as a frame resent after a
    // retransmission timeout would be.
    std::thread::sleep((start + Duration::from_secs(1)).saturating_duration_since(Instant::now()));
    sender.send_to(&datagram(7, &[]), to).unwrap();
    let (line, _) = counters(&server);
    assert_eq!(
        line,
        "frames=10 primary=8 redundant=2 concealed=0 late=1 duplicate=0 reordered=1 invalid=0"
    );
}

#[test]
fn a_stop_ends_the_receiver_within_2_s_with_the_report() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let mut server = receiver(&[]);
        let port = server.addr().port().to_string();
        // A sender that would go on for 5 s.
        let mut sender = Command::new(BIN)
            .args(["send", "--port", &port, "--seconds", "5"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        server.wait_stderr("stream from");
        let (status, took) = server.stop_with(signal);
        let _ = sender.kill();
        let _ = sender.wait();
        assert!(status.success(), "{status:?}");
        assert!(took < Duration::from_secs(2), "took {took:?}");
        let (_, c) = counters(&server);
        assert_eq!(c["frames"], c["primary"] + c["redundant"] + c["concealed"]);
    }
}

#[test]
fn a_receiver_that_never_hears_a_stream_stops_on_sigterm() {
    let mut server = receiver(&["--tcp"]);
    let (status, took) = server.stop_with(libc::SIGTERM);
    assert!(
        status.success() && took < Duration::from_secs(2),
        "{status:?} {took:?}"
    );
    let (line, _) = counters(&server);
    assert!(line.starts_with("frames=0 primary=0"), "{line}");
    server.wait_stderr("no stream arrived");
}

#[test]
fn values_that_cannot_make_sense_are_usage_errors() {
    for args in [
        &["send", "--redundancy", "3"][..],
        &["send", "--seconds", "0"],
        &["send", "--seconds", "-1"],
        &["send", "--seconds", "1", "--input", "x.wav"],
        &["receive", "--playout-ms", "0"],
        &["receive", "--playout-ms", "10001"],
        &["receive", "--port", "65536"],
    ] {
        let out = run(BIN, args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn nobody_receiving_is_exit_1_with_the_hint_to_start_the_receiver() {
    let (_held, port) = refused_port();
    let port = port.to_string();
    let out = run(
        BIN,
        &["send", "--tcp", "--port", &port, "--seconds", "1"],
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Connection refused"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("Start it with `cargo run -p udp-realtime -- receive --tcp`"),
        "{}",
        stderr(&out)
    );
    // UDP: the kernel reports the ICMP port unreachable on a later send.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port().to_string();
    drop(socket);
    let out = run(BIN, &["send", "--port", &port, "--seconds", "1"], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nobody receives there"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("cargo run -p udp-realtime -- receive"));
}

#[test]
fn an_input_wav_is_converted_and_sent() {
    let input = temp("input.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&input, spec).unwrap();
    for n in 0..4000 {
        // Half a second of a 500 Hz tone, the same in both channels.
        let s = ((n as f64 * 500.0 * std::f64::consts::TAU / 8000.0).sin() * 10_000.0) as i16;
        writer.write_sample(s).unwrap();
        writer.write_sample(s).unwrap();
    }
    writer.finalize().unwrap();
    let output = temp("converted.wav");
    let server = receiver(&["--wav", output.to_str().unwrap()]);
    let port = server.addr().port().to_string();
    let out = run(
        BIN,
        &["send", "--port", &port, "--input", input.to_str().unwrap()],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("sent 25 frames (0.50 s of audio)"),
        "{}",
        stdout(&out)
    );
    let (_, c) = counters(&server);
    assert_eq!((c["frames"], c["primary"]), (25, 25));
    server.wait_stderr("wrote 25 frames");
    let info = python_wave(&output);
    std::fs::remove_file(&input).unwrap();
    std::fs::remove_file(&output).unwrap();
    let fields: Vec<u64> = info.split(' ').map(|f| f.parse().unwrap()).collect();
    assert_eq!(&fields[..4], &[1, 2, 16_000, 8000], "{info}");
    assert!(fields[4] > 9000 && fields[4] <= 10_000, "{info}");
    // Not a WAV file: exit 1, saying which file.
    let out = run(
        BIN,
        &["send", "--port", &port, "--input", "/etc/hostname"],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("error: reading /etc/hostname"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn trace_narrates_one_line_per_datagram_on_each_side() {
    let server = Server::start(
        BIN,
        &["receive", "--port", "0", "--playout-ms", "300", "--trace"],
    );
    let port = server.addr().port().to_string();
    let out = run(
        BIN,
        &[
            "send",
            "--port",
            &port,
            "--seconds",
            "0.2",
            "--redundancy",
            "0",
            "--trace",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let sends = stderr(&out)
        .lines()
        .filter(|l| l.starts_with("trace: send() -> 653 bytes (seq "))
        .count();
    assert_eq!(sends, 10, "{}", stderr(&out));
    assert!(stderr(&out).contains("trace: connect(127.0.0.1:"));
    counters(&server);
    let lines = server.stderr_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("trace: bind(127.0.0.1:"))
    );
    let received = lines
        .iter()
        .filter(|l| l.starts_with("trace: recvfrom() -> 653 bytes from 127.0.0.1:"))
        .count();
    assert_eq!(received, 10, "{lines:?}");
}

#[test]
fn the_senders_trace_is_what_the_kernel_saw() {
    let server = receiver(&[]);
    let port = server.addr().port().to_string();
    let args = ["send", "--port", &port, "--seconds", "0.2", "--trace"];
    let (out, calls) = test_support::strace::run(BIN, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    // One `send() -> N bytes` line per sendto() the kernel saw, same N:
    // 653 for the first datagram (no earlier frame to copy), then 816.
    let narrated: Vec<i64> = stderr(&out)
        .lines()
        .filter_map(|l| l.strip_prefix("trace: send() -> "))
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    let sent: Vec<i64> = calls
        .iter()
        .filter(|c| c.name == "sendto")
        .map(|c| c.ret.expect("sendto succeeded"))
        .collect();
    assert_eq!(narrated, sent);
    assert_eq!(sent.len(), 10);
    assert_eq!((sent[0], sent[1]), (653, 816));
    for name in ["socket", "bind", "connect"] {
        assert!(
            calls.iter().any(|c| c.name == name),
            "no {name}() in {calls:?}"
        );
    }
    counters(&server);
}

#[test]
fn the_receivers_trace_is_what_the_kernel_saw() {
    use test_support::strace::Attached;
    let server = Server::start(
        BIN,
        &["receive", "--port", "0", "--playout-ms", "300", "--trace"],
    );
    let strace = Attached::to(server.pid());
    let port = server.addr().port().to_string();
    let out = run(BIN, &["send", "--port", &port, "--seconds", "0.2"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    counters(&server);
    // The receiver exits by itself after its report: wait for that, rather
    // than detach strace from a process that is exiting.
    let calls = strace.until_exit();
    // Every recvfrom() that returned a datagram, narrated with its size;
    // the ones that found nothing (EAGAIN: back to the clock) are not.
    let kernel: Vec<i64> = calls
        .iter()
        .filter(|c| c.name == "recvfrom")
        .filter_map(|c| c.ret)
        .collect();
    let narrated: Vec<i64> = server
        .stderr_lines()
        .iter()
        .filter_map(|l| l.strip_prefix("trace: recvfrom() -> "))
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect();
    assert_eq!(kernel.len(), 10, "{calls:#?}");
    assert_eq!(narrated, kernel);
}

/// A sender that started and wrote a line on stderr containing `pattern`;
/// killed when dropped.
struct Sender(std::process::Child);

impl Sender {
    fn start(args: &[&str], pattern: &str) -> Sender {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let err = BufReader::new(child.stderr.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let sender = Sender(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        while !seen.iter().any(|l: &String| l.contains(pattern)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => seen.push(line),
                Err(_) => panic!("no {pattern:?} from the sender: {seen:#?}"),
            }
        }
        sender
    }

    /// The most memory the process has held (VmHWM), in KiB.
    fn peak_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A WAV file's own numbers decide how much audio it holds: 3600 samples
/// at a rate of 1 Hz are an hour, which is 115 MB at 16 kHz, the most
/// `--input` takes. The conversion must not need several times that (it
/// held every sample as a float, three times over: 565 MB for a 7 KB
/// file; a real hour of 48 kHz stereo would have taken 4 GB).
#[test]
fn an_input_wav_takes_no_more_memory_than_its_audio_at_16_khz() {
    let input = temp("one-hertz.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 1,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&input, spec).unwrap();
    for n in 0..3600 {
        writer.write_sample((n % 100) as i16 * 100).unwrap();
    }
    writer.finalize().unwrap();
    // Somewhere to send that nobody answers from: a bound UDP socket.
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sink.local_addr().unwrap().port().to_string();
    let args = ["send", "--port", &port, "--input", input.to_str().unwrap()];
    // The samples are converted before the first datagram: once it says
    // what it is sending, the peak is behind it.
    let sender = Sender::start(&args, "180000 frames of 20 ms");
    let peak = sender.peak_kib();
    drop(sender);
    std::fs::remove_file(&input).unwrap();
    // 115 200 000 bytes of samples, and a little for the program itself.
    assert!(peak < 150 * 1024, "peak {peak} KiB");
}
