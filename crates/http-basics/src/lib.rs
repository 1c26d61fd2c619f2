//! The protocol pieces of the http-basics lesson as a library, so that the
//! fuzzer (`fuzz/`), the property tests and any program that copies this
//! lesson can use them without the CLI. The binary (`main.rs`) uses them
//! from here too.

pub mod body;
pub mod date;
pub mod form;
pub mod head;
pub mod path;
pub mod request;
pub mod response;
pub mod url;
pub mod wire;
