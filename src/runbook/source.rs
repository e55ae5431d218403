//! Source files and the located messages reported against them.
//!
//! A `Diagnostic` prints as `FILE:LINE:COL: message`, then the offending line with a caret under
//! the place, then any hints, so a person can fix a runbook without hunting for the problem.

use std::fmt;
use std::path::{Path, PathBuf};

use super::yaml::Pos;

/// The text of one runbook file, with an index of where its lines start.
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    /// Made when first needed: a runbook without problems never needs it.
    line_starts: std::sync::OnceLock<Vec<usize>>,
}

impl SourceFile {
    /// Wraps the text read from `path`.
    pub fn new(path: &Path, text: String) -> SourceFile {
        SourceFile {
            path: path.to_path_buf(),
            text,
            line_starts: std::sync::OnceLock::new(),
        }
    }

    fn line_starts(&self) -> &[usize] {
        self.line_starts.get_or_init(|| {
            let mut starts = vec![0];
            starts.extend(self.text.match_indices('\n').map(|(i, _)| i + 1));
            starts
        })
    }

    /// The text of a 1-based line, without its line break.
    pub fn line(&self, line: usize) -> &str {
        let Some(&start) = line.checked_sub(1).and_then(|i| self.line_starts().get(i)) else {
            return "";
        };
        let end = self
            .line_starts()
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }

    /// The byte offset of a position.
    pub fn offset(&self, pos: Pos) -> usize {
        let Some(&start) = pos
            .line
            .checked_sub(1)
            .and_then(|i| self.line_starts().get(i))
        else {
            return self.text.len();
        };
        let line = self.line(pos.line);
        let in_line = line
            .char_indices()
            .nth(pos.col.saturating_sub(1))
            .map(|(i, _)| i)
            .unwrap_or(line.len());
        start + in_line
    }

    /// The position of a byte offset.
    pub fn pos(&self, offset: usize) -> Pos {
        let starts = self.line_starts();
        let line = starts.partition_point(|&s| s <= offset);
        let start = starts[line.saturating_sub(1)];
        let col = self
            .text
            .get(start..offset)
            .map_or(1, |s| s.chars().count() + 1);
        Pos { line, col }
    }

    /// A diagnostic at `pos` in this file.
    pub fn diag(&self, pos: Pos, message: impl Into<String>) -> Diagnostic {
        let pos = if pos.line == 0 {
            Pos { line: 1, col: 1 }
        } else {
            pos
        };
        let text = self.line(pos.line).to_string();
        Diagnostic {
            path: self.path.clone(),
            pos,
            message: message.into(),
            line: text,
            width: None,
        }
    }
}

/// A problem found in a runbook, at a place in its file; or, for a file that cannot be read,
/// at no place (`unlocated`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: PathBuf,
    pub pos: Pos,
    /// The message; lines starting with `hint: ` are printed as hints under the caret.
    pub message: String,
    /// The text of the offending line.
    pub line: String,
    /// How many characters the caret underlines; by default, the word at the position.
    pub width: Option<usize>,
}

impl Diagnostic {
    /// A problem with a whole file (it cannot be read): said in one line, with no snippet.
    pub fn unlocated(path: &std::path::Path, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            path: path.to_path_buf(),
            pos: Pos { line: 0, col: 0 },
            message: message.into(),
            line: String::new(),
            width: None,
        }
    }

    /// Whether the problem is at a place in the file.
    pub fn is_located(&self) -> bool {
        self.pos.line > 0
    }

    /// Underlines `width` characters instead of the word at the position.
    pub fn with_width(mut self, width: usize) -> Self {
        self.width = Some(width.max(1));
        self
    }

    fn caret_width(&self) -> usize {
        if let Some(w) = self.width {
            return w;
        }
        let rest: String = self
            .line
            .chars()
            .skip(self.pos.col.saturating_sub(1))
            .collect();
        let word = if let Some(quoted) = rest.strip_prefix(['"', '\'']) {
            let quote = rest.chars().next().unwrap_or('"');
            quoted.find(quote).map_or(rest.len(), |end| end + 2)
        } else {
            rest.find(|c: char| c.is_whitespace() || ",]}#".contains(c) || c == ':')
                .unwrap_or(rest.len())
        };
        word.clamp(1, 80)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = self.message.lines();
        let headline = lines.next().unwrap_or_default();
        if !self.is_located() {
            return f.write_str(&self.message);
        }
        writeln!(
            f,
            "{}:{}:{}: {}",
            self.path.display(),
            self.pos.line,
            self.pos.col,
            headline
        )?;
        let number = self.pos.line.to_string();
        let gutter = " ".repeat(number.len());
        // Tabs would shift the caret; show them as single spaces.
        let shown = self.line.replace('\t', " ");
        writeln!(f, "{gutter} |")?;
        writeln!(f, "{number} | {shown}")?;
        let pad = " ".repeat(self.pos.col.saturating_sub(1));
        write!(f, "{gutter} | {pad}{}", "^".repeat(self.caret_width()))?;
        for line in lines {
            let line = line.strip_prefix("hint: ").map_or_else(
                || format!("\n{gutter} = {line}"),
                |hint| format!("\n{gutter} = hint: {hint}"),
            );
            f.write_str(&line)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_line_and_caret() {
        let src = SourceFile::new(Path::new("x.yaml"), "a: 1\n  comand: make\n".into());
        let d = src.diag(
            Pos { line: 2, col: 3 },
            "unknown field `comand`\nhint: did you mean `command`?",
        );
        assert_eq!(
            d.to_string(),
            "x.yaml:2:3: unknown field `comand`\n  |\n2 |   comand: make\n  |   ^^^^^^\n  = hint: did you mean `command`?"
        );
    }

    #[test]
    fn offsets_round_trip() {
        let src = SourceFile::new(Path::new("x"), "ab\ncé d\n".into());
        let p = Pos { line: 2, col: 4 };
        assert_eq!(src.pos(src.offset(p)), p);
    }
}
