//! How a language model says that the passages do not hold the answer.
//!
//! The model is told to begin such a reply with [`NO_ANSWER`], then the bot's
//! fallback message in the visitor's language. Docent does not guess from
//! the wording: the marker decides. [`Declines`] watches the reply as it
//! streams, never lets the marker (or the start of it) reach the visitor, and
//! at the end says whether the reply answered.

/// The marker the model writes when it cannot answer from the passages.
pub const NO_ANSWER: &str = "[[NO_ANSWER]]";

/// A streamed reply on its way to the visitor, with the marker held back.
#[derive(Debug, Default)]
pub struct Declines {
    /// Everything the model wrote so far.
    text: String,
    /// Bytes of `text` already passed on to the visitor.
    shown: usize,
    /// Where the marker starts in `text`, once it has been written.
    marker: Option<usize>,
}

impl Declines {
    /// Takes the model's next piece and returns what the visitor may see of
    /// it now (empty while a possible start of the marker is held back).
    pub fn push(&mut self, piece: &str) -> String {
        // Only the new text and the end of the old can hold a new marker, so
        // a long reply in many pieces costs time in proportion to its length.
        let mut from = self.text.len().saturating_sub(NO_ANSWER.len() - 1);
        while !self.text.is_char_boundary(from) {
            from -= 1;
        }
        self.text.push_str(piece);
        if self.marker.is_none() {
            self.marker = self.text[from..].find(NO_ANSWER).map(|at| from + at);
        }
        let end = match self.marker {
            // After the marker: the fallback in the visitor's words, without
            // the space that separates it from the marker.
            Some(at) => {
                let after = at + NO_ANSWER.len();
                let message = self.text[after..].trim_start();
                self.shown = self.shown.max(self.text.len() - message.len());
                self.text.len()
            }
            None => self.text.len() - held_back(&self.text),
        };
        let visible = self.text.get(self.shown..end).unwrap_or_default().to_owned();
        self.shown = self.shown.max(end);
        visible
    }

    /// The end of the reply: what was still held back (a reply that ends
    /// with a piece of the marker's start shows it after all).
    pub fn flush(&mut self) -> String {
        let rest = self.text.get(self.shown..).unwrap_or_default().to_owned();
        self.shown = self.text.len();
        rest
    }

    /// The reply to store and show, and whether it answered. A declined reply
    /// shows what the model wrote after the marker, or `fallback` when that is
    /// nothing.
    pub fn finish(self, fallback: &str) -> (String, bool) {
        match self.marker {
            Some(at) => {
                let message = self.text[at + NO_ANSWER.len()..].trim();
                (if message.is_empty() { fallback.to_owned() } else { message.to_owned() }, false)
            }
            None => (self.text, true),
        }
    }
}

/// Bytes at the end of `text` that could begin the marker.
fn held_back(text: &str) -> usize {
    (1..NO_ANSWER.len()).rev().find(|&n| text.ends_with(&NO_ANSWER[..n])).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pieces: &[&str]) -> (String, String, bool) {
        let mut declines = Declines::default();
        let mut shown: String = pieces.iter().map(|piece| declines.push(piece)).collect();
        shown.push_str(&declines.flush());
        let (text, answered) = declines.finish("Sorry, not in the documentation.");
        (shown, text, answered)
    }

    #[test]
    fn an_answer_passes_through_whole() {
        let (shown, text, answered) = run(&["Open ", "Settings [", "1] then ", "[[Security]]."]);
        assert_eq!(shown, "Open Settings [1] then [[Security]].");
        assert_eq!(text, shown);
        assert!(answered);
    }

    #[test]
    fn the_marker_split_over_pieces_never_shows() {
        let (shown, text, answered) = run(&["[[NO_", "ANSWER", "]] Je n'ai ", "rien trouvé."]);
        assert_eq!(shown, "Je n'ai rien trouvé.");
        assert_eq!(text, "Je n'ai rien trouvé.");
        assert!(!answered);
    }

    #[test]
    fn a_bare_marker_gives_the_bots_fallback() {
        let (shown, text, answered) = run(&["[[NO_ANSWER]]", "\n"]);
        assert_eq!(shown, "");
        assert_eq!(text, "Sorry, not in the documentation.");
        assert!(!answered);
    }

    #[test]
    fn a_marker_after_some_text_still_declines() {
        let (shown, text, answered) = run(&["I looked. ", "[[NO_ANS", "WER]] Not found."]);
        assert_eq!(shown, "I looked. Not found.", "the marker itself is never shown");
        assert_eq!(text, "Not found.");
        assert!(!answered);
    }

    #[test]
    fn a_reply_that_ends_like_the_marker_starts_is_shown_at_the_end() {
        let (shown, text, answered) = run(&["See the list below [[", "NO"]);
        assert_eq!(shown, "See the list below [[NO");
        assert_eq!(text, shown);
        assert!(answered);
    }

    #[test]
    fn the_marker_is_found_one_character_at_a_time_after_other_text() {
        let reply = "Ünïcödé first. [[NO_ANSWER]] Rien.";
        let pieces: Vec<String> = reply.chars().map(String::from).collect();
        let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
        let (shown, text, answered) = run(&pieces);
        assert_eq!(shown, "Ünïcödé first. Rien.");
        assert_eq!(text, "Rien.");
        assert!(!answered);
    }

    #[test]
    fn pieces_split_inside_a_character_are_never_cut() {
        let mut declines = Declines::default();
        // The held-back suffix is ASCII, so every cut falls on a character boundary.
        let shown = declines.push("é[") + &declines.push("[") + &declines.push("ü") + &declines.flush();
        assert_eq!(shown, "é[[ü");
    }
}
