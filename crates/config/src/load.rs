//! Loading: read the file, apply `MAILSTACK_<SECTION>__<KEY>` environment overrides, deserialize
//! (unknown keys are errors), validate bounds, and report every problem with the place it came
//! from: `file:line:col` for keys in the file, the variable's name for overrides.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::Config;

/// Where a problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A place in the config file (1-based line and column).
    File {
        /// The config file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// An environment variable override.
    Env(String),
    /// The file as a whole (cannot be read), or a default value.
    Whole(PathBuf),
}

/// One problem in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where it is.
    pub origin: Origin,
    /// The dotted key (`lmtp_mda.max_recipients`); empty when not tied to a key.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::File { path, line, column } => {
                write!(f, "{}:{line}:{column}: ", path.display())?
            }
            Origin::Env(var) => write!(f, "environment {var}: ")?,
            Origin::Whole(path) => write!(f, "{}: ", path.display())?,
        }
        if !self.key.is_empty() {
            write!(f, "key `{}`: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found while loading; loading fails if there is at least one.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    /// The problems, in file order where known.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Collects validation problems by dotted key; [`load_str`] later attaches their origin.
#[derive(Debug, Default)]
pub struct Problems {
    found: Vec<(String, String)>,
}

impl Problems {
    /// Record a problem with `key`.
    pub fn add(&mut self, key: &str, message: impl Into<String>) {
        self.found.push((key.to_string(), message.into()));
    }
    /// `value` must be within `min..=max`.
    pub fn range<T: PartialOrd + fmt::Display>(&mut self, key: &str, value: T, min: T, max: T) {
        if value < min || value > max {
            self.add(
                key,
                format!("{value} is out of range (allowed {min} to {max})"),
            );
        }
    }
    /// `value` must not be empty.
    pub fn non_empty(&mut self, key: &str, value: &str) {
        if value.trim().is_empty() {
            self.add(key, "must not be empty");
        }
    }
    /// `value` must be one of `allowed`.
    pub fn one_of(&mut self, key: &str, value: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            self.add(key, format!("{value:?} is not one of {allowed:?}"));
        }
    }
    /// `value` must be `host:port` or `unix:/absolute/path`.
    pub fn listen_addr(&mut self, key: &str, value: &str) {
        if let Some(path) = value.strip_prefix("unix:") {
            if !path.starts_with('/') {
                self.add(
                    key,
                    format!("{value:?}: a unix socket path must be absolute"),
                );
            }
        } else if value.parse::<std::net::SocketAddr>().is_err() {
            self.add(
                key,
                format!("{value:?} is not an address (use \"127.0.0.1:24\", \"[::]:24\" or \"unix:/path\")"),
            );
        }
    }
}

/// Prefix of environment overrides: `MAILSTACK_LMTP_MDA__MAX_RECIPIENTS=50`.
pub const ENV_PREFIX: &str = "MAILSTACK_";

/// Load the config file at `path` with overrides from the process environment.
///
/// A missing file is an error: every binary needs its config (`mailctl up` writes one).
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        problems: vec![Problem {
            origin: Origin::Whole(path.to_path_buf()),
            key: String::new(),
            message: format!("cannot read config file: {e}"),
        }],
    })?;
    load_str(&text, path, std::env::vars())
}

/// Load from `text` (named `path` in messages) with the given environment.
pub fn load_str(
    text: &str,
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let file_problem = |span: Option<Range<usize>>, key: String, message: String| Problem {
        origin: origin_at(text, path, span),
        key,
        message,
    };
    let fail = |p: Problem| ConfigError { problems: vec![p] };

    // 1. Parse as an editable document and apply the environment overrides.
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        fail(file_problem(
            e.span(),
            String::new(),
            e.message().to_string(),
        ))
    })?;
    let mut env_keys: Vec<(String, String)> = Vec::new(); // (dotted key, variable)
    for (var, value) in env {
        let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let Some((section, key)) = rest.split_once("__") else {
            continue;
        };
        let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
        let dotted = format!("{section}.{key}");
        let Some(doc_key) = crate::find_key(&section, &key) else {
            return Err(fail(Problem {
                origin: Origin::Env(var),
                key: dotted,
                message: "no such key (see `mailctl config defaults`)".into(),
            }));
        };
        let item = env_value(&value, doc_key.ty.starts_with("Vec<"));
        let table = doc
            .entry(&section)
            .or_insert(toml_edit::table())
            .as_table_like_mut()
            .ok_or_else(|| {
                fail(Problem {
                    origin: Origin::Env(var.clone()),
                    key: section.clone(),
                    message: "the file defines this section as a value, not a table".into(),
                })
            })?;
        table.insert(&key, toml_edit::Item::Value(item));
        env_keys.push((dotted, var));
    }
    let merged = doc.to_string();
    let origin_of = |dotted: &str, fallback_span: Option<Range<usize>>| -> Origin {
        if let Some((_, var)) = env_keys.iter().find(|(k, _)| k == dotted) {
            return Origin::Env(var.clone());
        }
        origin_at(text, path, key_span(text, dotted).or(fallback_span))
    };

    // 2. Deserialize: the first type error or unknown key stops here.
    let de = toml::de::Deserializer::parse(&merged).map_err(|e| {
        fail(file_problem(
            e.span(),
            String::new(),
            e.message().to_string(),
        ))
    })?;
    let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
        let mut dotted = e.path().to_string();
        if dotted == "." {
            dotted.clear();
        }
        let inner = e.inner();
        let message = inner.message().to_string();
        // An unknown key is reported at its own place, with its own name.
        if let Some(unknown) = unknown_field(&message) {
            // serde_path_to_error already ends the path with the unknown key.
            let full = if dotted.is_empty()
                || !(dotted == unknown || dotted.ends_with(&format!(".{unknown}")))
            {
                [dotted.as_str(), unknown]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(".")
            } else {
                dotted.clone()
            };
            let span = if env_keys.iter().any(|(k, _)| *k == full) {
                None
            } else {
                key_span(text, &full)
            };
            return fail(Problem {
                origin: origin_of(&full, span),
                key: full,
                message,
            });
        }
        // Spans refer to `merged`; they equal the file's when no override moved lines.
        let fallback = if env_keys.is_empty() {
            inner.span()
        } else {
            None
        };
        fail(Problem {
            origin: origin_of(&dotted, fallback),
            key: dotted,
            message,
        })
    })?;

    // 3. Validate bounds; report all problems at once.
    let mut problems = Problems::default();
    config.validate(&mut problems);
    if problems.found.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError {
            problems: problems
                .found
                .into_iter()
                .map(|(key, message)| Problem {
                    origin: origin_of(&key, None),
                    key,
                    message,
                })
                .collect(),
        })
    }
}

/// Turn an override's text into a TOML value: TOML syntax if it parses (`50`, `true`,
/// `["a","b"]`), else a plain string; for list keys a comma-separated list of strings.
fn env_value(raw: &str, is_list: bool) -> toml_edit::Value {
    if let Ok(v) = raw.parse::<toml_edit::Value>()
        && (!is_list || v.is_array())
    {
        return v.decorated("", "");
    }
    if is_list {
        let mut arr = toml_edit::Array::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            arr.push(part);
        }
        return toml_edit::Value::Array(arr);
    }
    toml_edit::Value::from(raw)
}

/// serde's "unknown field `x`, expected ..." → `x`.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(&rest[..rest.find('`')?])
}

/// The span of the key `a.b` in the original text, if it is there.
fn key_span(text: &str, dotted: &str) -> Option<Range<usize>> {
    let doc = toml_edit::Document::parse(text).ok()?;
    let mut table: &dyn toml_edit::TableLike = doc.as_table();
    let mut parts = dotted.split('.').peekable();
    while let Some(part) = parts.next() {
        let (key, item) = table.get_key_value(part)?;
        if parts.peek().is_none() {
            return key.span().or_else(|| item.span());
        }
        table = item.as_table_like()?;
    }
    None
}

/// Where `span` of `text` is in the file at `path` (the whole file when unknown).
fn origin_at(text: &str, path: &Path, span: Option<Range<usize>>) -> Origin {
    match span {
        Some(s) => {
            let (line, column) = line_col(text, s.start);
            Origin::File {
                path: path.to_path_buf(),
                line,
                column,
            }
        }
        None => Origin::Whole(path.to_path_buf()),
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
