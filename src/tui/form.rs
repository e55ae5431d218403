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

/// The inputs form.
#[derive(Debug, Clone)]
pub struct Form {
    pub plan: Arc<Plan>,
    pub purpose: Purpose,
    pub fields: Vec<Field>,
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
        let fields = plan
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
        Form {
            plan,
            purpose,
            fields,
            focus: 0,
            error: None,
        }
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
            }
            _ => {
                if let Some(f) = self.fields.get_mut(self.focus)
                    && f.input.key(key)
                {
                    f.check(dry);
                    self.error = None;
                }
            }
        }
        Vec::new()
    }

    fn submit(&mut self) -> Vec<Effect> {
        let dry = self.dry();
        for f in &mut self.fields {
            f.check(dry);
        }
        if let Some(bad) = self.fields.iter().position(|f| f.error.is_some()) {
            self.focus = bad;
            self.error = Some("some inputs need fixing first".into());
            return Vec::new();
        }
        let inputs: Vec<(String, String)> = self
            .fields
            .iter()
            .filter(|f| !f.input.value().is_empty())
            .map(|f| (f.name.clone(), f.input.value().to_string()))
            .collect();
        match &self.purpose {
            Purpose::Start { mode, name } => vec![Effect::Start {
                plan: self.plan.clone(),
                mode: *mode,
                name: name.clone(),
                inputs,
            }],
            Purpose::Resume { run } => vec![Effect::Resume {
                name: run.clone(),
                inputs,
            }],
        }
    }
}
