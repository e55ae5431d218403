//! Reading runbook files and checking everything that can be checked before anything runs.
//!
//! `load` reads a runbook and the runbooks it includes, checks each one, and returns a `Plan`:
//! the steps of all of them in the order they run, includes expanded in place. Every problem
//! found is returned, each located in its file, and no plan is made if there is any.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;

use super::model::{Input, RunbookDoc, Spanned, Step, StepKind};
use super::source::{Diagnostic, SourceFile};
use super::yaml::{DeError, Node, NodeKind, Pos, from_node};
use super::{script, template};
use crate::aws;

#[path = "check.rs"]
mod check;
#[path = "refs.rs"]
mod refs;
pub use super::plan::{Plan, PlanStep, Runbook, Scope, Work};
use check::*;
use refs::*;

/// Top-level fields of a runbook.
pub const TOP_KEYS: &[&str] = &[
    "stepwise",
    "id",
    "title",
    "description",
    "run_name",
    "inputs",
    "aws",
    "steps",
];

/// Fields of a step.
pub const STEP_KEYS: &[&str] = &[
    "id",
    "title",
    "description",
    "manual",
    "run",
    "check",
    "aws",
    "file",
    "include",
    "with",
    "env",
    "cwd",
    "interactive",
    "wait",
    "prompts",
    "checklist",
    "when",
    "skip_if",
    "recheck",
    "outputs",
    "danger",
    "retry",
    "timeout",
    "continue_on_error",
    "for_each",
    "assume_role",
];

/// Keys whose string values are not templates (regular expressions, JSON paths, ids).
const NOT_TEMPLATES: &[&str] = &["pattern", "regex", "json", "id", "when"];

/// Longest JSON path accepted in an output.
const MAX_JSON_PATH: usize = 500;

/// How many steps the parser hands over at a time.
const BATCH: usize = 32;

/// How many batches may wait to be read; when the reader falls behind, the parser waits
/// rather than holding ever more steps in memory.
const QUEUE: usize = 4;

/// Deepest include nesting; deeper is almost certainly a mistake.
const MAX_INCLUDE_DEPTH: usize = 16;

/// Reads and checks a runbook and everything it includes.
pub fn load(path: &Path) -> Result<Plan, Vec<Diagnostic>> {
    let mut loader = Loader::default();
    let root = loader.file(path, &mut Vec::new());
    if !loader.diags.is_empty() {
        // File by file (in the order they were first reported), and top to bottom in each.
        let mut files: Vec<PathBuf> = Vec::new();
        for d in &loader.diags {
            if !files.contains(&d.path) {
                files.push(d.path.clone());
            }
        }
        loader
            .diags
            .sort_by_key(|d| (files.iter().position(|p| p == &d.path), d.pos));
        return Err(loader.diags);
    }
    let Some(root) = root else {
        return Err(loader.diags);
    };
    let mut plan = Plan {
        scopes: Vec::new(),
        steps: Vec::new(),
    };
    flatten(&mut plan, &loader, root, None, String::new(), 0).map_err(|d| vec![d])?;
    Ok(plan)
}

/// Checks a runbook without keeping the plan.
pub fn validate(path: &Path) -> Vec<Diagnostic> {
    load(path).err().unwrap_or_default()
}

fn flatten(
    plan: &mut Plan,
    loader: &Loader,
    runbook: Arc<Runbook>,
    parent: Option<usize>,
    prefix: String,
    depth: usize,
) -> Result<(), Diagnostic> {
    let scope = plan.scopes.len();
    plan.scopes.push(Scope {
        runbook: runbook.clone(),
        parent,
        prefix: prefix.clone(),
    });
    for (index, step) in runbook.doc.steps.iter().enumerate() {
        let key = format!("{prefix}{}", step.id.value);
        let at = plan.steps.len();
        // Validation has checked every action's name and loaded every include; a plan is
        // never made with either missing.
        let missing = |what: &str| {
            runbook.source.diag(
                step.id.pos,
                format!("{what} (a bug: validation should have said so)"),
            )
        };
        let work = match step.kind() {
            StepKind::Manual => Work::Manual,
            StepKind::Run => Work::Run,
            StepKind::Check => Work::Check,
            StepKind::File => Work::File,
            StepKind::Aws => Work::Aws(
                step.aws
                    .as_ref()
                    .and_then(|a| aws::registry().get(&a.value))
                    .ok_or_else(|| missing("unknown AWS action"))?,
            ),
            StepKind::Include => Work::Include {
                scope: plan.scopes.len(),
                end: at + 1,
            },
        };
        plan.steps.push(PlanStep {
            key: key.clone(),
            scope,
            index,
            depth,
            hash: std::sync::OnceLock::new(),
            work,
        });
        if let Work::Include { .. } = work {
            let child = loader
                .includes
                .get(&(runbook.path().to_path_buf(), index))
                .ok_or_else(|| missing("the included runbook was not read"))?;
            let child_scope = plan.scopes.len();
            flatten(
                plan,
                loader,
                child.clone(),
                Some(at),
                format!("{key}/"),
                depth + 1,
            )?;
            let end = plan.steps.len();
            plan.steps[at].work = Work::Include {
                scope: child_scope,
                end,
            };
        }
    }
    Ok(())
}

#[derive(Default)]
struct Loader {
    diags: Vec<Diagnostic>,
    /// Runbooks already read, by canonical path.
    files: HashMap<PathBuf, Arc<Runbook>>,
    /// The runbook each include step brings in: (including file, step index).
    includes: HashMap<(PathBuf, usize), Arc<Runbook>>,
    /// Step ids and output names as written (`get-ip`), by their template spelling (`get_ip`),
    /// so that messages name them as the runbook does.
    spellings: HashMap<String, String>,
    /// Regular expressions already found valid.
    good_regexes: std::collections::HashSet<String>,
}

/// What a step makes available to later steps, for checking references.
#[derive(Debug, Clone)]
enum Outputs {
    Names(BTreeSet<String>),
    Nested(HashMap<String, Outputs>),
}

impl Loader {
    /// Reads, parses and checks one file; `stack` holds the files including it, for cycles.
    fn file(&mut self, path: &Path, stack: &mut Vec<PathBuf>) -> Option<Arc<Runbook>> {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if let Some(done) = self.files.get(&canonical) {
            return Some(done.clone());
        }
        let text = match std::fs::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    let valid = e.utf8_error().valid_up_to();
                    let bytes = e.into_bytes();
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    let src = SourceFile::new(path, text);
                    let pos = src.pos(valid);
                    self.diags.push(
                        src.diag(pos, "the file is not valid UTF-8 text")
                            .with_width(1),
                    );
                    return None;
                }
            },
            Err(e) => {
                let why = match e.kind() {
                    std::io::ErrorKind::NotFound => "no such file".to_string(),
                    std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                    std::io::ErrorKind::IsADirectory => "it is a directory".to_string(),
                    _ => e.to_string(),
                };
                self.diags.push(Diagnostic::unlocated(
                    path,
                    format!("cannot read {}: {why}", path.display()),
                ));
                return None;
            }
        };
        let source = Arc::new(SourceFile::new(path, text));
        let before = self.diags.len();
        let mut read = Read::default();
        let parsed = self.parse(&source, &mut read);
        let root = match parsed {
            Ok(root) => root,
            Err(e) => {
                // What was found in the steps read before the syntax error would only confuse.
                self.diags.truncate(before);
                let diag = source.diag(e.pos, e.message);
                // A duplicate key is reported at the key: underline all of it.
                let diag = if diag.message.starts_with("duplicate key") {
                    diag
                } else {
                    diag.with_width(1)
                };
                self.diags.push(diag);
                return None;
            }
        };
        // A list of steps the parser kept (it has an anchor) is read here, the same way.
        let mut root = root;
        let steps_node = match &mut root.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .position(|(k, _)| k.as_str() == Some("steps"))
                .map(|i| entries.remove(i).1),
            _ => None,
        };
        let steps_node = steps_node.map(|node| match node.kind {
            NodeKind::Seq(items) => {
                for item in items {
                    self.read_step(&source, item, &mut read);
                }
                Node {
                    pos: node.pos,
                    kind: NodeKind::Seq(Vec::new()),
                }
            }
            _ => node,
        });
        let doc = self.document(&source, &root, steps_node, &mut read)?;
        let runbook = Arc::new(Runbook {
            source: source.clone(),
            doc,
        });
        self.files.insert(canonical.clone(), runbook.clone());
        stack.push(canonical);
        self.check(&runbook, read, stack);
        stack.pop();
        Some(runbook)
    }

    /// Parses a file on another thread while this one reads and checks each step as soon as
    /// the parser hands it over, so that parsing and checking overlap and no more than a few
    /// steps' YAML trees are held at once.
    fn parse(
        &mut self,
        src: &SourceFile,
        read: &mut Read,
    ) -> Result<Node, super::yaml::SyntaxError> {
        let text = src.text.as_str();
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Node>>(QUEUE);
            let parser = std::thread::Builder::new()
                .name("parse".into())
                // The parser recurses once per level of nesting (at most 256 of them).
                .stack_size(8 << 20)
                .spawn_scoped(scope, move || {
                    // Steps go over in batches: waking the reader for each costs more than
                    // reading it.
                    let mut batch = Vec::with_capacity(BATCH);
                    let root = Node::parse_split(text, "steps", &mut |item| {
                        batch.push(item);
                        if batch.len() == BATCH {
                            let _ =
                                tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
                        }
                    });
                    let _ = tx.send(batch);
                    root
                });
            match parser {
                Ok(parser) => {
                    // Growing a large list moves it, which costs every core a TLB flush once
                    // two threads run; a rough count of the steps (an upper bound for a usual
                    // runbook) avoids that.
                    let guess = text.matches("id:").count();
                    read.steps.reserve(guess);
                    read.facts.reserve(guess);
                    for item in rx.into_iter().flatten() {
                        self.read_step(src, item, read);
                    }
                    parser
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                }
                // No thread to be had: parse here, keeping the steps in the tree.
                Err(_) => Node::parse(text),
            }
        })
    }

    /// Reads one step and checks what it can on its own; the node is dropped here.
    fn read_step(&mut self, src: &SourceFile, node: Node, read: &mut Read) {
        let Some(step) = self.step(src, &node) else {
            read.broken = true;
            return;
        };
        let id = &step.id;
        if !is_id(&id.value) {
            self.diags.push(src.diag(
                id.pos,
                format!("invalid step id `{}`\nhint: use lowercase letters, digits, `-` and `_`, starting with a letter or digit", id.value),
            ));
        }
        let index = read.steps.len();
        let first = *read.ids.entry(template::key(&id.value)).or_insert(index);
        if first != index {
            self.diags.push(src.diag(
                id.pos,
                format!("duplicate step id `{}` (first used at line {})\nhint: step ids must be unique within a runbook; `-` and `_` count as the same", id.value, read.steps[first].id.pos.line),
            ));
        }
        let names = std::iter::once(&id.value)
            .chain(step.outputs.keys())
            .chain(step.prompts.keys());
        // Only names with `-` are spelled differently in templates.
        for name in names.filter(|name| name.contains('-')) {
            self.spellings
                .entry(template::key(name))
                .or_insert_with(|| name.clone());
        }
        read.facts.push(self.step_facts(src, &step, node));
        read.steps.push(step);
    }

    fn de<T>(&mut self, src: &SourceFile, result: Result<T, DeError>, fallback: Pos) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.diags
                    .push(src.diag(e.pos.unwrap_or(fallback), e.message));
                None
            }
        }
    }

    /// Turns the YAML tree into typed values, reporting each broken part on its own.
    fn document(
        &mut self,
        src: &SourceFile,
        root: &Node,
        steps_node: Option<Node>,
        read: &mut Read,
    ) -> Option<RunbookDoc> {
        let Some(entries) = root.as_map() else {
            self.diags.push(src.diag(
                root.pos,
                format!(
                    "a runbook must be a mapping with `stepwise`, `id`, `title` and `steps`, found {}",
                    root.type_name()
                ),
            ));
            return None;
        };
        let before = self.diags.len();
        for (key, _) in entries {
            let name = key.as_str().unwrap_or_default();
            if !TOP_KEYS.contains(&name) {
                self.diags
                    .push(src.diag(key.pos, unknown("field", name, TOP_KEYS)));
            }
        }
        let missing_hint =
            |field: &str, hint: &str| format!("missing field `{field}`\nhint: {hint}");
        let version = self.version(src, root);
        let id: Option<Spanned<String>> = match root.get("id") {
            None => {
                self.diags.push(src.diag(
                    root.pos,
                    missing_hint("id", "name the runbook, e.g. `id: rotate-keys`"),
                ));
                None
            }
            Some(node) => self.de(src, from_node(node), node.pos),
        };
        let title: Option<String> = match root.get("title") {
            None => {
                self.diags.push(src.diag(
                    root.pos,
                    missing_hint("title", "give the runbook a one-line `title`"),
                ));
                None
            }
            Some(node) => self.de(src, from_node(node), node.pos),
        };
        let description = root
            .get("description")
            .and_then(|n| self.de(src, from_node(n), n.pos))
            .flatten();
        let run_name = root
            .get("run_name")
            .and_then(|n| self.de(src, from_node(n), n.pos))
            .flatten();
        let aws = root
            .get("aws")
            .and_then(|n| self.de(src, from_node(n), n.pos))
            .flatten();
        let inputs = self.inputs(src, root);
        match steps_node {
            None => self.diags.push(src.diag(
                root.pos,
                missing_hint(
                    "steps",
                    "list the steps under `steps:`, each with `id`, `title` and one kind",
                ),
            )),
            Some(node) => match node.kind {
                NodeKind::Seq(_) => {}
                _ => self.diags.push(src.diag(
                    node.pos,
                    format!(
                        "`steps` must be a list of steps, found {}",
                        node.type_name()
                    ),
                )),
            },
        }
        // A step that could not be read would make references to it look wrong.
        if self.diags.len() > before || read.broken {
            return None;
        }
        let steps = std::mem::take(&mut read.steps);
        let doc = RunbookDoc {
            stepwise: version?,
            id: id?,
            title: title?,
            description,
            run_name,
            inputs,
            aws,
            steps,
        };
        Some(doc)
    }

    /// The format version (`stepwise: 1`).
    fn version(&mut self, src: &SourceFile, root: &Node) -> Option<u32> {
        let Some(node) = root.get("stepwise") else {
            self.diags.push(src.diag(
                root.pos,
                "missing field `stepwise`\nhint: start the file with `stepwise: 1`",
            ));
            return None;
        };
        let v = self.de::<u32>(src, from_node(node), node.pos)?;
        if v != 1 {
            self.diags.push(src.diag(
                node.pos,
                format!("unsupported format version {v}\nhint: this stepwise reads `stepwise: 1`"),
            ));
            return None;
        }
        Some(v)
    }

    /// The runbook's inputs, each checked on its own.
    fn inputs(&mut self, src: &SourceFile, root: &Node) -> IndexMap<String, Input> {
        let mut inputs = IndexMap::new();
        if let Some(node) = root.get("inputs").filter(|n| !n.is_null()) {
            match node.as_map() {
                Some(entries) => {
                    for (key, value) in entries {
                        let name = key.as_str().unwrap_or_default().to_string();
                        if !is_name(&name) {
                            self.diags.push(src.diag(
                            key.pos,
                            format!("invalid input name `{name}`\nhint: use letters, digits and `_`, starting with a letter"),
                        ));
                        }
                        let input: Option<Input> = if value.is_null() {
                            Some(Input::default())
                        } else {
                            self.de(src, from_node(value), value.pos)
                        };
                        if let Some(input) = input {
                            inputs.insert(name, input);
                        }
                    }
                }
                None => self.diags.push(src.diag(
                    node.pos,
                    format!(
                        "`inputs` must be a mapping of input names, found {}",
                        node.type_name()
                    ),
                )),
            }
        }
        inputs
    }

    /// Reads one step, checking its fields by name first so that every unknown field is named.
    fn step(&mut self, src: &SourceFile, node: &Node) -> Option<Step> {
        let Some(entries) = node.as_map() else {
            self.diags.push(src.diag(
                node.pos,
                format!(
                    "a step must be a mapping with `id`, `title` and one kind, found {}",
                    node.type_name()
                ),
            ));
            return None;
        };
        let mut ok = true;
        let mut kinds = Vec::new();
        for (key, _) in entries {
            let name = key.as_str().unwrap_or_default();
            if !STEP_KEYS.contains(&name) {
                self.diags
                    .push(src.diag(key.pos, unknown("field", name, STEP_KEYS)));
                ok = false;
            }
            if super::model::KINDS.contains(&name) {
                kinds.push(key);
            }
        }
        let id_text = node.get("id").and_then(Node::as_str).map(str::to_string);
        let label = id_text
            .as_deref()
            .map_or_else(|| "this step".to_string(), |id| format!("step `{id}`"));
        if kinds.is_empty() && ok {
            self.diags.push(src.diag(
                node.pos,
                format!(
                    "{label} has no kind\nhint: give it one of `manual`, `run`, `check`, `aws`, `file` or `include`"
                ),
            ));
            ok = false;
        }
        if kinds.len() > 1 {
            let names: Vec<String> = kinds
                .iter()
                .map(|k| format!("`{}`", k.as_str().unwrap_or_default()))
                .collect();
            self.diags.push(src.diag(
                kinds[1].pos,
                format!(
                    "{label} has two kinds: {}\nhint: a step does one thing; split it into two steps",
                    names.join(" and ")
                ),
            ));
            ok = false;
        }
        let mut missing = false;
        for (field, hint) in [
            ("id", "give every step a unique `id`, e.g. `id: build`"),
            ("title", "give every step a one-line `title`"),
        ] {
            if node.get(field).is_none() {
                self.diags
                    .push(src.diag(node.pos, format!("{label} has no `{field}`\nhint: {hint}")));
                missing = true;
            }
        }
        if !ok {
            return None;
        }
        match from_node::<Step>(node) {
            Ok(step) if !missing => Some(step),
            // Already reported above, by the step's id.
            Err(e) if missing && e.message.starts_with("missing field") => None,
            result => {
                self.de(src, result, node.pos);
                None
            }
        }
    }
}

/// The outputs of a step of an already checked runbook.
fn outputs_of(rb: &Runbook, index: usize, step: &Step, loader: &Loader) -> Outputs {
    if step.include.is_some() {
        if let Some(child) = loader.includes.get(&(rb.path().to_path_buf(), index)) {
            let mut nested = HashMap::new();
            for (i, s) in child.doc.steps.iter().enumerate() {
                nested.insert(template::key(&s.id.value), outputs_of(child, i, s, loader));
            }
            return Outputs::Nested(nested);
        }
        return Outputs::Nested(HashMap::new());
    }
    Outputs::Names(
        declared_outputs(step)
            .iter()
            .map(|k| template::key(k))
            .collect(),
    )
}

/// The outputs a step declares, whether or not it has run.
pub fn declared_outputs(step: &Step) -> Vec<String> {
    let mut names: Vec<String> = step.outputs.keys().cloned().collect();
    names.extend(step.prompts.keys().cloned());
    match step.kind() {
        StepKind::File => names.push("path".into()),
        StepKind::Aws => {
            if let Some(action) = step
                .aws
                .as_ref()
                .and_then(|a| aws::registry().get(&a.value))
            {
                names.extend(action.outputs().iter().map(|s| s.to_string()));
            }
        }
        _ => {}
    }
    names.dedup();
    names
}

/// The steps read so far, and what was found in each on its own.
#[derive(Default)]
struct Read {
    steps: Vec<Step>,
    facts: Vec<StepFacts>,
    /// Where each step id (in template spelling) is first used.
    ids: HashMap<String, usize>,
    /// Whether a step could not be read.
    broken: bool,
}

/// A message for a name that is not one of the known ones, with the closest as a hint.
pub fn unknown(what: &str, name: &str, known: &[&str]) -> String {
    with_hint(format!("unknown {what} `{name}`"), name, known)
}

/// Adds to a message about an unknown `name` the closest known one, or the list of them.
fn with_hint(mut msg: String, name: &str, known: &[&str]) -> String {
    if let Some(best) = super::closest(name, known.iter().copied()) {
        msg.push_str(&format!("\nhint: did you mean `{best}`?"));
    } else if !known.is_empty() && known.len() <= 12 {
        let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
        msg.push_str(&format!("\nhint: expected one of {}", list.join(", ")));
    }
    msg
}

/// A regular expression anchored to match a whole value.
pub fn full_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!("^(?:{pattern})$"))
}

fn is_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
