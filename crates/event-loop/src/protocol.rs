//! The two protocols the loop speaks, both "a request ends with one byte":
//! `zen` (the book's, ending in `?`) and `echo` (tcp-threaded's lines,
//! ending in `\n`, so `make bench` compares the designs on the same work).
//!
//! [`Protocol::answer`] is the whole server-side logic: it takes whatever
//! bytes have arrived, answers every complete request in them, and says how
//! many bytes it used. The rest (half a request) waits for more bytes.

use anyhow::{Result, bail};

use crate::zen;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// The book's: `Beautiful is better than?` gets `Ugly.`, and so on.
    Zen,
    /// tcp-threaded's: every `\n`-terminated line comes back as it is.
    Echo,
}

impl Protocol {
    /// The byte that ends a request.
    pub fn terminator(self) -> u8 {
        match self {
            Protocol::Zen => b'?',
            Protocol::Echo => b'\n',
        }
    }

    /// What a request is called in log lines.
    pub fn noun(self) -> &'static str {
        match self {
            Protocol::Zen => "request",
            Protocol::Echo => "line",
        }
    }

    /// Answers the complete requests at the start of `input`, appending each
    /// reply to `out`, until none is left or `out` holds `limit` bytes (the
    /// caller's bound on unsent replies: what is not answered now stays in
    /// `input` until the client reads). Returns the bytes of `input` used
    /// and the number of requests answered.
    ///
    /// A request longer than `max_line` bytes (terminator excluded), or as
    /// many bytes with no terminator yet, is an error: its connection ends
    /// before it can make us buffer more.
    ///
    /// `searched`: how many bytes at the start of `input` an earlier call
    /// has already searched in vain (half a request kept for more bytes).
    /// The search for its end resumes after them: a long request arriving
    /// in many small pieces is then searched once, not once per piece,
    /// which would cost the loop (and everyone waiting on it) time growing
    /// with the square of its length.
    pub fn answer(
        self,
        input: &[u8],
        searched: usize,
        out: &mut Vec<u8>,
        limit: usize,
        max_line: usize,
    ) -> Result<(usize, u64)> {
        let end = self.terminator();
        let (mut used, mut answered) = (0, 0);
        let mut skip = searched.min(input.len());
        while out.len() < limit {
            let rest = &input[used..];
            let found = rest[skip..].iter().position(|&b| b == end);
            let Some(at) = found.map(|at| skip + at) else {
                if rest.len() > max_line {
                    bail!("{} longer than {max_line} bytes (--max-line)", self.noun());
                }
                break;
            };
            skip = 0; // only the first request was searched before
            if at > max_line {
                bail!("{} longer than {max_line} bytes (--max-line)", self.noun());
            }
            let request = &rest[..=at];
            match self {
                Protocol::Zen => out.extend_from_slice(zen::answer(request)),
                Protocol::Echo => out.extend_from_slice(request),
            }
            used += at + 1;
            answered += 1;
        }
        Ok((used, answered))
    }

    /// Why a connection that closed with `pending` bytes of an unfinished
    /// request is logged as it is (the book's `sent ... but then closed`).
    pub fn cut_short(self, pending: usize) -> String {
        match self {
            Protocol::Zen => format!("client sent {pending} bytes of a question, then closed"),
            Protocol::Echo => {
                format!("client closed in the middle of a line ({pending} bytes, no newline)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Protocol;

    fn answer_all(protocol: Protocol, input: &[u8], limit: usize) -> (usize, u64, Vec<u8>) {
        let mut out = Vec::new();
        let (used, n) = protocol.answer(input, 0, &mut out, limit, 64).unwrap();
        (used, n, out)
    }

    #[test]
    fn zen_answers_every_complete_question_and_keeps_the_rest() {
        let input = b"Beautiful is better than?Simple is better than?Explicit";
        let (used, n, out) = answer_all(Protocol::Zen, input, 1 << 20);
        assert_eq!((used, n), (47, 2));
        assert_eq!(out, b"Ugly.Complex.");
    }

    #[test]
    fn echo_returns_each_line_and_keeps_half_a_line() {
        let (used, n, out) = answer_all(Protocol::Echo, b"one\ntwo\nthr", 1 << 20);
        assert_eq!((used, n), (8, 2));
        assert_eq!(out, b"one\ntwo\n");
    }

    #[test]
    fn answering_stops_at_the_limit_and_resumes() {
        let input = b"a\nb\nc\n";
        let (used, n, out) = answer_all(Protocol::Echo, input, 3);
        assert_eq!((used, n, out.as_slice()), (4, 2, &b"a\nb\n"[..]));
        let (used, n, out) = answer_all(Protocol::Echo, &input[used..], 3);
        assert_eq!((used, n, out.as_slice()), (2, 1, &b"c\n"[..]));
    }

    #[test]
    fn over_max_line_is_an_error_with_or_without_terminator() {
        let mut out = Vec::new();
        let exact = [vec![b'x'; 64], b"\n".to_vec()].concat();
        assert!(
            Protocol::Echo
                .answer(&exact, 0, &mut out, 1 << 20, 64)
                .is_ok()
        );
        let long = [vec![b'x'; 65], b"\n".to_vec()].concat();
        let error = Protocol::Echo
            .answer(&long, 0, &mut out, 1 << 20, 64)
            .unwrap_err();
        assert_eq!(error.to_string(), "line longer than 64 bytes (--max-line)");
        // Only 64 bytes of a line so far: wait for more.
        assert_eq!(
            Protocol::Zen
                .answer(&[b'x'; 64], 0, &mut out, 1 << 20, 64)
                .unwrap(),
            (0, 0)
        );
        let error = Protocol::Zen
            .answer(&[b'x'; 65], 0, &mut out, 1 << 20, 64)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "request longer than 64 bytes (--max-line)"
        );
    }

    #[test]
    fn any_split_of_the_input_gives_the_same_replies() {
        let input: &[u8] = b"Simple is better than?nope?Beautiful is better than?";
        for cut in 0..=input.len() {
            let mut out = Vec::new();
            let mut pending = input[..cut].to_vec();
            let (used, _) = Protocol::Zen
                .answer(&pending, 0, &mut out, 1 << 20, 64)
                .unwrap();
            pending.drain(..used);
            pending.extend_from_slice(&input[cut..]);
            Protocol::Zen
                .answer(&pending, 0, &mut out, 1 << 20, 64)
                .unwrap();
            assert_eq!(
                out, b"Complex.Error: unknown aphorism.Ugly.",
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn the_search_resumes_where_the_last_one_stopped() {
        let mut out = Vec::new();
        // Bytes said to be searched already are not looked at again (a
        // `?` there is not seen: the caller promised there is none).
        let input = b"ab?cd?ef";
        let (used, n) = Protocol::Zen
            .answer(input, 3, &mut out, 1 << 20, 64)
            .unwrap();
        assert_eq!((used, n), (6, 1));
        assert_eq!(out, b"Error: unknown aphorism.");
        // Only the first request: the ones after it are searched whole.
        let mut out = Vec::new();
        let (used, n) = Protocol::Echo
            .answer(b"abc\nd\ne", 2, &mut out, 1 << 20, 64)
            .unwrap();
        assert_eq!((used, n, out.as_slice()), (6, 2, &b"abc\nd\n"[..]));
        // --max-line still counts the searched bytes.
        let error = Protocol::Zen.answer(&[b'x'; 65], 64, &mut out, 1 << 20, 64);
        assert!(error.is_err());
    }
}
