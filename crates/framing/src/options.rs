//! The framing options shared by the server and the client, so both
//! sides always agree on the format.

use std::io::{self, Write};

use framing::codec::{self, Strategy};

#[derive(clap::Args, Clone)]
pub struct FramingArgs {
    /// How messages are delimited on the wire.
    #[arg(long, value_enum)]
    pub strategy: Strategy,
    /// Record size for `fixed`, in bytes (1 to 1048576).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub size: u32,
    /// Delimiter for `delimiter`; escapes \n \r \t \0 \\ \xNN are understood.
    #[arg(long, default_value = "\\n", value_parser = Delimiter::parse)]
    pub delimiter: Delimiter,
    /// Longest message for `delimiter`, in bytes (1 to 18446744073709551615).
    #[arg(long, default_value_t = 64 * 1024, value_parser = byte_limit)]
    pub max_len: usize,
    /// Longest message for `length`, `netstring` and `eof`, in bytes (1 to
    /// 18446744073709551615; a `length` header says at most 4294967295).
    #[arg(long, default_value_t = 1024 * 1024, value_parser = byte_limit)]
    pub max_frame: usize,
    /// Acknowledge delivery: once every message is printed, the server
    /// answers `ack N` (N messages), framed like the messages, and the
    /// client checks it. Both sides need it; off by default, as in the
    /// book's programs (`fixed` always has one: the farewell record).
    #[arg(long)]
    pub ack: bool,
}

impl FramingArgs {
    /// Frames one message for the wire with the chosen strategy. The
    /// writers refuse what their framing cannot carry (`InvalidInput`).
    pub fn write(&self, writer: &mut impl Write, message: &[u8]) -> io::Result<()> {
        match self.strategy {
            Strategy::Eof => codec::eof::write(writer, message),
            Strategy::Fixed => codec::fixed::write(writer, message, self.size as usize),
            Strategy::Delimiter => codec::delimiter::write(writer, message, &self.delimiter.bytes),
            Strategy::Length => codec::length::write(writer, message),
            Strategy::Netstring => codec::netstring::write(writer, message),
        }
    }

    /// The command that starts a server these options can talk to, for the
    /// hint after a refused connect.
    pub fn server_command(&self, port: u16) -> String {
        let mut command = format!(
            "cargo run -p framing -- server --strategy {}",
            self.strategy.name()
        );
        if port != 7003 {
            command += &format!(" --port {port}");
        }
        if self.strategy == Strategy::Fixed && self.size != 16 {
            command += &format!(" --size {}", self.size);
        }
        if self.strategy == Strategy::Delimiter && self.delimiter.text != "\\n" {
            command += &format!(
                " --delimiter '{}'",
                self.delimiter.text.replace('\'', r"'\''")
            );
        }
        if self.ack {
            command += " --ack";
        }
        command
    }
}

/// The delimiter's bytes, and the text they were given as.
#[derive(Clone, Debug)]
pub struct Delimiter {
    pub bytes: Vec<u8>,
    pub text: String,
}

impl Delimiter {
    fn parse(text: &str) -> Result<Delimiter, String> {
        let bytes = codec::delimiter::parse(text)?;
        let text = text.to_string();
        Ok(Delimiter { bytes, text })
    }
}

/// `--max-len` / `--max-frame`: a size a message may have, from 1 byte to
/// the largest `usize`. The largest is allowed on purpose: the decoders
/// must not trust a limit to keep them safe (they check their arithmetic,
/// and grow buffers with what arrives), so neither does the command line.
fn byte_limit(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "must be a number of bytes from 1 to {}",
            usize::MAX
        )),
    }
}
