//! `file` steps: write a file from a template, or change keys in a YAML or JSON file, shown as
//! a diff before anything is written.
//!
//! A path that is a symbolic link is written through: the link stays, and the file it points
//! to gets the new content, as editors do (a link into a checked-out repository keeps pointing
//! there). The diff is made against that file, and it is checked again just before the write:
//! what is replaced is exactly what the diff was made against. A link to nothing, or a path
//! that is not a regular file, is refused. The new content is written atomically next to the
//! file it replaces, and never with a wider mode: an existing file keeps its mode, a new one
//! gets 0644 (less the umask), or 0600 when it holds a secret; `mode` in the step overrides.

use std::path::{Path, PathBuf};

use minijinja::Value as Ctx;
use serde_json::Value;

use super::StepError;
use super::context::render_value;
use crate::runbook::model::{FileFormat, FileSpec};
use crate::runbook::yaml::Node;
use crate::runbook::{Runbook, template};

/// A planned change to one file.
#[derive(Debug)]
pub struct Change {
    /// The file replaced: the link's target when the runbook's path is a symbolic link.
    pub path: PathBuf,
    /// The symbolic link the runbook's path names, when it is one.
    pub link: Option<PathBuf>,
    /// The path as the runbook gave it (resolved), for showing.
    pub shown: String,
    pub old: Option<String>,
    pub new: String,
}

impl Change {
    /// Whether applying it changes anything.
    pub fn changed(&self) -> bool {
        self.old.as_deref() != Some(self.new.as_str())
    }

    /// A unified diff of the change, after a line naming the link's target when the path is a
    /// symbolic link.
    pub fn diff(&self) -> String {
        let old = self.old.as_deref().unwrap_or("");
        let name = &self.shown;
        let from = if self.old.is_some() {
            format!("a/{name}")
        } else {
            "/dev/null".into()
        };
        let diff = similar::TextDiff::from_lines(old, &self.new)
            .unified_diff()
            .context_radius(3)
            .header(&from, &format!("b/{name}"))
            .to_string();
        match &self.link {
            Some(_) => format!(
                "{name} is a symbolic link: writing through it to {}\n{diff}",
                self.path.display()
            ),
            None => diff,
        }
    }
}

/// Works out the new content of the file, reading the current one.
pub fn plan(
    spec: &FileSpec,
    runbook: &Runbook,
    workdir: &Path,
    ctx: &Ctx,
) -> Result<Change, StepError> {
    let rendered_path =
        template::render(&spec.path, ctx).map_err(|e| StepError::resolve("path", e))?;
    let named = workdir.join(&rendered_path);
    let (path, link) = target(&named)?;
    let old = read(&path)?;
    let new = if let Some(content) = &spec.content {
        template::render(content, ctx).map_err(|e| StepError::resolve("content", e))?
    } else if let Some(t) = &spec.template {
        let tpath = runbook.dir().join(&t.value);
        let text = std::fs::read_to_string(&tpath).map_err(|e| {
            StepError::file(
                &tpath,
                format!("cannot read the template {}: {e}", tpath.display()),
            )
        })?;
        template::render(&text, ctx)
            .map_err(|e| StepError::file(&tpath, format!("template {}: {e}", tpath.display())))?
    } else {
        let Some(text) = &old else {
            return Err(StepError::file(
                &path,
                format!("{rendered_path} does not exist; `set` changes keys in an existing file"),
            ));
        };
        let format = spec
            .format
            // By the name the runbook gives, also when it is a link to another name.
            .unwrap_or_else(|| match named.extension().and_then(|e| e.to_str()) {
                Some("json") => FileFormat::Json,
                _ => FileFormat::Yaml,
            });
        let mut doc: Value = match format {
            FileFormat::Json => serde_json::from_str(text).map_err(|e| {
                StepError::file(&path, format!("{} is not valid JSON: {e}", path.display()))
            })?,
            FileFormat::Yaml => Node::parse(text)
                .map_err(|e| {
                    StepError::file(
                        &path,
                        format!(
                            "{}:{}:{}: {}",
                            path.display(),
                            e.pos.line,
                            e.pos.col,
                            e.message
                        ),
                    )
                })?
                .to_json(),
        };
        for (key, value) in &spec.set {
            let current = get(&doc, key).cloned().unwrap_or(Value::Null);
            let mut map = serde_json::Map::new();
            map.insert("current".into(), current);
            let local = merge(ctx, map);
            let value = render_value(value, &local)?;
            set(&mut doc, key, value).map_err(|e| format!("`{key}`: {e}"))?;
        }
        match format {
            FileFormat::Json => {
                let mut s = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
                s.push('\n');
                s
            }
            FileFormat::Yaml => {
                // Long one-line values (ARNs joined with `+`) stay on one line, and lists stay
                // indented under their key, as people write them; multi-line text keeps `|`.
                let mut options = serde_saphyr::SerializerOptions::default();
                options.folded_wrap_chars = usize::MAX;
                options.min_fold_chars = usize::MAX;
                options.compact_list_indent = false;
                serde_saphyr::to_string_with_options(&doc, options).map_err(|e| e.to_string())?
            }
        }
    };
    Ok(Change {
        path,
        link,
        shown: rendered_path,
        old,
        new,
    })
}

/// The file a path names, and the link when the path is a symbolic link (see the module's
/// comment): a path that does not exist yet names itself.
fn target(path: &Path) -> Result<(PathBuf, Option<PathBuf>), StepError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((path.to_path_buf(), None));
        }
        Err(e) => return Err(cannot("read", path, e)),
    };
    if !meta.file_type().is_symlink() {
        return regular(path, &meta).map(|()| (path.to_path_buf(), None));
    }
    let to = std::fs::read_link(path)
        .map(|t| t.display().to_string())
        .unwrap_or_else(|_| "?".into());
    let resolved = std::fs::canonicalize(path).map_err(|e| {
        StepError::file(
            path,
            format!(
                "{} is a symbolic link to {to}, which cannot be followed: {e}",
                path.display()
            ),
        )
        .hinted("a `file` step writes through a link to an existing file only; make the file, or point `path` at it")
    })?;
    let meta = std::fs::metadata(&resolved).map_err(|e| cannot("read", &resolved, e))?;
    regular(&resolved, &meta)?;
    Ok((resolved, Some(path.to_path_buf())))
}

fn regular(path: &Path, meta: &std::fs::Metadata) -> Result<(), StepError> {
    if meta.is_file() {
        return Ok(());
    }
    let kind = if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    };
    Err(StepError::file(
        path,
        format!(
            "{} is {kind}; a `file` step writes regular files only",
            path.display()
        ),
    ))
}

/// An I/O error on a file: `cannot read PATH: why`.
fn cannot(verb: &str, path: &Path, e: std::io::Error) -> StepError {
    StepError::file(path, format!("cannot {verb} {}: {e}", path.display()))
}

/// The file's content, or `None` when there is no file.
fn read(path: &Path) -> Result<Option<String>, StepError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(cannot("read", path, e)),
    }
}

/// Writes the new content atomically, in place of exactly what the diff was made against.
/// The mode is `mode` when given, else the replaced file's, else 0644 less the umask (0600
/// when `secret`: the content holds a secret value).
pub fn apply(change: &Change, mode: Option<&str>, secret: bool) -> Result<(), StepError> {
    use atomic_write_file::unix::OpenOptionsExt as _;
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt};
    let named = change.link.as_deref().unwrap_or(&change.path);
    let (path, _) = target(named)?;
    if path != change.path || read(&path)? != change.old {
        return Err(StepError::file(
            &path,
            format!(
                "{} changed since its diff was made; nothing was written",
                change.shown
            ),
        )
        .hinted("run the step again to see the new diff"));
    }
    if let Some(parent) = change.path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| cannot("create", parent, e))?;
    }
    let err = |e: std::io::Error| cannot("write", &change.path, e);
    // An existing file's mode is copied (`preserve_mode`); `mode` is for a new file, and the
    // kernel takes the umask from it.
    let mut file = atomic_write_file::OpenOptions::new()
        .preserve_mode(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(&change.path)
        .map_err(err)?;
    if let Some(mode) = mode
        && let Ok(bits) = u32::from_str_radix(mode.trim_start_matches("0o"), 8)
    {
        file.set_permissions(std::fs::Permissions::from_mode(bits))
            .map_err(err)?;
    }
    file.write_all(change.new.as_bytes()).map_err(err)?;
    file.commit().map_err(err)
}

fn merge(ctx: &Ctx, extra: serde_json::Map<String, Value>) -> Ctx {
    let extra = Ctx::from_serialize(extra);
    minijinja::context! { ..extra, ..ctx.clone() }
}

/// One part of a key path: `a.b[0].c`.
enum Part {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    for segment in path.split('.') {
        let (name, rest) = segment
            .split_once('[')
            .map_or((segment, ""), |(n, r)| (n, r));
        if !name.is_empty() {
            parts.push(Part::Key(name.to_string()));
        }
        if !rest.is_empty() {
            for idx in format!("[{rest}").split('[').skip(1) {
                let n = idx
                    .strip_suffix(']')
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| format!("invalid index in `{path}`"))?;
                parts.push(Part::Index(n));
            }
        }
    }
    if parts.is_empty() {
        return Err("empty key".into());
    }
    Ok(parts)
}

fn get<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = doc;
    for part in parse_path(path).ok()? {
        cur = match part {
            Part::Key(k) => cur.get(&k)?,
            Part::Index(i) => cur.get(i)?,
        };
    }
    Some(cur)
}

fn set(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let parts = parse_path(path)?;
    let mut cur = doc;
    for part in parts {
        cur = match part {
            Part::Key(k) => {
                if cur.is_null() {
                    *cur = Value::Object(Default::default());
                }
                cur.as_object_mut()
                    .ok_or_else(|| {
                        format!("cannot set key `{k}` inside a value that is not a mapping")
                    })?
                    .entry(k)
                    .or_insert(Value::Null)
            }
            Part::Index(i) => {
                let list = cur
                    .as_array_mut()
                    .ok_or_else(|| format!("cannot index [{i}] into a value that is not a list"))?;
                let len = list.len();
                list.get_mut(i)
                    .ok_or_else(|| format!("index [{i}] is past the end of a list of {len}"))?
            }
        };
    }
    *cur = value;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(path: PathBuf, old: Option<&str>) -> Change {
        Change {
            path,
            link: None,
            shown: "f.txt".into(),
            old: old.map(str::to_string),
            new: "new\n".into(),
        }
    }

    #[test]
    fn a_file_changed_after_its_diff_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        std::fs::write(&path, "changed meanwhile\n").unwrap();
        let e = apply(&change(path.clone(), Some("old\n")), None, false)
            .unwrap_err()
            .message();
        assert!(
            e.starts_with("f.txt changed since its diff was made"),
            "{e}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "changed meanwhile\n"
        );
        // Made meanwhile, where the diff was against no file.
        let e = apply(&change(path.clone(), None), None, false)
            .unwrap_err()
            .message();
        assert!(e.contains("changed since its diff was made"), "{e}");
        apply(
            &change(path.clone(), Some("changed meanwhile\n")),
            None,
            false,
        )
        .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
    }
}
