//! Reading runbook files and checking everything that can be checked before anything runs.
//!
//! `load` reads a runbook and the runbooks it includes, checks each one, and returns a `Plan`:
//! the steps of all of them in the order they run, includes expanded in place. Every problem
//! found is returned, each located in its file, and no plan is made if there is any.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use sha2::{Digest, Sha256};

use super::model::{Input, RunbookDoc, Spanned, Step, StepKind};
use super::source::{Diagnostic, SourceFile};
use super::yaml::{DeError, Node, NodeKind, Pos, from_node};
use super::{script, template};
use crate::aws;

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

/// One parsed runbook file.
#[derive(Debug)]
pub struct Runbook {
    pub source: Arc<SourceFile>,
    pub doc: RunbookDoc,
}

impl Runbook {
    /// The file the runbook was read from.
    pub fn path(&self) -> &Path {
        &self.source.path
    }

    /// The directory that paths in the runbook are relative to.
    pub fn dir(&self) -> PathBuf {
        self.path()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// A hash of the whole file, to notice that a runbook changed between runs.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.source.text.as_bytes()))
    }
}

/// Where the steps of one runbook file run: the root runbook, or an include of another.
#[derive(Debug)]
pub struct Scope {
    pub runbook: Arc<Runbook>,
    /// For an included runbook: the plan index of the include step.
    pub parent: Option<usize>,
    /// The key prefix of its steps (`deploy/` for steps included by step `deploy`).
    pub prefix: String,
}

/// One step of the plan.
#[derive(Debug)]
pub struct PlanStep {
    /// Unique key within the plan: the step id, prefixed by the ids of the includes around it.
    pub key: String,
    /// The scope whose runbook defines the step.
    pub scope: usize,
    /// The step's position in its runbook.
    pub index: usize,
    /// How many includes deep the step is.
    pub depth: usize,
    /// A hash of the step's definition, to notice that it changed since it ran; made when
    /// first asked for (validation alone never needs it).
    hash: std::sync::OnceLock<String>,
    /// For an include step, the scope of the included runbook and the plan index just after its
    /// last step.
    pub include: Option<(usize, usize)>,
}

/// A runbook with its includes, ready to run.
#[derive(Debug)]
pub struct Plan {
    pub scopes: Vec<Scope>,
    pub steps: Vec<PlanStep>,
}

impl Plan {
    /// The root runbook.
    pub fn root(&self) -> &Runbook {
        &self.scopes[0].runbook
    }

    /// The definition of a plan step.
    pub fn step(&self, i: usize) -> &Step {
        let s = &self.steps[i];
        &self.scopes[s.scope].runbook.doc.steps[s.index]
    }

    /// The runbook that defines a plan step.
    pub fn runbook_of(&self, i: usize) -> &Runbook {
        &self.scopes[self.steps[i].scope].runbook
    }

    /// The hash of a step's definition (what it does, not its title or description).
    pub fn hash(&self, i: usize) -> &str {
        self.steps[i].hash.get_or_init(|| step_hash(self.step(i)))
    }

    /// The plan index of a step key.
    pub fn index_of(&self, key: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.key == key)
    }

    /// Whether any step, at any depth, is an AWS step.
    pub fn uses_aws(&self) -> bool {
        (0..self.steps.len()).any(|i| self.step(i).kind() == StepKind::Aws)
    }
}

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
    flatten(&mut plan, &loader, root, None, String::new(), 0);
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
) {
    let scope = plan.scopes.len();
    plan.scopes.push(Scope {
        runbook: runbook.clone(),
        parent,
        prefix: prefix.clone(),
    });
    for (index, step) in runbook.doc.steps.iter().enumerate() {
        let key = format!("{prefix}{}", step.id.value);
        let at = plan.steps.len();
        plan.steps.push(PlanStep {
            key: key.clone(),
            scope,
            index,
            depth,
            hash: std::sync::OnceLock::new(),
            include: None,
        });
        if step.include.is_some()
            && let Some(child) = loader.includes.get(&(runbook.path().to_path_buf(), index))
        {
            let child_scope = plan.scopes.len();
            flatten(
                plan,
                loader,
                child.clone(),
                Some(at),
                format!("{key}/"),
                depth + 1,
            );
            let end = plan.steps.len();
            plan.steps[at].include = Some((child_scope, end));
        }
    }
}

fn step_hash(step: &Step) -> String {
    // Titles and descriptions explain a step; editing them does not change what it does.
    let mut what = step.clone();
    what.title.clear();
    what.description = None;
    let json = serde_json::to_vec(&what).unwrap_or_default();
    hex::encode(&Sha256::digest(&json)[..12])
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
                let src = SourceFile::new(path, String::new());
                self.diags.push(src.diag(
                    Pos { line: 1, col: 1 },
                    format!("cannot read the runbook: {e}"),
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
        let missing = |field: &str| format!("missing field `{field}`");
        let missing_hint =
            |field: &str, hint: &str| format!("missing field `{field}`\nhint: {hint}");
        let mut version = None;
        match root.get("stepwise") {
            None => self.diags.push(src.diag(
                root.pos,
                format!(
                    "{}\nhint: start the file with `stepwise: 1`",
                    missing("stepwise")
                ),
            )),
            Some(node) => {
                if let Some(v) = self.de::<u32>(src, from_node(node), node.pos) {
                    if v != 1 {
                        self.diags.push(src.diag(
                            node.pos,
                            format!("unsupported format version {v}\nhint: this stepwise reads `stepwise: 1`"),
                        ));
                    } else {
                        version = Some(v);
                    }
                }
            }
        }
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

    /// Checks what needs the whole runbook: ids, references, patterns, includes, actions.
    fn check(&mut self, rb: &Arc<Runbook>, read: Read, stack: &mut Vec<PathBuf>) {
        let src = rb.source.clone();
        let doc = &rb.doc;
        let mut scope = Checker {
            inputs: BTreeSet::new(),
            ids: read.ids,
            outputs: Vec::with_capacity(doc.steps.len()),
            this: None,
        };
        // Inputs: patterns, choices, and defaults that refer only to earlier inputs.
        let all_inputs: BTreeSet<String> = doc.inputs.keys().map(|k| template::key(k)).collect();
        for (name, input) in &doc.inputs {
            if let Some(p) = &input.pattern {
                self.regex(&src, p);
            }
            if let Some(default) = &input.default {
                let fields = Some(("inputs", &all_inputs));
                self.template(&src, default.pos, &default.value, &scope, fields);
                if !template::is_template(&default.value) {
                    if !input.choices.is_empty() && !input.choices.contains(&default.value) {
                        self.diags.push(src.diag(
                            default.pos,
                            format!(
                                "default `{}` of input `{name}` is not one of its choices",
                                default.value
                            ),
                        ));
                    }
                    if let Some(p) = &input.pattern
                        && let Ok(re) = full_regex(&p.value)
                        && !re.is_match(&default.value)
                    {
                        self.diags.push(src.diag(
                            default.pos,
                            format!(
                                "default `{}` of input `{name}` does not match its pattern `{}`",
                                default.value, p.value
                            ),
                        ));
                    }
                }
            }
            scope.inputs.insert(template::key(name));
        }
        if let Some(run_name) = &doc.run_name {
            self.template(&src, run_name.pos, &run_name.value, &scope, None);
            // The name is written everywhere (folders, listings, the journal): never a secret.
            let secret = secret_inputs(doc);
            if let Ok(refs) = template::references(&run_name.value)
                && let Some(name) = refs.iter().find_map(|r| {
                    let name = r.strip_prefix("inputs.")?.split('.').next()?;
                    secret.contains(name).then_some(name)
                })
            {
                let (at, width) = locate(
                    &src,
                    run_name.pos,
                    &run_name.value,
                    &format!("inputs.{name}"),
                );
                self.diags.push(
                    src.diag(
                        at,
                        format!("`run_name` is made from the secret input `{name}`, and a run's name is written to disk and shown everywhere\nhint: make the name from inputs that are not secret"),
                    )
                    .with_width(width),
                );
            }
        }
        if let Some(aws) = &doc.aws {
            for value in [
                &aws.region,
                &aws.profile,
                &aws.assume_role,
                &aws.account,
                &aws.mfa_serial,
            ]
            .into_iter()
            .flatten()
            {
                self.template(&src, value.pos, &value.value, &scope, None);
            }
        }

        // Each step's templates may use the steps before it.
        let no_names = BTreeSet::new();
        for (i, (step, facts)) in doc.steps.iter().zip(read.facts).enumerate() {
            scope.this = Some(i);
            let outputs = match &facts.include {
                Some(node) => self.include(&src, rb, i, step, node, stack),
                None => Outputs::Names(facts.outputs),
            };
            for u in &facts.uses {
                let extra = u.extra.map(|name| (name, &no_names));
                self.references(&src, u.pos, &u.text, &u.refs, &scope, extra);
            }
            scope.outputs.push(outputs);
        }
    }

    /// Checks what a step needs nothing else for, and notes what it refers to for `check`.
    fn step_facts(&mut self, src: &SourceFile, step: &Step, node: Node) -> StepFacts {
        self.step_fields(src, step, &node);
        let outputs = self.step_outputs(src, step, &node);
        // Templates anywhere in the step, located at their own node.
        // A file step's `set` values may use `current`; a `for_each` step's templates `item`.
        let extra = if step.for_each.is_some() {
            Some("item")
        } else if step.kind() == StepKind::File {
            Some("current")
        } else {
            None
        };
        let mut uses = Vec::new();
        self.templates_in(src, &node, extra, &mut uses);
        self.script_places(src, step, &node);
        if let Some(when) = &step.when {
            match template::expression_references(&when.value) {
                Ok(refs) if refs.is_empty() => {}
                Ok(refs) => uses.push(Use {
                    pos: when.pos,
                    text: when.value.as_str().into(),
                    refs,
                    extra: None,
                }),
                Err(e) => self
                    .diags
                    .push(src.diag(when.pos, format!("invalid `when` expression: {e}"))),
            }
        }
        let include = (step.kind() == StepKind::Include).then_some(node);
        StepFacts {
            outputs,
            uses,
            include,
        }
    }

    /// Each value in a script must stand where bash takes it as data (see `script`).
    fn script_places(&mut self, src: &SourceFile, step: &Step, node: &Node) {
        let scripts = [
            ("run", step.run.as_deref()),
            ("check", step.check.as_deref()),
            ("skip_if", step.skip_if.as_deref()),
        ];
        for (field, text) in scripts {
            let (Some(text), Some(n)) = (text, node.get(field)) else {
                continue;
            };
            if let Some((at, message)) = script::check(text) {
                let at = locate_offset(src, n.pos, text, at);
                self.diags.push(src.diag(at, message).with_width(2));
            }
        }
    }

    /// Fields that only make sense for some kinds, and the kinds' own requirements.
    fn step_fields(&mut self, src: &SourceFile, step: &Step, node: &Node) {
        let kind = step.kind();
        let allowed: &[(&str, &[StepKind])] = &[
            ("with", &[StepKind::Aws, StepKind::Include]),
            ("env", &[StepKind::Run, StepKind::Check]),
            ("cwd", &[StepKind::Run, StepKind::Check]),
            ("interactive", &[StepKind::Run]),
            ("wait", &[StepKind::Check, StepKind::Aws]),
            ("prompts", &[StepKind::Manual]),
            ("checklist", &[StepKind::Manual]),
            ("outputs", &[StepKind::Run, StepKind::Aws]),
            ("retry", &[StepKind::Run, StepKind::Check, StepKind::Aws]),
            (
                "skip_if",
                &[
                    StepKind::Run,
                    StepKind::Check,
                    StepKind::Aws,
                    StepKind::File,
                ],
            ),
            ("danger", &[StepKind::Run, StepKind::Aws, StepKind::File]),
            ("timeout", &[StepKind::Run, StepKind::Check, StepKind::Aws]),
            ("for_each", &[StepKind::Run, StepKind::Check, StepKind::Aws]),
            ("assume_role", &[StepKind::Aws]),
        ];
        for (field, kinds) in allowed {
            if let Some((key, _)) = node
                .as_map()
                .and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some(field)))
                && !kinds.contains(&kind)
            {
                let names: Vec<String> = kinds.iter().map(|k| format!("`{}`", k.name())).collect();
                let mut msg = format!(
                    "`{field}` does not apply to a `{}` step\nhint: `{field}` is for {} steps",
                    kind.name(),
                    names.join(" and ")
                );
                if *field == "outputs" && kind == StepKind::Manual {
                    msg = "`outputs` does not apply to a `manual` step\nhint: ask for values with `prompts`; each answer becomes an output".into();
                }
                self.diags.push(src.diag(key.pos, msg));
            }
        }
        for prompt in step.prompts.values() {
            if let Some(p) = &prompt.pattern {
                self.regex(src, p);
            }
        }
        if let Some(danger) = &step.danger
            && danger.trim().is_empty()
            && let Some(n) = node.get("danger")
        {
            self.diags.push(src.diag(
                n.pos,
                "`danger` needs the text a person must type to confirm, e.g. the deployment name",
            ));
        }
        if let Some(file) = &step.file {
            let n = node.get("file").map_or(node.pos, |n| n.pos);
            let sources = [
                file.content.is_some(),
                file.template.is_some(),
                !file.set.is_empty(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if sources != 1 {
                self.diags.push(src.diag(
                    n,
                    "a `file` step needs exactly one of `content`, `template` or `set`\nhint: `content` and `template` write the whole file; `set` changes keys in an existing YAML or JSON file",
                ));
            }
            if let Some(mode) = &file.mode
                && u32::from_str_radix(mode.trim_start_matches("0o"), 8).is_err()
            {
                self.diags.push(src.diag(
                    node.get("file").and_then(|f| f.get("mode")).map_or(n, |m| m.pos),
                    format!("invalid file mode `{mode}`\nhint: write octal permissions such as \"0600\""),
                ));
            }
        }
    }

    /// The outputs a step makes, checking how each is extracted (an include's are known only
    /// once the included runbook is read).
    fn step_outputs(&mut self, src: &SourceFile, step: &Step, node: &Node) -> BTreeSet<String> {
        for (name, spec) in &step.outputs {
            let Some(spec) = spec else { continue };
            if spec.regex.is_some()
                && spec.json.is_some()
                && let Some(r) = &spec.regex
            {
                self.diags.push(src.diag(
                    r.pos,
                    format!("output `{name}` has both `regex` and `json`\nhint: take each output from one place"),
                ));
            }
            if let Some(r) = &spec.regex {
                self.regex(src, r);
            }
            if let Some(j) = &spec.json
                && j.value.chars().count() > MAX_JSON_PATH
            {
                // The JSON path parser recurses on nesting; a huge path would overflow the stack.
                self.diags.push(src.diag(
                    j.pos,
                    format!("JSON path longer than {MAX_JSON_PATH} characters\nhint: take a smaller part of the output, or extract it in the script"),
                ));
            } else if let Some(j) = &spec.json
                && let Err(e) = serde_json_path::JsonPath::parse(&j.value)
            {
                self.diags.push(src.diag(
                    j.pos,
                    format!("invalid JSON path `{}`: {e}\nhint: JSON paths look like `$.status.ip` or `$.items[0].name`", j.value),
                ));
            }
        }
        if step.kind() == StepKind::Aws
            && let Some(name) = &step.aws
        {
            match aws::registry().get(&name.value) {
                None => {
                    let known: Vec<&str> = aws::registry().names().collect();
                    self.diags
                        .push(src.diag(name.pos, unknown("AWS action", &name.value, &known)));
                }
                Some(action) => {
                    let with = node.get("with");
                    // Parameters that are shell scripts follow the rules of scripts.
                    for param in action.scripts() {
                        let Some(value) = with.and_then(|w| w.get(param)) else {
                            continue;
                        };
                        let items = match &value.kind {
                            NodeKind::Seq(items) => items.iter().collect(),
                            _ => vec![value],
                        };
                        for item in items {
                            if let Some(text) = item.as_str()
                                && let Some((at, message)) = script::check(text)
                            {
                                let at = locate_offset(src, item.pos, text, at);
                                self.diags.push(src.diag(at, message).with_width(2));
                            }
                        }
                    }
                    for (pos, msg) in action.check_params(with) {
                        let pos = if pos.line == 0 { name.pos } else { pos };
                        // `with` holds the action's parameters, not fields.
                        let msg = match msg.strip_prefix("unknown field ") {
                            Some(rest) if rest.contains('\n') => {
                                format!("unknown parameter {rest}")
                            }
                            Some(rest) => format!(
                                "unknown parameter {rest}\nhint: `{}` takes no parameters",
                                name.value
                            ),
                            None => msg,
                        };
                        self.diags
                            .push(src.diag(pos, format!("{}: {msg}", name.value)));
                    }
                    if let Some(why) = action.danger()
                        && step.danger.is_none()
                    {
                        self.diags.push(src.diag(
                                    name.pos,
                                    format!(
                                        "{} {why}; give the step a `danger:` confirmation\nhint: e.g. `danger: \"{{{{ inputs.name }}}}\"`: a person types that text to let the step run",
                                        name.value
                                    ),
                                ));
                    }
                }
            }
        }
        declared_outputs(step)
            .iter()
            .map(|k| template::key(k))
            .collect()
    }

    fn include(
        &mut self,
        src: &SourceFile,
        rb: &Arc<Runbook>,
        index: usize,
        step: &Step,
        node: &Node,
        stack: &mut Vec<PathBuf>,
    ) -> Outputs {
        let Some(rel) = &step.include else {
            return Outputs::Names(BTreeSet::new());
        };
        let path = rb.dir().join(&rel.value);
        let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if !path.is_file() {
            self.diags.push(src.diag(
                rel.pos,
                format!("included runbook `{}` not found\nhint: the path is relative to this runbook's folder", rel.value),
            ));
            return Outputs::Names(BTreeSet::new());
        }
        if let Some(at) = stack.iter().position(|p| p == &canonical) {
            let chain: Vec<String> = stack[at..]
                .iter()
                .chain(std::iter::once(&canonical))
                .map(|p| {
                    p.file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            self.diags.push(src.diag(
                rel.pos,
                format!("include cycle: {}\nhint: a runbook cannot include itself, directly or through others", chain.join(" -> ")),
            ));
            return Outputs::Names(BTreeSet::new());
        }
        if stack.len() >= MAX_INCLUDE_DEPTH {
            self.diags.push(src.diag(
                rel.pos,
                format!("includes nested more than {MAX_INCLUDE_DEPTH} deep"),
            ));
            return Outputs::Names(BTreeSet::new());
        }
        let Some(child) = self.file(&path, stack) else {
            return Outputs::Names(BTreeSet::new());
        };
        self.includes
            .insert((rb.path().to_path_buf(), index), child.clone());
        // The values passed in must be inputs of the included runbook, and its required inputs
        // must be given.
        let with_node = node.get("with");
        let given: Vec<(&Node, &Node)> = with_node
            .and_then(Node::as_map)
            .map(|m| m.iter().map(|(k, v)| (k, v)).collect())
            .unwrap_or_default();
        if let Some(w) = with_node
            && w.as_map().is_none()
            && !w.is_null()
        {
            self.diags.push(src.diag(
                w.pos,
                format!(
                    "`with` must be a mapping of input names, found {}",
                    w.type_name()
                ),
            ));
        }
        let names: Vec<&str> = child.doc.inputs.keys().map(String::as_str).collect();
        for (key, _) in &given {
            let name = key.as_str().unwrap_or_default();
            if !child.doc.inputs.contains_key(name) {
                self.diags.push(src.diag(
                    key.pos,
                    with_hint(
                        format!("unknown input `{name}` of `{}`", rel.value),
                        name,
                        &names,
                    ),
                ));
            }
        }
        for (name, input) in &child.doc.inputs {
            let required = input.required.unwrap_or(input.default.is_none());
            if required && !given.iter().any(|(k, _)| k.as_str() == Some(name)) {
                self.diags.push(src.diag(
                    rel.pos,
                    format!(
                        "`{}` needs input `{name}`\nhint: pass it with `with: {{ {name}: ... }}`",
                        rel.value
                    ),
                ));
            }
        }
        let mut nested = HashMap::new();
        for (i, s) in child.doc.steps.iter().enumerate() {
            nested.insert(template::key(&s.id.value), outputs_of(&child, i, s, self));
        }
        Outputs::Nested(nested)
    }

    fn regex(&mut self, src: &SourceFile, pattern: &Spanned<String>) {
        // Runbooks repeat patterns (an account id, a number); each is parsed once.
        if self.good_regexes.contains(&pattern.value) {
            return;
        }
        // Parsing is enough to find a mistake, and much cheaper than building the automaton.
        if let Err(e) = regex_syntax::Parser::new().parse(&pattern.value) {
            let detail = e.to_string();
            let last = detail.lines().last().unwrap_or_default().trim().to_string();
            self.diags.push(src.diag(
                pattern.pos,
                format!(
                    "invalid regular expression `{}`: {}",
                    pattern.value,
                    last.trim_start_matches("error: ")
                ),
            ));
        } else {
            self.good_regexes.insert(pattern.value.clone());
        }
    }

    /// Checks the syntax of every template string under a node, and notes what each refers to.
    fn templates_in(
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
    fn template(
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
    fn template_refs(
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

    fn references(
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
    fn reference_problem(
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
    fn spelled<'a>(&'a self, keys: impl Iterator<Item = &'a String>) -> Vec<&'a str> {
        let mut names: Vec<&str> = keys
            .map(|k| self.spellings.get(k).unwrap_or(k).as_str())
            .collect();
        names.sort_unstable();
        names
    }

    /// Checks `steps.ID.OUTPUT` (or `steps.INCLUDE.ID.OUTPUT`): `parts` in template spelling
    /// for looking up, `shown` as written for messages.
    fn step_reference(&self, parts: &[&str], shown: &[&str], scope: &Checker) -> Option<String> {
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

/// What `check` needs of a step once its YAML is gone.
struct StepFacts {
    /// The outputs it declares (for an include, those of the included steps are added later).
    outputs: BTreeSet<String>,
    /// The templates that refer to something, to check against what comes before the step.
    uses: Vec<Use>,
    /// An include step's node: the values passed in are checked against the included runbook.
    include: Option<Node>,
}

/// A template and what it refers to.
struct Use {
    pos: Pos,
    text: Box<str>,
    refs: BTreeSet<String>,
    /// A variable the step provides to its templates (`item`, `current`).
    extra: Option<&'static str>,
}

/// What is known while walking a runbook's steps in order.
struct Checker {
    inputs: BTreeSet<String>,
    /// Every step id (in template spelling), with the index of the step that has it.
    ids: HashMap<String, usize>,
    /// The outputs of the steps before the one being checked.
    outputs: Vec<Outputs>,
    /// The step being checked; none while checking the runbook's own fields.
    this: Option<usize>,
}

impl Checker {
    /// The outputs of an earlier step.
    fn earlier(&self, id: &str) -> Option<&Outputs> {
        self.ids.get(id).and_then(|&i| self.outputs.get(i))
    }

    /// Whether a step comes after the one being checked.
    fn later(&self, id: &str) -> bool {
        self.ids
            .get(id)
            .is_some_and(|&i| i >= self.outputs.len() && Some(i) != self.this)
    }

    /// The ids of the earlier steps.
    fn earlier_ids(&self) -> impl Iterator<Item = &String> {
        self.ids
            .iter()
            .filter(|&(_, &i)| i < self.outputs.len())
            .map(|(id, _)| id)
    }
}

/// The inputs that are secret: declared so, or with a default made from a secret input.
fn secret_inputs(doc: &RunbookDoc) -> BTreeSet<String> {
    let mut secret = BTreeSet::new();
    for (name, input) in &doc.inputs {
        let derived = input.default.as_ref().is_some_and(|d| {
            template::references(&d.value).is_ok_and(|refs| {
                refs.iter().any(|r| {
                    r.strip_prefix("inputs.")
                        .and_then(|n| n.split('.').next())
                        .is_some_and(|n| secret.contains(n))
                })
            })
        });
        if input.secret || derived {
            secret.insert(template::key(name));
        }
    }
    secret
}

/// Finds where byte `offset` of a node's value is in the file, by finding the text around it;
/// the node's own position when it cannot be found (escapes, folded lines).
fn locate_offset(src: &SourceFile, pos: Pos, text: &str, offset: usize) -> Pos {
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
fn locate(src: &SourceFile, pos: Pos, text: &str, reference: &str) -> (Pos, usize) {
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
