//! The book's zen protocol (chapter 7, `zen_utils.py`): a question is the
//! bytes up to and including `?`; the answer is a fixed string ending in
//! `.`, which is how the book's client knows it has the whole answer.

/// The three questions the server knows, with their answers, exactly as
/// `zen_utils.aphorisms` has them.
pub const APHORISMS: [(&str, &str); 3] = [
    ("Beautiful is better than?", "Ugly."),
    ("Explicit is better than?", "Implicit."),
    ("Simple is better than?", "Complex."),
];

/// What any other question gets.
pub const UNKNOWN: &str = "Error: unknown aphorism.";

/// The answer to one question (`?` included), as `zen_utils.get_answer`.
pub fn answer(question: &[u8]) -> &'static [u8] {
    APHORISMS
        .iter()
        .find(|(q, _)| q.as_bytes() == question)
        .map_or(UNKNOWN, |(_, a)| a)
        .as_bytes()
}

/// The three questions in a random order, like the book's
/// `random.sample(aphorisms, 3)`. The seed comes from std's per-process
/// random hash keys: no extra crate for one shuffle of three.
pub fn shuffled() -> Vec<&'static str> {
    use std::hash::BuildHasher;
    let mut seed = std::collections::hash_map::RandomState::new().hash_one(0u8);
    let mut questions: Vec<&str> = APHORISMS.iter().map(|(q, _)| *q).collect();
    // Fisher-Yates, drawing each index from the seed's digits in base i+1.
    for i in (1..questions.len()).rev() {
        let j = (seed % (i as u64 + 1)) as usize;
        seed /= i as u64 + 1;
        questions.swap(i, j);
    }
    questions
}

/// The clap value parser for a question: it must end with its one `?`,
/// or the server would wait for the rest of it (or answer it twice).
pub fn question(text: &str) -> Result<String, String> {
    match text.find('?') {
        Some(at) if at + 1 == text.len() => Ok(text.to_string()),
        Some(_) => Err("a question has one `?`, at its end".into()),
        None => Err("a question ends with `?` (the server waits for it)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_the_books() {
        assert_eq!(answer(b"Beautiful is better than?"), b"Ugly.");
        assert_eq!(answer(b"Explicit is better than?"), b"Implicit.");
        assert_eq!(answer(b"Simple is better than?"), b"Complex.");
        assert_eq!(
            answer(b"simple is better than?"),
            b"Error: unknown aphorism."
        );
        assert_eq!(answer(b"?"), b"Error: unknown aphorism.");
    }

    #[test]
    fn shuffled_is_a_permutation_and_not_always_the_same() {
        let mut orders = std::collections::HashSet::new();
        for _ in 0..200 {
            let mut order = shuffled();
            orders.insert(order.clone());
            order.sort_unstable();
            let mut all: Vec<&str> = APHORISMS.iter().map(|(q, _)| *q).collect();
            all.sort_unstable();
            assert_eq!(order, all);
        }
        assert!(orders.len() > 1, "200 shuffles gave one order");
    }

    #[test]
    fn a_question_ends_with_its_only_question_mark() {
        assert!(question("Beautiful is better than?").is_ok());
        assert!(question("no mark").is_err());
        assert!(question("two? marks?").is_err());
    }
}
