//! The lines a step printed, kept for the output pane, with search.
//!
//! A step can print a lot: lines are kept in a ring of bounded size (the step's log on disk
//! has them all), and the pane draws only the lines it shows.

use std::collections::VecDeque;

use crate::engine::Stream;

/// Most lines kept in memory for one step.
pub const MAX_LINES: usize = 200_000;

/// Most bytes of lines kept in memory for one step (lines come in pieces of at most 64 KiB).
pub const MAX_BYTES: usize = 32 * 1024 * 1024;

/// One line of a step's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutLine {
    pub stream: Stream,
    pub text: String,
}

/// A step's output lines.
#[derive(Debug, Clone, Default)]
pub struct OutputBuffer {
    lines: VecDeque<OutLine>,
    /// Lines dropped from the front to keep within `MAX_LINES` and `MAX_BYTES`.
    dropped: usize,
    /// Bytes of the lines kept.
    bytes: usize,
}

impl OutputBuffer {
    /// Appends a line, dropping the oldest when full.
    pub fn push(&mut self, stream: Stream, text: String) {
        self.bytes += text.len();
        self.lines.push_back(OutLine { stream, text });
        while self.lines.len() > MAX_LINES || (self.bytes > MAX_BYTES && self.lines.len() > 1) {
            let Some(old) = self.lines.pop_front() else {
                break;
            };
            self.bytes -= old.text.len();
            self.dropped += 1;
        }
    }

    /// How many lines are kept.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// How many old lines were dropped.
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// A line by position.
    pub fn get(&self, i: usize) -> Option<&OutLine> {
        self.lines.get(i)
    }

    /// Lines `start..end` (clamped).
    pub fn range(&self, start: usize, end: usize) -> impl Iterator<Item = &OutLine> {
        let end = end.min(self.lines.len());
        self.lines.range(start.min(end)..end)
    }

    /// Replaces the lines with a log read from disk: notes from stepwise are prefixed
    /// `stepwise: ` there.
    pub fn from_log(text: &str) -> OutputBuffer {
        let mut b = OutputBuffer::default();
        for line in text.lines() {
            match line.strip_prefix("stepwise: ") {
                Some(note) => b.push(Stream::Info, note.to_string()),
                None => b.push(Stream::Stdout, line.to_string()),
            }
        }
        b
    }

    /// Positions of lines that contain `query` (ignoring case unless it has a capital).
    pub fn find(&self, query: &str) -> Vec<usize> {
        if query.is_empty() {
            return Vec::new();
        }
        let smart = query.chars().any(char::is_uppercase);
        let q = query.to_lowercase();
        self.lines
            .iter()
            .enumerate()
            .filter(|(_, l)| {
                if smart {
                    l.text.contains(query)
                } else if l.text.is_ascii() && q.is_ascii() {
                    contains_ignore_ascii_case(&l.text, &q)
                } else {
                    l.text.to_lowercase().contains(&q)
                }
            })
            .map(|(i, _)| i)
            .collect()
    }
}

fn contains_ignore_ascii_case(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    n.len() <= h.len()
        && h.windows(n.len())
            .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
}

/// The end of a step's log, at most `MAX_BYTES` of it, starting at a whole line: a log can be
/// far larger than what the output pane keeps.
pub fn read_log_tail(path: &std::path::Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let start = len.saturating_sub(MAX_BYTES as u64);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    match (start, text.find('\n')) {
        (0, _) | (_, None) => text.into_owned(),
        (_, Some(nl)) => text[nl + 1..].to_string(),
    }
}

/// A search in the output pane.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub query: String,
    /// Matching line positions, in order.
    pub matches: Vec<usize>,
    /// Which match is current.
    pub current: usize,
}

impl Search {
    /// The line of the current match.
    pub fn line(&self) -> Option<usize> {
        self.matches.get(self.current).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_with_smart_case_and_reads_logs() {
        let b = OutputBuffer::from_log("Hello\nstepwise: a note\nhello again\n");
        assert_eq!(b.len(), 3);
        assert_eq!(b.get(1).map(|l| l.stream), Some(Stream::Info));
        assert_eq!(b.find("hello"), vec![0, 2]);
        assert_eq!(b.find("Hello"), vec![0]);
    }

    #[test]
    fn keeps_within_its_byte_bound() {
        let mut b = OutputBuffer::default();
        let piece = "x".repeat(64 * 1024);
        for _ in 0..(MAX_BYTES / piece.len() + 10) {
            b.push(Stream::Stdout, piece.clone());
        }
        assert_eq!(b.len(), MAX_BYTES / piece.len());
        assert_eq!(b.dropped(), 10);
    }
}
