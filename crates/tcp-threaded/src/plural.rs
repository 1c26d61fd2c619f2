//! "1 connection", "2 connections": counts in messages read as English.

/// `n` and `word`, with an `s` unless `n` is 1.
pub fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::plural;

    #[test]
    fn one_is_singular_everything_else_plural() {
        assert_eq!(plural(0, "request"), "0 requests");
        assert_eq!(plural(1, "connection"), "1 connection");
        assert_eq!(plural(2, "connection"), "2 connections");
    }
}
