//! The home screen's state: the runbooks found and the runs on disk, a filter, a selection.

use std::path::{Path, PathBuf};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use jiff::Timestamp;

use super::app::Effect;
use super::input::TextInput;
use crate::plain::{self, RunSummary};
use crate::state;

/// A runbook file found.
#[derive(Debug, Clone)]
pub struct RunbookEntry {
    pub path: PathBuf,
    /// Its title, or why it cannot be read.
    pub title: Result<String, String>,
    pub id: String,
    pub steps: usize,
}

/// What the home screen lists.
#[derive(Debug, Default)]
pub struct Lists {
    pub runbooks: Vec<RunbookEntry>,
    pub runs: Vec<RunSummary>,
    /// Runs that cannot be read.
    pub problems: Vec<String>,
    /// When the lists were read (for "2 hours ago").
    pub now: Timestamp,
}

/// Which list has the focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HomeList {
    Runbooks,
    Runs,
}

/// The home screen.
#[derive(Debug)]
pub struct Home {
    pub lists: Lists,
    pub focus: HomeList,
    pub selected: [usize; 2],
    pub filter: TextInput,
    pub filtering: bool,
    pub message: Option<String>,
    /// A run to delete, once the person says yes.
    pub deleting: Option<String>,
    /// A run last driven on another machine, asked about before it goes on here: its name,
    /// and where it was driven.
    pub moving: Option<(String, String)>,
}

impl Home {
    /// A home screen over lists.
    pub fn new(lists: Lists) -> Home {
        let focus = if lists.runs.is_empty() {
            HomeList::Runbooks
        } else {
            HomeList::Runs
        };
        Home {
            lists,
            focus,
            selected: [0, 0],
            filter: TextInput::default(),
            filtering: false,
            message: None,
            deleting: None,
            moving: None,
        }
    }

    fn matches(&self, text: &str) -> bool {
        let f = self.filter.value().to_lowercase();
        f.is_empty() || text.to_lowercase().contains(&f)
    }

    /// The runbooks shown (filtered), by index into `lists.runbooks`.
    pub fn runbooks(&self) -> Vec<usize> {
        (0..self.lists.runbooks.len())
            .filter(|&i| {
                let r = &self.lists.runbooks[i];
                let title = r.title.as_deref().unwrap_or_default();
                self.matches(&format!("{} {} {}", r.path.display(), r.id, title))
            })
            .collect()
    }

    /// The runs shown (filtered), by index into `lists.runs`.
    pub fn runs(&self) -> Vec<usize> {
        (0..self.lists.runs.len())
            .filter(|&i| {
                let r = &self.lists.runs[i];
                self.matches(&format!(
                    "{} {} {} {}",
                    r.name, r.runbook.id, r.runbook.title, r.status
                ))
            })
            .collect()
    }

    fn slot(&self) -> usize {
        match self.focus {
            HomeList::Runbooks => 0,
            HomeList::Runs => 1,
        }
    }

    fn shown(&self) -> usize {
        match self.focus {
            HomeList::Runbooks => self.runbooks().len(),
            HomeList::Runs => self.runs().len(),
        }
    }

    /// Handles a key.
    pub fn key(&mut self, key: KeyEvent) -> Vec<Effect> {
        self.message = None;
        if let Some((run, _)) = self.moving.take() {
            if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                return vec![Effect::Resume {
                    name: run,
                    inputs: Vec::new(),
                    moved: true,
                }];
            }
            self.message = Some(format!("{run} was left where it is"));
            return Vec::new();
        }
        if let Some(run) = self.deleting.take() {
            if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                return vec![Effect::Remove { run }];
            }
            self.message = Some(format!("{run} was kept"));
            return Vec::new();
        }
        if self.filtering {
            match key.code {
                KeyCode::Esc => {
                    self.filtering = false;
                    self.filter = TextInput::default();
                }
                KeyCode::Enter | KeyCode::Down | KeyCode::Up | KeyCode::Tab => {
                    self.filtering = false;
                }
                _ => {
                    self.filter.key(key);
                    self.selected = [0, 0];
                }
            }
            return Vec::new();
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let slot = self.slot();
        let n = self.shown();
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return vec![Effect::Quit],
            KeyCode::Char('c') if ctrl => return vec![Effect::Quit],
            KeyCode::Tab | KeyCode::BackTab | KeyCode::Left | KeyCode::Right => {
                self.focus = match self.focus {
                    HomeList::Runbooks => HomeList::Runs,
                    HomeList::Runs => HomeList::Runbooks,
                };
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.selected[slot] = self.selected[slot].saturating_sub(1)
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected[slot] = (self.selected[slot] + 1).min(n.saturating_sub(1))
            }
            KeyCode::Home | KeyCode::Char('g') => self.selected[slot] = 0,
            KeyCode::End | KeyCode::Char('G') => self.selected[slot] = n.saturating_sub(1),
            KeyCode::Char('/') => self.filtering = true,
            KeyCode::Char('r') => return vec![Effect::Scan],
            KeyCode::Char('x') | KeyCode::Delete if self.focus == HomeList::Runs => {
                if let Some(&i) = self.runs().get(self.selected[1]) {
                    self.deleting = Some(self.lists.runs[i].name.clone());
                }
            }
            KeyCode::Enter | KeyCode::Char('d')
                if key.code == KeyCode::Enter || self.focus == HomeList::Runbooks =>
            {
                let dry = key.code == KeyCode::Char('d');
                match self.focus {
                    HomeList::Runbooks => {
                        if let Some(&i) = self.runbooks().get(self.selected[0]) {
                            let r = &self.lists.runbooks[i];
                            if let Err(e) = &r.title {
                                self.message =
                                    Some(format!("{} cannot be run: {e}", r.path.display()));
                                return Vec::new();
                            }
                            return vec![Effect::LoadRunbook {
                                path: r.path.clone(),
                                dry,
                            }];
                        }
                    }
                    HomeList::Runs if !dry => {
                        if let Some(&i) = self.runs().get(self.selected[1]) {
                            return vec![Effect::Resume {
                                name: self.lists.runs[i].name.clone(),
                                inputs: Vec::new(),
                                moved: false,
                            }];
                        }
                    }
                    HomeList::Runs => {}
                }
            }
            _ => {}
        }
        Vec::new()
    }
}

/// Reads the runbooks in `./runbooks` and in `paths` (files, or folders of `*.yaml`/`*.yml`),
/// and the runs on disk.
pub fn scan(paths: &[PathBuf]) -> Lists {
    let mut files = Vec::new();
    let default = Path::new("runbooks");
    let mut roots: Vec<&Path> = Vec::new();
    if default.is_dir() {
        roots.push(default);
    }
    roots.extend(paths.iter().map(PathBuf::as_path));
    for root in roots {
        if root.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(root)
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(root.to_path_buf());
        }
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    let runbooks = files
        .into_iter()
        .map(|path| match crate::runbook::load(&path) {
            Ok(plan) => RunbookEntry {
                title: Ok(plan.root().doc.title.clone()),
                id: plan.root().doc.id.value.clone(),
                steps: plan.steps.len(),
                path,
            },
            Err(diags) => {
                let why = if !path.exists() {
                    "no such file".to_string()
                } else {
                    format!(
                        "{} problem{}",
                        diags.len(),
                        if diags.len() == 1 { "" } else { "s" }
                    )
                };
                RunbookEntry {
                    title: Err(why),
                    id: String::new(),
                    steps: 0,
                    path,
                }
            }
        })
        .collect();
    let mut runs = Vec::new();
    let mut problems = Vec::new();
    // A store that cannot be listed is said as the runs that cannot be read are.
    for r in state::list().unwrap_or_else(|e| vec![Err(e)]) {
        match r {
            Ok(st) => runs.push(plain::summary(&st)),
            Err(e) => problems.push(e.to_string()),
        }
    }
    Lists {
        runbooks,
        runs,
        problems,
        now: Timestamp::now(),
    }
}
