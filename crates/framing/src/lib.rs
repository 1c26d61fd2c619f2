//! The framing codecs as a library, so that the fuzzer (`fuzz/`) and any
//! program that copies this lesson can use them without the CLI. The
//! binary (`main.rs`) uses them from here too.

pub mod codec;
pub mod escape;
