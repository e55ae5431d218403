//! Templates in a runbook: their syntax, and that what they refer to exists where they are
//! (inputs declared, outputs of earlier steps, `item` and `current` where they apply), with
//! each problem placed at the reference as it is written in the file.

use super::*;

impl Loader {
    /// Checks the syntax of every template string under a node, and notes what each refers to.
    pub(super) fn templates_in(
        &mut self,
        src: &SourceFile,
        node: &Node,
        extra: Option<&'static str>,
        uses: &mut Vec<Use>,
    ) {
        match &node.kind {
            NodeKind::Scalar(text, _) => {
                if template::is_template(text)
                    && let Some(refs) = self.template_refs(src, node.pos, text)
                    && !refs.is_empty()
                {
                    uses.push(Use {
                        pos: node.pos,
                        text: text.as_str().into(),
                        refs,
                        extra,
                    });
                }
            }
            NodeKind::Seq(items) => {
                for item in items {
                    self.templates_in(src, item, extra, uses);
                }
            }
            NodeKind::Map(entries) => {
                for (key, value) in entries {
                    let name = key.as_str().unwrap_or_default();
                    if !NOT_TEMPLATES.contains(&name) {
                        self.templates_in(src, value, extra, uses);
                    }
                }
            }
        }
    }

    /// Checks one template: its syntax, and that what it refers to exists and comes earlier.
    pub(super) fn template(
        &mut self,
        src: &SourceFile,
        pos: Pos,
        text: &str,
        scope: &Checker,
        extra: Option<(&str, &BTreeSet<String>)>,
    ) {
        if let Some(refs) = self.template_refs(src, pos, text) {
            self.references(src, pos, text, &refs, scope, extra);
        }
    }

    /// What a template refers to; a syntax error is reported and gives nothing.
    pub(super) fn template_refs(
        &mut self,
        src: &SourceFile,
        pos: Pos,
        text: &str,
    ) -> Option<BTreeSet<String>> {
        match template::references(text) {
            Ok(refs) => Some(refs),
            Err(e) => {
                // A tag left open is the usual cause, whatever the parser makes of the rest.
                let open = [("{{", "}}"), ("{%", "%}"), ("{#", "#}")]
                    .into_iter()
                    .find_map(|(open, close)| {
                        let at = text.rfind(open)?;
                        (!text[at..].contains(close)).then_some((at, open, close))
                    });
                let (at, width, message) = match open {
                    Some((at, open, close)) => (
                        at,
                        2,
                        format!(
                            "invalid template: `{open}` is not closed\nhint: end it with `{close}`"
                        ),
                    ),
                    None => {
                        let range = template::error_range(text).unwrap_or(0..0);
                        (range.start, range.len(), format!("invalid template: {e}"))
                    }
                };
                let at = locate_offset(src, pos, text, at);
                self.diags.push(src.diag(at, message).with_width(width));
                None
            }
        }
    }

    pub(super) fn references(
        &mut self,
        src: &SourceFile,
        pos: Pos,
        text: &str,
        refs: &BTreeSet<String>,
        scope: &Checker,
        extra: Option<(&str, &BTreeSet<String>)>,
    ) {
        for r in refs {
            let parts: Vec<&str> = r.split('.').collect();
            if self
                .reference_problem(&parts, &parts, scope, extra)
                .is_none()
            {
                continue;
            }
            // Name the reference as written in the file (`steps.get-ip.x`, not `get_ip`).
            let (at, width) = locate(src, pos, text, r);
            let written: String = src
                .text
                .get(src.offset(at)..)
                .unwrap_or_default()
                .chars()
                .take(width)
                .filter(|c| !c.is_whitespace())
                .collect();
            let shown: Vec<&str> = match written.split('.').collect::<Vec<_>>() {
                w if w.len() == parts.len() && template::key(&written) == *r => w,
                _ => parts.clone(),
            };
            if let Some(message) = self.reference_problem(&parts, &shown, scope, extra) {
                self.diags.push(src.diag(at, message).with_width(width));
            }
        }
    }

    /// What is wrong with a reference, if anything: `parts` in template spelling for looking
    /// up, `shown` as written for messages.
    pub(super) fn reference_problem(
        &self,
        parts: &[&str],
        shown: &[&str],
        scope: &Checker,
        extra: Option<(&str, &BTreeSet<String>)>,
    ) -> Option<String> {
        match parts[0] {
            "env" => None,
            "run" => match parts.get(1) {
                Some(&"name") | None => None,
                Some(other) => Some(format!(
                    "unknown run value `run.{other}`\nhint: templates can use `run.name`"
                )),
            },
            "inputs" => match extra {
                // Input defaults may refer only to earlier inputs; `extra` holds them all.
                Some(("inputs", all)) => match parts.get(1) {
                    Some(name) if scope.inputs.contains(*name) => None,
                    Some(name) if all.contains(*name) => Some(format!(
                        "the default refers to `inputs.{name}`, which is not declared above it\nhint: a default can use the inputs declared before it"
                    )),
                    Some(_) => {
                        let known: Vec<&str> = all.iter().map(String::as_str).collect();
                        Some(unknown("input", shown[1], &known))
                    }
                    None => None,
                },
                _ => match parts.get(1) {
                    None => None,
                    Some(name) if scope.inputs.contains(*name) => None,
                    Some(_) => {
                        let known: Vec<&str> = scope.inputs.iter().map(String::as_str).collect();
                        Some(unknown("input", shown[1], &known))
                    }
                },
            },
            "steps" => self.step_reference(parts, shown, scope),
            name if extra.is_some_and(|(n, _)| n == name) => None,
            "current" => {
                Some("`current` is only available in the values of a `file` step's `set`".into())
            }
            name => Some(format!(
                "unknown variable `{name}`\nhint: templates can use `inputs.NAME`, `steps.ID.OUTPUT`, `env.NAME` and `run.name`"
            )),
        }
    }

    /// Names in template spelling as the runbook writes them, sorted.
    pub(super) fn spelled<'a>(&'a self, keys: impl Iterator<Item = &'a String>) -> Vec<&'a str> {
        let mut names: Vec<&str> = keys
            .map(|k| self.spellings.get(k).unwrap_or(k).as_str())
            .collect();
        names.sort_unstable();
        names
    }

    /// Checks `steps.ID.OUTPUT` (or `steps.INCLUDE.ID.OUTPUT`): `parts` in template spelling
    /// for looking up, `shown` as written for messages.
    pub(super) fn step_reference(
        &self,
        parts: &[&str],
        shown: &[&str],
        scope: &Checker,
    ) -> Option<String> {
        let id = parts.get(1)?;
        let Some(outputs) = scope.earlier(id) else {
            if scope.later(id) {
                return Some(format!(
                    "`steps.{}` refers to a later step\nhint: a step can only use outputs of the steps before it",
                    shown[1]
                ));
            }
            return Some(unknown(
                "step",
                shown[1],
                &self.spelled(scope.earlier_ids()),
            ));
        };
        let mut outputs = outputs;
        let mut path = format!("steps.{}", shown[1]);
        for (part, written) in parts[2..].iter().zip(&shown[2..]) {
            match outputs {
                Outputs::Names(names) => {
                    if names.contains(*part) {
                        return None;
                    }
                    if names.is_empty() {
                        return Some(format!(
                            "`{path}` has no output `{written}`\nhint: declare it under the step's `outputs`"
                        ));
                    }
                    return Some(with_hint(
                        format!("unknown output `{written}` of `{path}`"),
                        written,
                        &self.spelled(names.iter()),
                    ));
                }
                Outputs::Nested(children) => match children.get(*part) {
                    Some(next) => {
                        outputs = next;
                        path = format!("{path}.{written}");
                    }
                    None => {
                        return Some(with_hint(
                            format!("unknown step `{written}` of included `{path}`"),
                            written,
                            &self.spelled(children.keys()),
                        ));
                    }
                },
            }
        }
        Some(format!(
            "`{path}` is a step, not a value\nhint: refer to one of its outputs: `{path}.OUTPUT`"
        ))
    }
}

/// Finds where byte `offset` of a node's value is in the file, by finding the text around it;
/// the node's own position when it cannot be found (escapes, folded lines).
pub(super) fn locate_offset(src: &SourceFile, pos: Pos, text: &str, offset: usize) -> Pos {
    let offset = offset.min(text.len());
    if !text.is_char_boundary(offset) {
        return pos;
    }
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = &text[line_start..line_end];
    let start = src.offset(pos);
    let end = (start + text.len() * 2 + 64).min(src.text.len());
    let end = (end..=src.text.len())
        .find(|&i| src.text.is_char_boundary(i))
        .unwrap_or(src.text.len());
    match src.text.get(start..end).and_then(|hay| hay.find(line)) {
        Some(found) if !line.trim().is_empty() => src.pos(start + found + offset - line_start),
        _ => pos,
    }
}

/// Finds where a reference is written inside a template node, for the caret.
pub(super) fn locate(src: &SourceFile, pos: Pos, text: &str, reference: &str) -> (Pos, usize) {
    let pattern: String = reference
        .split('.')
        .map(|part| {
            part.split('_')
                .map(regex::escape)
                .collect::<Vec<_>>()
                .join("[-_]")
        })
        .collect::<Vec<_>>()
        .join(r"\s*\.\s*");
    let start = src.offset(pos);
    // The node's text can be longer in the file than its value (quotes, escapes, indentation).
    let end = (start + text.len() * 2 + 64).min(src.text.len());
    let end = (end..=src.text.len())
        .find(|&i| src.text.is_char_boundary(i))
        .unwrap_or(src.text.len());
    if let Ok(re) = regex::Regex::new(&format!(r"\b{pattern}\b"))
        && let Some(m) = src.text.get(start..end).and_then(|hay| re.find(hay))
    {
        return (src.pos(start + m.start()), m.as_str().chars().count());
    }
    (pos, 1)
}
