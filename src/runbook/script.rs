//! Template values in scripts: data, never code.
//!
//! A `run`, `check` or `skip_if` script is a template, but its values are never pasted into
//! the text bash reads. Each `{{ ... }}` is rendered to a marker instead, and its value is put
//! in the script's environment as `STEPWISE_V1`, `STEPWISE_V2`, ...; a scan of the script text
//! (the quoting rules of bash: words, `'...'`, `"..."`, `$'...'`, here-documents, comments,
//! `$(...)`, backticks, `${...}`, `$((...))`) then replaces each marker with the reference that
//! fits where it stands:
//!
//! | where the tag is            | what bash reads       |
//! |-----------------------------|-----------------------|
//! | a word (`--name={{ x }}`)   | `"${STEPWISE_V1}"`    |
//! | inside `"..."`, a here-doc  | `${STEPWISE_V1}`      |
//! | inside `'...'`              | `'"${STEPWISE_V1}"'`  |
//! | inside `$'...'`             | `'"${STEPWISE_V1}"$'` |
//! | a comment                   | `${STEPWISE_V1}`      |
//!
//! The expansion of a variable is never parsed again, so whatever a value holds (`$(...)`,
//! quotes, `;`, new lines, globs) reaches the command as one piece of data. Places where no
//! reference is safe (arithmetic, a here-document with a quoted delimiter, right after `\` or
//! `$`, inside backticks within double quotes, a here-document's delimiter) are refused: by
//! the validator at the tag's line and column, and again when the script is resolved.
//!
//! What a person reads (a dry run, the detail pane) is the same script with each value put
//! back in place, quoted as bash would need it there, secrets masked.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::OnceLock;

use minijinja::{Environment, Value};

use super::template;

/// The prefix of the environment variables that carry a script's values.
pub const VAR_PREFIX: &str = "STEPWISE_V";

/// The markers standing for values in the rendered text; neither may appear in a script.
const OPEN: char = '\u{1}';
const CLOSE: char = '\u{2}';

thread_local! {
    /// The values of the render under way on this thread, in the order they were emitted.
    static EMITTED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// The template environment for scripts: as the shared one, but `{{ ... }}` emits a marker
/// and keeps the value aside.
fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = template::environment().clone();
        // A value is quoted by where it stands; quoting it again would put quotes in it.
        env.add_filter("shell_quote", |value: String| value);
        env.set_formatter(|out, _state, value| {
            let n = EMITTED.with(|e| {
                let mut e = e.borrow_mut();
                e.push(value.to_string());
                e.len()
            });
            write!(out, "{OPEN}{n}{CLOSE}").map_err(minijinja::Error::from)
        });
        env
    })
}

/// Where in a script a value stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Unquoted, part of a word (also inside `$(...)`, backticks and `${...}` outside quotes).
    Word,
    /// Inside `"..."` (also `${...}` inside double quotes).
    Double,
    Single,
    AnsiC,
    /// The body of a here-document whose delimiter is not quoted.
    Heredoc,
    Comment,
}

/// A script with its values taken out.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// The text bash runs: each value is a reference to its variable.
    pub source: String,
    /// The variables to add to the script's environment, in order.
    pub vars: Vec<(String, String)>,
    /// The rendered text with markers, and where each marker stands (for `shown`).
    marked: String,
    places: Vec<Place>,
}

impl Script {
    /// The values of the script, in order.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.vars.iter().map(|(_, v)| v.as_str())
    }

    /// The script with each value quoted in place, for a shell that cannot be given the
    /// values in its environment (commands sent to an instance).
    pub fn inline(&self) -> String {
        self.put_back(|v: &str| Cow::Borrowed(v), false)
    }

    /// The script as a person reads it: each value in place, quoted as bash would need it
    /// there; `mask` hides secrets in a value before it is quoted.
    pub fn shown(&self, mask: impl Fn(&str) -> Cow<'_, str>) -> String {
        self.put_back(mask, true)
    }

    /// The text with each value quoted in place; a dry run's placeholders are left bare when
    /// `placeholders` (they are for reading, never run).
    fn put_back(&self, mask: impl Fn(&str) -> Cow<'_, str>, placeholders: bool) -> String {
        replace_marks(&self.marked, |n| {
            let value = self.vars.get(n - 1).map_or("", |(_, v)| v.as_str());
            let place = self.places.get(n - 1).copied().unwrap_or(Place::Word);
            let value = mask(value);
            if placeholders && is_placeholder(&value) {
                return value.into_owned();
            }
            quote(&value, place)
        })
    }
}

/// Renders a script template: the text for bash, and its values as variables.
pub fn render(src: &str, ctx: &Value) -> Result<Script, String> {
    if src.contains([OPEN, CLOSE]) {
        return Err("the script holds the control characters U+0001 or U+0002".into());
    }
    if !template::is_template(src) {
        return Ok(Script {
            source: src.to_string(),
            marked: src.to_string(),
            ..Script::default()
        });
    }
    template::check_length(src)?;
    EMITTED.with(|e| e.borrow_mut().clear());
    let rendered = environment().render_str(&template::prepare(src), ctx);
    let values = EMITTED.with(|e| std::mem::take(&mut *e.borrow_mut()));
    let marked = rendered.map_err(|e| template::describe(&e))?;
    for value in &values {
        template::check_lost(value)?;
    }
    let places = match scan(&marked, values.len()) {
        Ok(places) => places,
        Err((n, problem)) => {
            let line = marked[..mark_offset(&marked, n)].matches('\n').count() + 1;
            return Err(format!("line {line} of the script: {problem}"));
        }
    };
    let source = replace_marks(&marked, |n| reference(n, places[n - 1]));
    let vars = values
        .into_iter()
        .enumerate()
        .map(|(i, v)| (format!("{VAR_PREFIX}{}", i + 1), v))
        .collect();
    Ok(Script {
        source,
        vars,
        marked,
        places,
    })
}

/// Checks a script template without values: each tag must stand where a reference is safe.
/// Returns the byte offset of the first tag that does not, with what is wrong and what to
/// write instead.
pub fn check(src: &str) -> Option<(usize, String)> {
    if !template::is_template(src) || src.contains([OPEN, CLOSE]) {
        return None;
    }
    // Each `{{ ... }}` becomes a marker; `{% ... %}` and `{# ... #}` add no text.
    let mut marked = String::with_capacity(src.len());
    let mut offsets = Vec::new();
    let mut rest = 0;
    while let Some(i) = src[rest..].find('{') {
        let at = rest + i;
        let close = match src.as_bytes().get(at + 1) {
            Some(b'{') => "}}",
            Some(b'%') => "%}",
            Some(b'#') => "#}",
            _ => {
                marked.push_str(&src[rest..at + 1]);
                rest = at + 1;
                continue;
            }
        };
        let Some(len) = src[at + 2..].find(close) else {
            break;
        };
        marked.push_str(&src[rest..at]);
        if close == "}}" {
            offsets.push(at);
            write!(marked, "{OPEN}{}{CLOSE}", offsets.len()).ok()?;
        }
        rest = at + 2 + len + 2;
    }
    marked.push_str(&src[rest..]);
    match scan(&marked, offsets.len()) {
        Ok(_) => None,
        Err((n, problem)) => Some((offsets[n - 1], problem.to_string())),
    }
}

/// The reference that stands for value `n` at `place`.
fn reference(n: usize, place: Place) -> String {
    let var = format!("${{{VAR_PREFIX}{n}}}");
    match place {
        Place::Word => format!("\"{var}\""),
        Place::Double | Place::Heredoc | Place::Comment => var,
        Place::Single => format!("'\"{var}\"'"),
        Place::AnsiC => format!("'\"{var}\"$'"),
    }
}

/// A value as a person would write it at `place`.
fn quote(value: &str, place: Place) -> String {
    match place {
        Place::Word => word(value),
        Place::Double | Place::Heredoc => {
            let mut out = String::with_capacity(value.len());
            for c in value.chars() {
                if matches!(c, '\\' | '$' | '`') || (c == '"' && place == Place::Double) {
                    out.push('\\');
                }
                out.push(c);
            }
            out
        }
        Place::Single => value.replace('\'', r"'\''"),
        Place::AnsiC => value
            .replace('\\', r"\\")
            .replace('\'', r"\'")
            .replace('\n', r"\n"),
        Place::Comment => value.replace('\n', r"\n"),
    }
}

/// Whether a value is a dry run's `<steps.ID.NAME>`, which stands for a value not known yet
/// and is shown as it is.
pub fn is_placeholder(value: &str) -> bool {
    value.starts_with('<')
        && value.ends_with('>')
        && value.len() > 2
        && value[1..value.len() - 1]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A value as a person reads it as one shell word: a dry run's placeholder as it is, else
/// as `word` quotes it.
pub fn shown_word(value: &str) -> String {
    if is_placeholder(value) {
        value.to_string()
    } else {
        word(value)
    }
}

/// A value as one shell word: bare when it needs no quoting, else in single quotes.
pub fn word(value: &str) -> String {
    let bare = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c));
    if bare {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// Replaces each marker with what `f` makes of its number.
fn replace_marks(marked: &str, mut f: impl FnMut(usize) -> String) -> String {
    let mut out = String::with_capacity(marked.len());
    let mut rest = marked;
    while let Some(open) = rest.find(OPEN) {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find(CLOSE).unwrap_or(after.len());
        let n: usize = after[..close].parse().unwrap_or(0);
        out.push_str(&f(n));
        rest = after.get(close + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

/// The byte offset of marker `n` in the marked text.
fn mark_offset(marked: &str, n: usize) -> usize {
    let needle = format!("{OPEN}{n}{CLOSE}");
    marked.find(&needle).unwrap_or(0)
}

/// What encloses the scanner's position.
#[derive(Debug, Clone, PartialEq)]
enum Frame {
    /// Commands: the whole script, `$(...)` (ends at the `)` that closes it) or backticks.
    Cmd {
        end: End,
        depth: usize,
    },
    Double,
    Single,
    AnsiC,
    /// `${...}`, with how many `{` are open inside it and whether it is in double quotes.
    Param {
        depth: usize,
        quoted: bool,
    },
    /// `$((...))` or `((...))`, with how many `(` are open inside.
    Arith {
        depth: usize,
    },
    Comment,
    /// A here-document's body, up to the line that is its delimiter.
    Heredoc {
        delim: String,
        strip_tabs: bool,
        expand: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum End {
    Eof,
    Paren,
    Backtick { in_double: bool },
}

/// Why no reference is safe at a place.
const ARITH: &str = "a value cannot stand inside arithmetic (`$(( ))`, `(( ))`): bash would evaluate it as an expression, which can run commands\nhint: assign it to a variable first and check that it is a number: `n={{ ... }}; [[ $n =~ ^[0-9]+$ ]] || exit 1; echo $(( n + 1 ))`";
const LITERAL_HEREDOC: &str = "a value cannot stand inside a here-document with a quoted delimiter (`<<'EOF'`): its text is taken literally\nhint: write the delimiter unquoted (`<<EOF`) and escape the `$` that must stay literal as `\\$`";
const AFTER_BACKSLASH: &str = "a value cannot stand right after a `\\`\nhint: remove the backslash; the value is passed as it is";
const AFTER_DOLLAR: &str = "a value cannot stand right after a `$`\nhint: to name a variable, write its name in the script; to use a value, write the tag on its own";
const BACKTICK_IN_DOUBLE: &str = "a value cannot stand inside backticks within double quotes\nhint: write `$(...)` instead of backticks";
const DELIMITER: &str =
    "a value cannot be a here-document's delimiter\nhint: write the delimiter in the script";

/// What stops a scan: the marker that stands where no reference is safe, and why.
type Refused = (usize, &'static str);

/// Finds where each of the `count` markers stands, or the first one that stands where no
/// reference is safe.
fn scan(text: &str, count: usize) -> Result<Vec<Place>, Refused> {
    let mut scanner = Scanner {
        chars: text.chars().collect(),
        i: 0,
        stack: vec![Frame::Cmd {
            end: End::Eof,
            depth: 0,
        }],
        pending: Vec::new(),
        word_start: true,
        line_start: true,
        places: vec![Place::Word; count],
    };
    while scanner.i < scanner.chars.len() {
        scanner.step()?;
    }
    Ok(scanner.places)
}

/// The state of a scan of a script's text.
struct Scanner {
    chars: Vec<char>,
    i: usize,
    stack: Vec<Frame>,
    /// Here-documents whose operator was read, whose bodies start at the next line.
    pending: Vec<Frame>,
    /// Whether the scanner is at the start of a word (for `#`), and of a line (for the end of
    /// a here-document).
    word_start: bool,
    line_start: bool,
    places: Vec<Place>,
}

impl Scanner {
    fn top(&self) -> Frame {
        self.stack.last().cloned().unwrap_or(Frame::Cmd {
            end: End::Eof,
            depth: 0,
        })
    }

    fn next(&self) -> Option<char> {
        self.chars.get(self.i + 1).copied()
    }

    /// Takes one char (or a marker, or a here-document's delimiter line).
    fn step(&mut self) -> Result<(), Refused> {
        let c = self.chars[self.i];
        let top = self.top();
        if c == OPEN {
            return self.mark(&top);
        }
        if let Frame::Heredoc {
            delim, strip_tabs, ..
        } = &top
            && self.line_start
            && self.heredoc_ends(delim, *strip_tabs)
        {
            return Ok(());
        }
        self.line_start = false;
        match top {
            Frame::Cmd { end, depth } => self.command(c, end, depth)?,
            Frame::Double => self.double(c)?,
            Frame::Single => {
                if c == '\'' {
                    self.stack.pop();
                }
            }
            Frame::AnsiC => match c {
                '\\' => self.escape()?,
                '\'' => {
                    self.stack.pop();
                }
                _ => {}
            },
            Frame::Param { depth, quoted } => self.param(c, depth, quoted)?,
            Frame::Arith { depth } => self.arith(c, depth),
            Frame::Comment => {
                if c == '\n' {
                    self.stack.pop();
                    self.new_line();
                }
            }
            Frame::Heredoc { expand, .. } => self.heredoc(c, expand)?,
        }
        self.i += 1;
        Ok(())
    }

    /// A marker: where it stands, or why nothing can stand there.
    fn mark(&mut self, top: &Frame) -> Result<(), Refused> {
        let (n, len) = read_mark(&self.chars[self.i..]);
        let place = match top {
            Frame::Cmd {
                end: End::Backtick { in_double: true },
                ..
            } => return Err((n, BACKTICK_IN_DOUBLE)),
            Frame::Cmd { .. } | Frame::Param { quoted: false, .. } => Place::Word,
            Frame::Double | Frame::Param { quoted: true, .. } => Place::Double,
            Frame::Single => Place::Single,
            Frame::AnsiC => Place::AnsiC,
            Frame::Arith { .. } => return Err((n, ARITH)),
            Frame::Comment => Place::Comment,
            Frame::Heredoc { expand: true, .. } => Place::Heredoc,
            Frame::Heredoc { expand: false, .. } => return Err((n, LITERAL_HEREDOC)),
        };
        let after_dollar = self.i.checked_sub(1).map(|p| self.chars[p]) == Some('$');
        if after_dollar && !matches!(place, Place::Single | Place::Comment) {
            return Err((n, AFTER_DOLLAR));
        }
        if let Some(slot) = self.places.get_mut(n.wrapping_sub(1)) {
            *slot = place;
        }
        self.i += len;
        self.word_start = false;
        self.line_start = false;
        Ok(())
    }

    /// At the start of a here-document's line: whether it is the delimiter, which ends it.
    fn heredoc_ends(&mut self, delim: &str, strip_tabs: bool) -> bool {
        let end = self.chars[self.i..]
            .iter()
            .position(|&c| c == '\n')
            .map_or(self.chars.len(), |p| self.i + p);
        let line: String = self.chars[self.i..end].iter().collect();
        let line = if strip_tabs {
            line.trim_start_matches('\t')
        } else {
            &line
        };
        if line != delim {
            return false;
        }
        self.stack.pop();
        self.i = (end + 1).min(self.chars.len());
        self.new_line();
        true
    }

    /// After a new line: the next here-document waiting for its body starts.
    fn new_line(&mut self) {
        self.line_start = true;
        self.word_start = true;
        if !self.pending.is_empty() {
            let body = self.pending.remove(0);
            self.stack.push(body);
        }
    }

    /// A `\`: the next char is taken as it is; a value cannot be that char.
    fn escape(&mut self) -> Result<(), Refused> {
        if self.next() == Some(OPEN) {
            return Err((read_mark(&self.chars[self.i + 1..]).0, AFTER_BACKSLASH));
        }
        self.i += 1;
        Ok(())
    }

    /// A `$`: what it opens, if anything.
    fn dollar(&mut self, quoted: bool) {
        self.i += dollar(&self.chars, self.i, &mut self.stack, quoted);
    }

    fn command(&mut self, c: char, end: End, depth: usize) -> Result<(), Refused> {
        let at_word_start = self.word_start;
        self.word_start = c.is_whitespace() || ";&|()<>".contains(c);
        let next = self.next();
        match c {
            '\\' => self.escape()?,
            '\'' => self.stack.push(Frame::Single),
            '"' => self.stack.push(Frame::Double),
            '#' if at_word_start => self.stack.push(Frame::Comment),
            '`' => match end {
                End::Backtick { .. } => {
                    self.stack.pop();
                }
                _ => self.stack.push(Frame::Cmd {
                    end: End::Backtick { in_double: false },
                    depth: 0,
                }),
            },
            '$' => self.dollar(false),
            '(' if next == Some('(') && at_word_start => {
                self.stack.push(Frame::Arith { depth: 0 });
                self.i += 1;
            }
            '(' => set_depth(&mut self.stack, depth + 1),
            ')' if end == End::Paren && depth == 0 => {
                self.stack.pop();
            }
            ')' => set_depth(&mut self.stack, depth.saturating_sub(1)),
            '<' if next == Some('<') && self.chars.get(self.i + 2) != Some(&'<') => {
                let (frame, used) = heredoc_start(&self.chars, self.i + 2)?;
                self.pending.push(frame);
                self.i += 1 + used;
            }
            '<' if next == Some('<') => self.i += 2,
            '\n' => self.new_line(),
            _ => {}
        }
        Ok(())
    }

    fn double(&mut self, c: char) -> Result<(), Refused> {
        match c {
            '\\' => self.escape()?,
            '"' => {
                self.stack.pop();
            }
            '`' => self.stack.push(Frame::Cmd {
                end: End::Backtick { in_double: true },
                depth: 0,
            }),
            '$' => self.dollar(true),
            _ => {}
        }
        Ok(())
    }

    fn param(&mut self, c: char, depth: usize, quoted: bool) -> Result<(), Refused> {
        match c {
            '\\' => self.escape()?,
            '\'' if !quoted => self.stack.push(Frame::Single),
            '"' => self.stack.push(Frame::Double),
            '$' => self.dollar(quoted),
            '{' => set_param_depth(&mut self.stack, depth + 1),
            '}' if depth == 0 => {
                self.stack.pop();
            }
            '}' => set_param_depth(&mut self.stack, depth - 1),
            _ => {}
        }
        Ok(())
    }

    fn arith(&mut self, c: char, depth: usize) {
        match c {
            '(' => set_arith_depth(&mut self.stack, depth + 1),
            ')' if depth == 0 && self.next() == Some(')') => {
                self.stack.pop();
                self.i += 1;
            }
            ')' => set_arith_depth(&mut self.stack, depth.saturating_sub(1)),
            '$' => self.dollar(false),
            _ => {}
        }
    }

    fn heredoc(&mut self, c: char, expand: bool) -> Result<(), Refused> {
        if c == '\n' {
            self.line_start = true;
            return Ok(());
        }
        if !expand {
            return Ok(());
        }
        match c {
            '\\' => self.escape()?,
            '`' => self.stack.push(Frame::Cmd {
                end: End::Backtick { in_double: true },
                depth: 0,
            }),
            '$' => self.dollar(true),
            _ => {}
        }
        Ok(())
    }
}

/// The number of the marker at the start of `chars`, and how many chars it takes.
fn read_mark(chars: &[char]) -> (usize, usize) {
    let close = chars
        .iter()
        .position(|&c| c == CLOSE)
        .unwrap_or(chars.len());
    let n = chars[1..close.max(1)]
        .iter()
        .collect::<String>()
        .parse()
        .unwrap_or(0);
    (n, close + 1)
}

/// After a `$` at `i`: pushes what it opens; returns how many chars beyond `$` it took.
fn dollar(chars: &[char], i: usize, stack: &mut Vec<Frame>, quoted: bool) -> usize {
    match (chars.get(i + 1), chars.get(i + 2)) {
        (Some('('), Some('(')) => {
            stack.push(Frame::Arith { depth: 0 });
            2
        }
        (Some('('), _) => {
            stack.push(Frame::Cmd {
                end: End::Paren,
                depth: 0,
            });
            1
        }
        (Some('{'), _) => {
            stack.push(Frame::Param { depth: 0, quoted });
            1
        }
        (Some('\''), _) if !quoted => {
            stack.push(Frame::AnsiC);
            1
        }
        (Some('"'), _) if !quoted => {
            stack.push(Frame::Double);
            1
        }
        _ => 0,
    }
}

fn set_depth(stack: &mut [Frame], new: usize) {
    if let Some(Frame::Cmd { depth, .. }) = stack.last_mut() {
        *depth = new;
    }
}

fn set_param_depth(stack: &mut [Frame], new: usize) {
    if let Some(Frame::Param { depth, .. }) = stack.last_mut() {
        *depth = new;
    }
}

fn set_arith_depth(stack: &mut [Frame], new: usize) {
    if let Some(Frame::Arith { depth }) = stack.last_mut() {
        *depth = new;
    }
}

/// Reads a here-document's operator after `<<` (at `at`: an optional `-`, blanks, the
/// delimiter word); returns its body's frame and how many chars it took.
fn heredoc_start(chars: &[char], at: usize) -> Result<(Frame, usize), Refused> {
    let mut i = at;
    let strip_tabs = chars.get(i) == Some(&'-');
    if strip_tabs {
        i += 1;
    }
    while matches!(chars.get(i), Some(' ' | '\t')) {
        i += 1;
    }
    let mut delim = String::new();
    let mut expand = true;
    let mut quote: Option<char> = None;
    while let Some(&c) = chars.get(i) {
        match (quote, c) {
            (_, OPEN) => return Err((read_mark(&chars[i..]).0, DELIMITER)),
            (None, '\'' | '"') => {
                quote = Some(c);
                expand = false;
            }
            (Some(q), c) if c == q => quote = None,
            (None, '\\') => {
                expand = false;
                if let Some(&n) = chars.get(i + 1) {
                    delim.push(n);
                    i += 1;
                }
            }
            (None, c) if c.is_whitespace() || ";|&<>()".contains(c) => break,
            (_, c) => delim.push(c),
        }
        i += 1;
    }
    Ok((
        Frame::Heredoc {
            delim,
            strip_tabs,
            expand,
        },
        i - at,
    ))
}

#[cfg(test)]
mod tests;
