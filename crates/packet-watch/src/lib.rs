//! packet-watch as a library: each idea of the lesson is one module, so the
//! fuzzer (`fuzz/`) can drive the decoder without the CLI, and the binary
//! (`main.rs`) only parses arguments and calls [`watch::run`].
//!
//! Reading order: [`capture`] (the packet socket), [`bpf`] (the kernel
//! filter), [`ring`] (the memory the kernel writes packets into), [`decode`] (peeling the layers), [`track`] (TCP's reliability,
//! seen from outside), [`output`] (the three ways a packet is printed),
//! [`pcap`] (the file format tcpdump and Wireshark read), [`watch`],
//! which ties them into the loop, and [`writer`], the thread that writes
//! the output so that the loop never waits for a disk or a pipe.

pub mod bpf;
pub mod capture;
pub mod decode;
pub mod output;
pub mod pcap;
pub mod ring;
pub mod track;
pub mod watch;
pub mod writer;
