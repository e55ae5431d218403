//! Templates in runbook strings: `{{ inputs.name }}`, `{{ steps.<id>.<output> }}`,
//! `{{ env.NAME }}` and `{{ run.name }}`, through minijinja.
//!
//! Step ids and output names may contain `-` (`request-exemption`), which Jinja would read as a
//! minus sign; inside template tags, a `-` inside a dotted path that starts with `steps.` is
//! read as `_`, and the values are looked up under the same spelling. (Input names cannot
//! contain `-`, so `inputs.count-1` stays a subtraction.) Undefined values are errors, never empty strings: a command must not run
//! with a hole in it.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior, Value};
use regex::Regex;

/// How much work one template may do before it is stopped, so a runaway loop cannot hang a run.
const FUEL: u64 = 1_000_000;

/// The longest template tag (`{{ ... }}` or `{% ... %}`) accepted. minijinja builds and walks
/// expression trees recursively, so one tag of thousands of operators (`x | f | f | ...`)
/// would overflow the stack; real tags are far shorter.
const MAX_TAG: usize = 1000;

/// The byte offset of the first tag longer than `MAX_TAG`, if any; an unclosed tag runs to the
/// end of the text.
fn overlong_tag(src: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = src[from..].find('{') {
        let at = from + i;
        let close = match src.as_bytes().get(at + 1) {
            Some(b'{') => "}}",
            Some(b'%') => "%}",
            _ => {
                from = at + 1;
                continue;
            }
        };
        let body = &src[at + 2..];
        let len = body.find(close).unwrap_or(body.len());
        if len > MAX_TAG {
            return Some(at);
        }
        from = at + 2 + len;
    }
    None
}

fn overlong() -> TemplateError {
    TemplateError {
        what: format!("a template tag is longer than {MAX_TAG} characters"),
        hint: Some("compute long values in a `run` step and use its output".into()),
    }
}

/// Why a template cannot be resolved, and how to fix it when that is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}")]
pub struct TemplateError {
    pub what: String,
    pub hint: Option<String>,
}

impl TemplateError {
    /// What went wrong and, on a line of its own, the hint.
    pub fn message(&self) -> String {
        crate::out::with_hint(self.what.clone(), self.hint.clone())
    }
}

impl From<String> for TemplateError {
    fn from(what: String) -> TemplateError {
        TemplateError { what, hint: None }
    }
}

impl From<&str> for TemplateError {
    fn from(what: &str) -> TemplateError {
        TemplateError::from(what.to_string())
    }
}

/// Said where only text goes on: the message with its hint.
impl From<TemplateError> for String {
    fn from(e: TemplateError) -> String {
        e.message()
    }
}

/// The shared template environment.
pub fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(64);
        env.add_filter("shell_quote", shell_quote);
        env
    })
}

/// Quotes a value for bash: `{{ inputs.message | shell_quote }}`.
fn shell_quote(value: String) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Whether the string holds template syntax at all; plain strings are used as they are.
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// The spelling of a step id or output name as it is looked up in templates.
pub fn key(name: &str) -> String {
    name.replace('-', "_")
}

fn tag_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(?s)\{\{.*?\}\}|\{%.*?%\}").expect("valid regex"))
}

fn path_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\bsteps(?:\.[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*)+").expect("valid regex")
    })
}

/// Rewrites hyphenated names inside template tags to their lookup spelling.
pub fn prepare(src: &str) -> Cow<'_, str> {
    if !src.contains('-') {
        return Cow::Borrowed(src);
    }
    tag_regex().replace_all(src, |tag: &regex::Captures| {
        path_regex()
            .replace_all(&tag[0], |path: &regex::Captures| path[0].replace('-', "_"))
            .into_owned()
    })
}

/// Marks a secret output that is not in memory any more (it was made by an earlier process).
const LOST: &str = "\u{0}stepwise-lost-secret:";

/// The stand-in for a secret output that was not kept across a resume.
pub fn lost_secret(step: &str, name: &str) -> String {
    format!("{LOST}{step}.{name}\u{0}")
}

/// Renders a template string against a context; plain strings come back unchanged.
pub fn render(src: &str, ctx: &Value) -> Result<String, TemplateError> {
    if !is_template(src) {
        return Ok(src.to_string());
    }
    check_length(src)?;
    let out = environment()
        .render_str(&prepare(src), ctx)
        .map_err(|e| TemplateError::from(describe(&e)))?;
    check_lost(&out)?;
    Ok(out)
}

/// Refuses a template with a tag longer than `MAX_TAG`.
pub fn check_length(src: &str) -> Result<(), TemplateError> {
    match overlong_tag(src) {
        Some(_) => Err(overlong()),
        None => Ok(()),
    }
}

/// Refuses rendered text that holds a secret output an earlier process made, saying what
/// to do instead.
pub fn check_lost(out: &str) -> Result<(), TemplateError> {
    if let Some(at) = out.find(LOST) {
        let what = out[at + LOST.len()..]
            .split('\u{0}')
            .next()
            .unwrap_or_default();
        let step = what.rsplit_once('.').map_or(what, |(s, _)| s);
        return Err(TemplateError {
            what: format!(
                "the secret output `{what}` was made by an earlier process, and secrets are never kept on disk"
            ),
            hint: Some(format!(
                "run step `{step}` again (`--rerun {step}`) so that this process has it"
            )),
        });
    }
    Ok(())
}

/// Evaluates a `when` expression.
pub fn eval_condition(expr: &str, ctx: &Value) -> Result<bool, TemplateError> {
    let prepared = prepare(&format!("{{{{ {expr} }}}}")).into_owned();
    if overlong_tag(&prepared).is_some() {
        return Err(overlong());
    }
    let inner = prepared
        .strip_prefix("{{ ")
        .and_then(|s| s.strip_suffix(" }}"))
        .unwrap_or(expr)
        .to_string();
    let compiled = environment()
        .compile_expression(&inner)
        .map_err(|e| TemplateError::from(describe(&e)))?;
    compiled
        .eval(ctx)
        .map(|v| v.is_true())
        .map_err(|e| describe(&e).into())
}

/// The variables a template refers to, as dotted paths (`steps.launch.instance_id`), or the
/// syntax error that stops it from compiling.
pub fn references(src: &str) -> Result<BTreeSet<String>, String> {
    if overlong_tag(src).is_some() {
        return Err(overlong().message());
    }
    if let Some(simple) = simple_references(src) {
        return Ok(simple);
    }
    let prepared = prepare(src);
    let tmpl = environment()
        .template_from_str(&prepared)
        .map_err(|e| describe(&e))?;
    Ok(tmpl.undeclared_variables(true).into_iter().collect())
}

/// The inputs a template refers to, by name as templates spell them (`inputs.NAME`); none
/// when it does not compile.
pub fn input_names(src: &str) -> BTreeSet<String> {
    references(src)
        .unwrap_or_default()
        .iter()
        .filter_map(|r| Some(r.strip_prefix("inputs.")?.split('.').next()?.to_string()))
        .collect()
}

/// The references of a template made only of plain `{{ a.b.c }}` tags, read without
/// compiling it (most runbook templates are like this, and a runbook has thousands); None
/// when the template has anything else, for minijinja to judge.
fn simple_references(src: &str) -> Option<BTreeSet<String>> {
    if src.contains("{%") || src.contains("{#") {
        return None;
    }
    let mut refs = BTreeSet::new();
    let mut rest = src;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let close = after.find("}}")?;
        let path = after[..close].trim();
        let mut parts = path.split('.');
        let first = parts.next()?;
        let name_start = |s: &str| s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
        let name_chars = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if !name_start(first) || !first.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        // Step ids may start with a digit and hold `-` (`steps.step-0.value`); other names not.
        let steps = first == "steps";
        for part in path.split('.').skip(1) {
            let ok = !part.is_empty()
                && name_chars(part)
                && (steps || (name_start(part) && !part.contains('-')));
            if !ok {
                return None;
            }
        }
        // A keyword is not a variable; leave such tags to minijinja.
        if matches!(
            first,
            "true" | "false" | "none" | "True" | "False" | "None" | "loop" | "self"
        ) {
            return None;
        }
        refs.insert(if steps {
            path.replace('-', "_")
        } else {
            path.to_string()
        });
        rest = &after[close + 2..];
    }
    Some(refs)
}

/// Where in `src` the syntax error that stops it from compiling is, as a byte range.
pub fn error_range(src: &str) -> Option<std::ops::Range<usize>> {
    if let Some(at) = overlong_tag(src) {
        return Some(at..at + 2);
    }
    // `prepare` keeps lengths, so a range in the prepared text is one in `src`.
    environment()
        .template_from_str(&prepare(src))
        .err()?
        .range()
}

/// The variables an expression refers to.
pub fn expression_references(expr: &str) -> Result<BTreeSet<String>, String> {
    references(&format!("{{{{ {expr} }}}}"))
}

/// A one-line description of a template error, without minijinja's debug dump.
pub fn describe(e: &minijinja::Error) -> String {
    let mut msg = e.kind().to_string();
    if let Some(detail) = e.detail() {
        msg.push_str(": ");
        msg.push_str(detail);
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_their_hint_as_a_field() {
        let e = check_lost(&format!("key={}", lost_secret("make-key", "key"))).unwrap_err();
        assert_eq!(
            e.what,
            "the secret output `make-key.key` was made by an earlier process, and secrets are never kept on disk"
        );
        assert_eq!(
            e.hint.as_deref(),
            Some("run step `make-key` again (`--rerun make-key`) so that this process has it")
        );
        assert_eq!(e.to_string(), e.what);
        assert_eq!(
            e.message(),
            format!("{}\nhint: {}", e.what, e.hint.clone().unwrap())
        );
        let long = format!("{{{{ {} }}}}", "x".repeat(MAX_TAG + 1));
        let e = render(&long, &Value::UNDEFINED).unwrap_err();
        assert!(e.hint.unwrap().contains("compute long values"));
    }

    #[test]
    fn hyphens_inside_tags_become_underscores() {
        assert_eq!(
            prepare("see request-exemption {{ steps.request-exemption.ticket-id }} x-y"),
            "see request-exemption {{ steps.request_exemption.ticket_id }} x-y"
        );
        assert_eq!(prepare("{{ inputs.count-1 }}"), "{{ inputs.count-1 }}");
        assert_eq!(
            prepare("{{ steps.step-0.value }}"),
            "{{ steps.step_0.value }}"
        );
    }

    #[test]
    fn references_are_dotted_paths() {
        let refs =
            references("{{ inputs.a }} {{ steps.b.c }} {% if env.X %}{{ run.name }}{% endif %}")
                .unwrap();
        let refs: Vec<_> = refs.into_iter().collect();
        assert_eq!(refs, ["env.X", "inputs.a", "run.name", "steps.b.c"]);
    }

    #[test]
    fn simple_templates_are_read_like_compiled_ones() {
        for src in [
            "{{ inputs.a }} and {{ steps.get-ip.external_ip }}",
            "x {{inputs.zone}}.{{ inputs.name }}",
            "{{ steps.step-0.value }}",
            "{{ run.name }}-{{ env.HOME }}",
            "no tags at all",
            "{{ inputs.a | upper }}",
            "{{ steps.a.b[0] }}",
        ] {
            let prepared = prepare(src);
            let compiled: BTreeSet<String> = environment()
                .template_from_str(&prepared)
                .unwrap()
                .undeclared_variables(true)
                .into_iter()
                .collect();
            assert_eq!(references(src).unwrap(), compiled, "{src}");
        }
        assert!(simple_references("{{ inputs.a | upper }}").is_none());
        assert!(simple_references("{% if x %}{% endif %}").is_none());
    }

    #[test]
    fn undefined_is_an_error() {
        let ctx = Value::from_serialize(serde_json::json!({"inputs": {"a": "x"}}));
        assert_eq!(render("{{ inputs.a }}", &ctx).unwrap(), "x");
        assert!(render("{{ inputs.b }}", &ctx).is_err());
    }

    #[test]
    fn runaway_templates_are_stopped() {
        let ctx = Value::from_serialize(serde_json::json!({}));
        let err = render(
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            &ctx,
        );
        assert!(err.is_err());
    }
}
