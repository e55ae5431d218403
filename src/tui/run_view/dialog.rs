//! The run view's dialogs: a manual step (checklist, prompts), a danger confirmation, an
//! interrupted or changed step, and the keys they take.

use super::*;

/// A dialog over the run view.
#[derive(Debug, Clone)]
pub enum Modal {
    Manual(ManualForm),
    Danger(DangerForm),
    /// An interrupted or changed step: re-run, mark done, or skip.
    Decide {
        index: usize,
        need: Need,
    },
    /// Why a step is skipped.
    Skip {
        index: usize,
        reason: TextInput,
    },
    /// A step is running: stop it and quit?
    ConfirmQuit,
    /// The run's journal as a timeline, from line `top`.
    Journal {
        lines: Vec<String>,
        top: usize,
    },
}

/// The manual step dialog: instructions, a checklist to tick, prompts to answer.
#[derive(Debug, Clone)]
pub struct ManualForm {
    pub index: usize,
    pub instructions: String,
    pub checklist: Vec<(String, bool)>,
    pub prompts: Vec<PromptField>,
    /// Checklist items, then prompts, then the Done button.
    pub focus: usize,
    /// Why the last "done" was refused (by this dialog or by the engine).
    pub problems: Vec<String>,
}

/// A prompt of a manual step, with its answer so far.
#[derive(Debug, Clone)]
pub struct PromptField {
    pub name: String,
    pub prompt: Prompt,
    pub input: TextInput,
    pub error: Option<String>,
}

impl PromptField {
    pub(super) fn check(&mut self) {
        let v = self.input.value();
        self.error = if v.is_empty() {
            Some("needs an answer".into())
        } else {
            check_value(
                v,
                self.prompt.pattern.as_ref().map(|p| p.value.as_str()),
                &self.prompt.choices,
            )
            .err()
            .map(|e| {
                if self.prompt.secret {
                    "does not match its pattern or choices".into()
                } else {
                    e
                }
            })
        };
    }
}

impl ManualForm {
    pub(super) fn done_button(&self) -> usize {
        self.checklist.len() + self.prompts.len()
    }

    /// The prompt being edited, if the focus is on one.
    pub fn prompt_focus(&self) -> Option<usize> {
        self.focus
            .checked_sub(self.checklist.len())
            .filter(|&p| p < self.prompts.len())
    }
}

/// The danger dialog: what will change, and the text to type.
#[derive(Debug, Clone)]
pub struct DangerForm {
    pub index: usize,
    pub text: String,
    pub preview: String,
    pub input: TextInput,
    pub scroll: u16,
}

impl RunView {
    /// Opens the dialog for what a step needs.
    pub(super) fn open_need(&mut self, index: usize, need: Need) {
        self.modal = match need {
            Need::Manual {
                instructions,
                checklist,
                prompts,
                problems,
                ..
            } => {
                // Keep what was typed when the engine refused an answer.
                let old = match self.modal.take() {
                    Some(Modal::Manual(m)) if m.index == index => Some(m),
                    _ => None,
                };
                let prompts = prompts
                    .into_iter()
                    .map(|(name, prompt)| {
                        let typed = old
                            .as_ref()
                            .and_then(|m| m.prompts.iter().find(|p| p.name == name))
                            .map(|p| p.input.clone())
                            .unwrap_or_default();
                        let mut f = PromptField {
                            name,
                            prompt,
                            input: typed,
                            error: None,
                        };
                        if !f.input.value().is_empty() {
                            f.check();
                        }
                        f
                    })
                    .collect();
                let checklist = checklist
                    .into_iter()
                    .enumerate()
                    .map(|(n, c)| {
                        let ticked = old
                            .as_ref()
                            .and_then(|m| m.checklist.get(n))
                            .is_some_and(|(_, t)| *t);
                        (c, ticked)
                    })
                    .collect();
                Some(Modal::Manual(ManualForm {
                    index,
                    instructions,
                    checklist,
                    prompts,
                    focus: 0,
                    problems,
                }))
            }
            Need::Danger { text, preview, .. } => Some(Modal::Danger(DangerForm {
                index,
                text,
                preview,
                input: TextInput::default(),
                scroll: 0,
            })),
            Need::Interrupted { .. } | Need::StillRunning { .. } | Need::Changed { .. } => {
                Some(Modal::Decide { index, need })
            }
            Need::Terminal => None,
        };
    }

    pub(super) fn modal_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(modal) = self.modal.take() else {
            return Vec::new();
        };
        match modal {
            Modal::Journal { lines, top } => {
                let last = lines.len().saturating_sub(1);
                let top = match key.code {
                    KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('L') => return Vec::new(),
                    KeyCode::Up | KeyCode::Char('k') => top.saturating_sub(1),
                    KeyCode::Down | KeyCode::Char('j') => (top + 1).min(last),
                    KeyCode::PageUp => top.saturating_sub(20),
                    KeyCode::PageDown => (top + 20).min(last),
                    KeyCode::Home | KeyCode::Char('g') => 0,
                    KeyCode::End | KeyCode::Char('G') => last.saturating_sub(19),
                    _ => top,
                };
                self.modal = Some(Modal::Journal { lines, top });
            }
            Modal::ConfirmQuit => match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => {
                    self.stopping = true;
                    return vec![Effect::Cancel];
                }
                _ => {}
            },
            Modal::Skip { index, mut reason } => match key.code {
                KeyCode::Esc => {}
                KeyCode::Enter => {
                    let why = reason.value().trim();
                    let why = if why.is_empty() {
                        "no reason given".to_string()
                    } else {
                        why.to_string()
                    };
                    let mut d = Decisions::default();
                    d.skip.insert(self.key_of(index), why);
                    return self.command(Busy::Deciding, d);
                }
                _ => {
                    reason.key(key);
                    self.modal = Some(Modal::Skip { index, reason });
                }
            },
            // Not started or decided about beside its processes still running.
            Modal::Decide {
                need: Need::StillRunning { pgid, .. },
                ..
            } => {
                self.error = Some(format!(
                    "its processes (process group {pgid}) still run: quit, then `stepwise resume {} --wait-orphan` waits for them, `--stop-orphan` stops them",
                    self.name
                ));
            }
            Modal::Decide { index, need } => match key.code {
                KeyCode::Char('r') => {
                    let mut d = Decisions::default();
                    d.rerun.insert(self.key_of(index));
                    return self.go(d);
                }
                KeyCode::Char('m') => {
                    let mut d = Decisions::default();
                    d.done.insert(self.key_of(index));
                    return self.command(Busy::Deciding, d);
                }
                KeyCode::Char('s') => {
                    self.modal = Some(Modal::Skip {
                        index,
                        reason: TextInput::default(),
                    });
                }
                KeyCode::Esc | KeyCode::Char('q') => {}
                _ => self.modal = Some(Modal::Decide { index, need }),
            },
            Modal::Danger(form) => return self.danger_key(form, key),
            Modal::Manual(form) => return self.manual_key(form, key),
        }
        Vec::new()
    }

    /// A key in the danger dialog: typing the confirmation, scrolling what will change.
    fn danger_key(&mut self, mut form: DangerForm, key: KeyEvent) -> Vec<Effect> {
        match key.code {
            KeyCode::Esc => {
                self.error = Some("cancelled; nothing was changed".into());
            }
            KeyCode::Enter => {
                if form.input.value() == form.text {
                    let mut d = Decisions::default();
                    d.confirm
                        .insert(self.key_of(form.index), form.input.value().to_string());
                    return self.go(d);
                }
                self.error =
                    Some("the confirmation did not match: cancelled, nothing was changed".into());
            }
            KeyCode::Up => {
                form.scroll = form.scroll.saturating_sub(1);
                self.modal = Some(Modal::Danger(form));
            }
            KeyCode::Down => {
                form.scroll = form.scroll.saturating_add(1);
                self.modal = Some(Modal::Danger(form));
            }
            _ => {
                form.input.key(key);
                self.modal = Some(Modal::Danger(form));
            }
        }
        Vec::new()
    }

    /// A key in a manual step's dialog: moving, ticking, answering, confirming.
    fn manual_key(&mut self, mut form: ManualForm, key: KeyEvent) -> Vec<Effect> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let last = form.done_button();
        match key.code {
            KeyCode::Esc => return Vec::new(),
            KeyCode::Char('d') if ctrl => return self.manual_done(form),
            KeyCode::Up | KeyCode::BackTab => form.focus = form.focus.saturating_sub(1),
            KeyCode::Down | KeyCode::Tab => form.focus = (form.focus + 1).min(last),
            KeyCode::Enter if form.focus == last => return self.manual_done(form),
            // Space ticks (or unticks) and stays; Enter ticks and moves on.
            KeyCode::Char(' ') if form.focus < form.checklist.len() => {
                let item = &mut form.checklist[form.focus];
                item.1 = !item.1;
            }
            KeyCode::Enter if form.focus < form.checklist.len() => {
                form.checklist[form.focus].1 = true;
                form.focus = (form.focus + 1).min(last);
            }
            KeyCode::Enter => form.focus = (form.focus + 1).min(last),
            _ => {
                if let Some(p) = form.prompt_focus() {
                    let field = &mut form.prompts[p];
                    if field.input.key(key) {
                        field.check();
                    }
                }
            }
        }
        // Problems said before go as they are fixed.
        if !form.problems.is_empty() {
            form.problems = local_problems(&mut form);
        }
        self.modal = Some(Modal::Manual(form));
        Vec::new()
    }

    pub(super) fn manual_done(&mut self, mut form: ManualForm) -> Vec<Effect> {
        let problems = local_problems(&mut form);
        if !problems.is_empty() {
            form.problems = problems;
            self.modal = Some(Modal::Manual(form));
            return Vec::new();
        }
        let key = self.key_of(form.index);
        let mut d = Decisions::default();
        d.done.insert(key.clone());
        let answers: HashMap<String, String> = form
            .prompts
            .iter()
            .map(|f| (f.name.clone(), f.input.value().to_string()))
            .collect();
        if !answers.is_empty() {
            d.outputs.insert(key, answers);
        }
        self.modal = None;
        self.go(d)
    }
}

/// What keeps a manual step's dialog from being done: items not ticked, answers refused.
fn local_problems(form: &mut ManualForm) -> Vec<String> {
    let mut problems = Vec::new();
    let open: Vec<&str> = form
        .checklist
        .iter()
        .filter(|(_, t)| !t)
        .map(|(c, _)| c.as_str())
        .collect();
    if !open.is_empty() {
        problems.push(format!("not ticked yet: {}", open.join("; ")));
    }
    for f in &mut form.prompts {
        f.check();
        if let Some(e) = &f.error {
            problems.push(format!("{}: {e}", f.prompt.prompt));
        }
    }
    problems
}
