//! The framing options shared by the server and the client, so both
//! sides always agree on the format.

use framing::codec::{self, Strategy};

#[derive(clap::Args, Clone)]
pub struct FramingArgs {
    /// How messages are delimited on the wire.
    #[arg(long, value_enum)]
    pub strategy: Strategy,
    /// Record size for `fixed`.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub size: u32,
    /// Delimiter for `delimiter`; escapes \n \r \t \0 \\ \xNN are understood.
    #[arg(long, default_value = "\\n", value_parser = Delimiter::parse)]
    pub delimiter: Delimiter,
    /// Longest message for `delimiter`, in bytes.
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_len: usize,
    /// Longest message for `length`, `netstring` and `eof`, in bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_frame: usize,
}

/// The delimiter's bytes. A newtype, because clap reads a bare `Vec<u8>`
/// field as "many u8 arguments".
#[derive(Clone, Debug)]
pub struct Delimiter(pub Vec<u8>);

impl Delimiter {
    fn parse(text: &str) -> Result<Delimiter, String> {
        codec::delimiter::parse(text).map(Delimiter)
    }
}
