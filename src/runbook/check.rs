//! The validator's checks of each step and of the whole runbook: fields for the step's kind,
//! outputs, scripts' values, includes, patterns, templates and what they refer to (inputs
//! declared, outputs of earlier steps), and where each problem is in the file.

use super::*;

impl Loader {
    /// Checks what needs the whole runbook: ids, references, patterns, includes, actions.
    pub(super) fn check(&mut self, rb: &Arc<Runbook>, read: Read, stack: &mut Vec<PathBuf>) {
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
            if let Some(name) = template::input_names(&run_name.value)
                .into_iter()
                .find(|name| secret.contains(name))
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
            for u in &facts.recheck_uses {
                let extra = u.extra.map(|name| (name, &no_names));
                self.references(&src, u.pos, &u.text, &u.refs, &scope, extra);
            }
        }
    }

    /// Checks what a step needs nothing else for, and notes what it refers to for `check`.
    pub(super) fn step_facts(&mut self, src: &SourceFile, step: &Step, node: Node) -> StepFacts {
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
        // A `recheck` runs after the step: it may use the step's own outputs too.
        let mut recheck_uses = Vec::new();
        match &node.kind {
            NodeKind::Map(entries) => {
                for (key, value) in entries {
                    match key.as_str().unwrap_or_default() {
                        "recheck" => self.templates_in(src, value, extra, &mut recheck_uses),
                        name if NOT_TEMPLATES.contains(&name) => {}
                        _ => self.templates_in(src, value, extra, &mut uses),
                    }
                }
            }
            _ => self.templates_in(src, &node, extra, &mut uses),
        }
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
            recheck_uses,
            include,
        }
    }

    /// Each value in a script must stand where bash takes it as data (see `script`).
    pub(super) fn script_places(&mut self, src: &SourceFile, step: &Step, node: &Node) {
        let scripts = [
            ("run", step.run.as_deref()),
            ("check", step.check.as_deref()),
            ("skip_if", step.skip_if.as_deref()),
            ("recheck", step.recheck.as_ref().and_then(|r| r.script())),
        ];
        for (field, text) in scripts {
            // `recheck: {run: ...}` has its script one level down.
            let n = node.get(field).map(|n| {
                if n.as_map().is_some() {
                    n.get("run")
                } else {
                    Some(n)
                }
            });
            let (Some(text), Some(Some(n))) = (text, n) else {
                continue;
            };
            if let Some((at, message)) = script::check(text) {
                let at = locate_offset(src, n.pos, text, at);
                self.diags.push(src.diag(at, message).with_width(2));
            }
        }
    }

    /// Fields that only make sense for some kinds, and the kinds' own requirements.
    pub(super) fn step_fields(&mut self, src: &SourceFile, step: &Step, node: &Node) {
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
            (
                "recheck",
                &[
                    StepKind::Manual,
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
    pub(super) fn step_outputs(
        &mut self,
        src: &SourceFile,
        step: &Step,
        node: &Node,
    ) -> BTreeSet<String> {
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
        self.action(src, step, node);
        declared_outputs(step)
            .iter()
            .map(|k| template::key(k))
            .collect()
    }

    /// An `aws` step: its action exists, its parameters are right (those that are shell
    /// scripts follow the rules of scripts), and a changing action has a `danger` confirmation.
    pub(super) fn action(&mut self, src: &SourceFile, step: &Step, node: &Node) {
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
    }

    /// The values an include step passes in must be inputs of the included runbook, and its
    /// required inputs must be given.
    fn include_inputs(
        &mut self,
        src: &SourceFile,
        rel: &Spanned<String>,
        child: &Runbook,
        node: &Node,
    ) {
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
    }

    pub(super) fn include(
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
        self.include_inputs(src, rel, &child, node);
        let mut nested = HashMap::new();
        for (i, s) in child.doc.steps.iter().enumerate() {
            nested.insert(template::key(&s.id.value), outputs_of(&child, i, s, self));
        }
        Outputs::Nested(nested)
    }

    pub(super) fn regex(&mut self, src: &SourceFile, pattern: &Spanned<String>) {
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
}

/// What `check` needs of a step once its YAML is gone.
pub(super) struct StepFacts {
    /// The outputs it declares (for an include, those of the included steps are added later).
    pub(super) outputs: BTreeSet<String>,
    /// The templates that refer to something, to check against what comes before the step.
    pub(super) uses: Vec<Use>,
    /// Those of its `recheck`, which may also use the step's own outputs.
    pub(super) recheck_uses: Vec<Use>,
    /// An include step's node: the values passed in are checked against the included runbook.
    pub(super) include: Option<Node>,
}

/// A template and what it refers to.
pub(super) struct Use {
    pub(super) pos: Pos,
    pub(super) text: Box<str>,
    pub(super) refs: BTreeSet<String>,
    /// A variable the step provides to its templates (`item`, `current`).
    pub(super) extra: Option<&'static str>,
}

/// What is known while walking a runbook's steps in order.
pub(super) struct Checker {
    pub(super) inputs: BTreeSet<String>,
    /// Every step id (in template spelling), with the index of the step that has it.
    pub(super) ids: HashMap<String, usize>,
    /// The outputs of the steps before the one being checked.
    pub(super) outputs: Vec<Outputs>,
    /// The step being checked; none while checking the runbook's own fields.
    pub(super) this: Option<usize>,
}

impl Checker {
    /// The outputs of an earlier step.
    pub(super) fn earlier(&self, id: &str) -> Option<&Outputs> {
        self.ids.get(id).and_then(|&i| self.outputs.get(i))
    }

    /// Whether a step comes after the one being checked.
    pub(super) fn later(&self, id: &str) -> bool {
        self.ids
            .get(id)
            .is_some_and(|&i| i >= self.outputs.len() && Some(i) != self.this)
    }

    /// The ids of the earlier steps.
    pub(super) fn earlier_ids(&self) -> impl Iterator<Item = &String> {
        self.ids
            .iter()
            .filter(|&(_, &i)| i < self.outputs.len())
            .map(|(id, _)| id)
    }
}

/// The inputs that are secret: declared so, or with a default made from a secret input.
pub(super) fn secret_inputs(doc: &RunbookDoc) -> BTreeSet<String> {
    let mut secret = BTreeSet::new();
    for (name, input) in &doc.inputs {
        let derived = input.default.as_ref().is_some_and(|d| {
            template::input_names(&d.value)
                .iter()
                .any(|n| secret.contains(n))
        });
        if input.secret || derived {
            secret.insert(template::key(name));
        }
    }
    secret
}
