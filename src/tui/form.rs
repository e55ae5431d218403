//! The inputs form shown before a run starts (and on resume, for secret inputs that were not
//! kept): each input with its description, default, pattern or choices, checked as you type.

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::Effect;
use super::input::TextInput;
use crate::engine::{Mode, check_value};
use crate::runbook::{Input, Plan};

/// One input of the form.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub spec: Input,
    pub input: TextInput,
    pub error: Option<String>,
}

impl Field {
    /// Whether an empty value is acceptable (a default, optional, or a dry run's placeholder).
    fn may_be_empty(&self, dry: bool) -> bool {
        dry || self.spec.default.is_some() || self.spec.required == Some(false)
    }

    fn check(&mut self, dry: bool) {
        let v = self.input.value();
        self.error = if v.is_empty() {
            (!self.may_be_empty(dry)).then(|| "required".to_string())
        } else {
            check_value(
                v,
                self.spec.pattern.as_ref().map(|p| p.value.as_str()),
                &self.spec.choices,
            )
            .err()
            .map(|e| {
                if self.spec.secret {
                    "does not match its pattern or choices".into()
                } else {
                    e
                }
            })
        };
    }
}

/// What the form is for.
#[derive(Debug, Clone)]
pub enum Purpose {
    /// A new run (`name` from `--name`).
    Start { mode: Mode, name: Option<String> },
    /// Going on with a run: its secret inputs are asked again.
    Resume { run: String },
}

/// The label of the run-name field, which a new run's form has after its inputs.
pub const RUN_NAME: &str = "run name";

/// The inputs form.
#[derive(Debug, Clone)]
pub struct Form {
    pub plan: Arc<Plan>,
    pub purpose: Purpose,
    /// The inputs, then (for a new real run) the run's name, `RUN_NAME`.
    pub fields: Vec<Field>,
    /// The person typed the name: it no longer follows the inputs.
    pub name_edited: bool,
    /// Names of runs that exist (a new run cannot take one).
    pub taken: Vec<String>,
    /// A field, or `fields.len()` for the Start button.
    pub focus: usize,
    /// Why starting failed (the run exists, an input is refused).
    pub error: Option<String>,
}

impl Form {
    /// A form for the root inputs of a plan; `names` limits it to some (for a resume),
    /// `given` prefills values.
    pub fn new(
        plan: Arc<Plan>,
        purpose: Purpose,
        given: &[(String, String)],
        names: Option<&[String]>,
    ) -> Form {
        let dry = matches!(
            purpose,
            Purpose::Start {
                mode: Mode::DryRun { .. },
                ..
            }
        );
        let mut fields: Vec<Field> = plan
            .root()
            .doc
            .inputs
            .iter()
            .filter(|(name, _)| names.is_none_or(|n| n.contains(name)))
            .map(|(name, spec)| {
                let value = given
                    .iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let mut f = Field {
                    name: name.clone(),
                    spec: spec.clone(),
                    input: TextInput::new(value),
                    error: None,
                };
                if !f.input.value().is_empty() {
                    f.check(dry);
                }
                f
            })
            .collect();
        let named = match &purpose {
            Purpose::Start {
                mode: Mode::Real,
                name,
            } => Some(name.clone()),
            _ => None,
        };
        if let Some(given) = &named {
            fields.push(Field {
                name: RUN_NAME.into(),
                spec: Input {
                    description: Some(
                        "The run's name: letters, digits, `.`, `-` and `_` (`stepwise resume NAME`)"
                            .into(),
                    ),
                    default: Some(crate::runbook::model::Spanned {
                        pos: Default::default(),
                        // What `run` makes the name from when none is given.
                        value: match &plan.root().doc.run_name {
                            Some(t) => t.value.clone(),
                            None => format!("{}-<date>-<time>", plan.root().doc.id.value),
                        },
                    }),
                    ..Input::default()
                },
                input: TextInput::new(given.clone().unwrap_or_default()),
                error: None,
            });
        }
        let mut form = Form {
            plan,
            name_edited: matches!(named, Some(Some(_))),
            taken: Vec::new(),
            purpose,
            fields,
            focus: 0,
            error: None,
        };
        form.propose_name();
        form
    }

    /// With the names of the runs that exist, which the name field refuses.
    pub fn with_taken(mut self, taken: Vec<String>) -> Form {
        self.taken = taken;
        self.check_name();
        self
    }

    fn name_field(&self) -> Option<&Field> {
        self.fields
            .last()
            .filter(|f| self.has_name() && f.name == RUN_NAME)
    }

    /// Whether the last field is the run's name.
    pub fn has_name(&self) -> bool {
        matches!(
            self.purpose,
            Purpose::Start {
                mode: Mode::Real,
                ..
            }
        )
    }

    /// The name field follows the inputs, as the runbook's `run_name` makes it from them,
    /// until the person types a name of their own.
    fn propose_name(&mut self) {
        if !self.has_name() || self.name_edited {
            return;
        }
        let given: Vec<(String, String)> = self.input_values();
        let proposed = self.plan.root().doc.run_name.as_ref().and_then(|_| {
            let inputs = crate::prepare::resolve_inputs(
                &self.plan,
                &given,
                &indexmap::IndexMap::new(),
                false,
                false,
            )
            .ok()?;
            crate::prepare::run_name(&self.plan, None, &inputs).ok()
        });
        if let Some(last) = self.fields.last_mut() {
            last.input = TextInput::new(proposed.unwrap_or_default());
        }
        self.check_name();
    }

    /// Checks the name field as typed: a name a run may have, and not one that exists.
    fn check_name(&mut self) {
        if !self.has_name() {
            return;
        }
        let Some(f) = self.fields.last_mut() else {
            return;
        };
        let v = f.input.value();
        f.error = if v.is_empty() {
            None
        } else if !crate::state::valid_name(v) {
            Some("use letters, digits, `.`, `-` and `_` (not a `.` first)".into())
        } else if self.taken.iter().any(|t| t == v) {
            Some(format!("a run named `{v}` exists: choose another name"))
        } else {
            None
        };
    }

    /// The inputs typed so far (not the run's name).
    fn input_values(&self) -> Vec<(String, String)> {
        let n = self.fields.len() - usize::from(self.has_name());
        self.fields[..n]
            .iter()
            .filter(|f| !f.input.value().is_empty())
            .map(|f| (f.name.clone(), f.input.value().to_string()))
            .collect()
    }

    /// Whether this is a dry run's form.
    pub fn dry(&self) -> bool {
        matches!(
            self.purpose,
            Purpose::Start {
                mode: Mode::DryRun { .. },
                ..
            }
        )
    }

    /// Handles a key.
    pub fn key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let last = self.fields.len();
        let dry = self.dry();
        match key.code {
            KeyCode::Esc => return vec![Effect::Back],
            KeyCode::Char('c') if ctrl => return vec![Effect::Back],
            KeyCode::Char('s') if ctrl => return self.submit(),
            KeyCode::Up | KeyCode::BackTab => self.focus = self.focus.saturating_sub(1),
            KeyCode::Down | KeyCode::Tab => self.focus = (self.focus + 1).min(last),
            KeyCode::Enter if self.focus >= last => return self.submit(),
            KeyCode::Enter => self.focus += 1,
            KeyCode::Left | KeyCode::Right
                if self.focus < last && !self.fields[self.focus].spec.choices.is_empty() =>
            {
                // A field with choices cycles through them.
                let f = &mut self.fields[self.focus];
                let choices = &f.spec.choices;
                let at = choices.iter().position(|c| c == f.input.value());
                let n = choices.len();
                let next = match (at, key.code) {
                    (None, _) => 0,
                    (Some(i), KeyCode::Right) => (i + 1) % n,
                    (Some(i), _) => (i + n - 1) % n,
                };
                f.input = TextInput::new(choices[next].clone());
                f.check(dry);
                self.propose_name();
            }
            _ => {
                let on_name = self.has_name() && self.focus + 1 == last;
                if let Some(f) = self.fields.get_mut(self.focus)
                    && f.input.key(key)
                {
                    self.error = None;
                    if on_name {
                        self.name_edited = true;
                        self.check_name();
                    } else {
                        f.check(dry);
                        self.propose_name();
                    }
                }
            }
        }
        Vec::new()
    }

    fn submit(&mut self) -> Vec<Effect> {
        let dry = self.dry();
        let n = self.fields.len() - usize::from(self.has_name());
        for f in &mut self.fields[..n] {
            f.check(dry);
        }
        if let Some(bad) = self.fields.iter().position(|f| f.error.is_some()) {
            self.focus = bad;
            self.error = Some("some inputs need fixing first".into());
            return Vec::new();
        }
        let inputs = self.input_values();
        match &self.purpose {
            Purpose::Start { mode, name } => vec![Effect::Start {
                plan: self.plan.clone(),
                mode: *mode,
                // The name shown (typed, or made from the inputs); else as `run` makes it.
                name: match self.name_field().map(|f| f.input.value().to_string()) {
                    Some(shown) if !shown.is_empty() => Some(shown),
                    _ => name.clone(),
                },
                inputs,
            }],
            Purpose::Resume { run } => vec![Effect::Resume {
                name: run.clone(),
                inputs,
                moved: false,
            }],
        }
    }
}
