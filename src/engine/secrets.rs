//! Secret values held in memory for the length of one process, and masking of them.
//!
//! Secret inputs and secret outputs live only here. Everything the engine prints, logs or
//! records passes through `Secrets::mask` first, so a secret that a script echoes or an error
//! message repeats is still shown as `********`.

use std::borrow::Cow;

/// What a masked secret is shown as.
pub const MASK: &str = "********";

/// Values shorter than this are not masked: masking every `a` would make output unreadable,
/// and such short secrets give no protection anyway.
const MIN_LEN: usize = 3;

/// The secret values known to this process.
#[derive(Debug, Default, Clone)]
pub struct Secrets {
    values: Vec<String>,
}

impl Secrets {
    /// Remembers a value as secret.
    pub fn add(&mut self, value: &str) {
        let value = value.trim_end_matches(['\n', '\r']);
        if value.chars().count() >= MIN_LEN && !self.values.iter().any(|v| v == value) {
            self.values.push(value.to_string());
            // Longest first, so that a secret containing another is masked whole.
            self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }

    /// The text with every secret value replaced by `********`.
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for v in &self.values {
            if out.contains(v.as_str()) {
                out = Cow::Owned(out.replace(v.as_str(), MASK));
            }
        }
        out
    }

    /// Whether the text holds any secret value.
    pub fn appears_in(&self, text: &str) -> bool {
        self.values.iter().any(|v| text.contains(v.as_str()))
    }

    /// Whether any secret is known.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_longest_first() {
        let mut s = Secrets::default();
        s.add("abc");
        s.add("abcdef");
        assert_eq!(s.mask("x abcdef y abc"), "x ******** y ********");
        assert_eq!(s.mask("nothing here"), "nothing here");
    }
}
