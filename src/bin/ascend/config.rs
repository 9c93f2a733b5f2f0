//! The config files: `/etc/ascend/config.toml` (system) and `$XDG_CONFIG_HOME/ascend/config.toml`
//! (user; `$ASCEND_CONFIG_DIR/config.toml` when that is set). They hold defaults for the
//! database URL, the market source and the output format. Precedence: flags, then environment,
//! then the user file, then the system file, then the built-in default. The files are read
//! before the arguments are parsed and fill the environment variables the flags fall back on,
//! so every subcommand sees one answer.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, Args};
use serde::{Deserialize, Serialize};

use crate::output::{render, Tabular};
use crate::{io_err, Ctx};
use ascend::domain::Invalid;
use ascend::{exit, Error};

/// The keys a config file may hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    database_url: Option<String>,
    source: Option<String>,
    format: Option<String>,
}

/// A key, the environment variable its flag falls back on, the flag, and the global argument
/// id (for global flags) in clap.
const KEYS: [(&str, &str, &str); 3] = [
    ("database_url", "DATABASE_URL", "--database-url"),
    ("source", "ASCEND_SOURCE", "--source"),
    ("format", "ASCEND_FORMAT", "--format"),
];

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Environment,
    File(PathBuf),
}

/// What the files contributed, per key, before the arguments were parsed.
#[derive(Debug, Default)]
pub struct Loaded {
    /// (key, value, origin) of every key set in the environment or a file.
    pub values: Vec<(&'static str, String, Origin)>,
}

pub fn system_file() -> PathBuf {
    std::env::var_os("ASCEND_SYSTEM_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/ascend/config.toml"))
}

pub fn user_file() -> Option<PathBuf> {
    match std::env::var_os("ASCEND_CONFIG_DIR") {
        Some(d) => Some(PathBuf::from(d).join("config.toml")),
        None => dirs::config_dir().map(|d| d.join("ascend").join("config.toml")),
    }
}

fn read(path: &Path) -> Result<Option<File>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(
                Invalid::new("config", format!("cannot read {}: {e}", path.display())).into(),
            )
        }
    };
    toml::from_str(&text).map(Some).map_err(|e| {
        let msg = e.message().to_string();
        let at = e
            .span()
            .map(|s| format!(" (line {})", text[..s.start].matches('\n').count() + 1))
            .unwrap_or_default();
        Invalid::new("config", format!("{}{at}: {msg}", path.display())).into()
    })
}

/// Reads the files and sets, for each key the environment does not set, its environment
/// variable from the user file, else the system file. Runs before the runtime starts, while
/// the program has one thread.
pub fn load() -> Result<Loaded, Error> {
    let system = read(&system_file())?.map(|f| (f, system_file()));
    let user = match user_file() {
        Some(p) => read(&p)?.map(|f| (f, p)),
        None => None,
    };
    let mut loaded = Loaded::default();
    for (key, var, _) in KEYS {
        if let Some(v) = std::env::var_os(var) {
            loaded
                .values
                .push((key, v.to_string_lossy().into_owned(), Origin::Environment));
            continue;
        }
        let pick = |f: &File| match key {
            "database_url" => f.database_url.clone(),
            "source" => f.source.clone(),
            _ => f.format.clone(),
        };
        let found = user
            .as_ref()
            .and_then(|(f, p)| pick(f).map(|v| (v, p.clone())))
            .or_else(|| {
                system
                    .as_ref()
                    .and_then(|(f, p)| pick(f).map(|v| (v, p.clone())))
            });
        if let Some((value, path)) = found {
            std::env::set_var(var, &value);
            loaded.values.push((key, value, Origin::File(path)));
        }
    }
    Ok(loaded)
}

/// `ascend config show`.
#[derive(Debug, Args)]
pub struct Show {}

#[derive(Serialize)]
struct Row {
    key: &'static str,
    value: String,
    origin: String,
}

impl Tabular for Row {
    fn headers() -> &'static [&'static str] {
        &["key", "value", "origin"]
    }
    fn cells(&self, _human: bool) -> Vec<String> {
        vec![self.key.into(), self.value.clone(), self.origin.clone()]
    }
}

/// Hides the password of a database URL.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].find(':') {
            Some(colon) => format!("{}:***{}", &url[..s + 3 + colon], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

impl Show {
    pub fn run(
        &self,
        ctx: &Ctx,
        matches: &ArgMatches,
        loaded: &Loaded,
        out: &mut dyn Write,
    ) -> Result<u8, Error> {
        let mut rows = Vec::new();
        for (key, var, flag) in KEYS {
            let from_flag = matches.try_get_raw(key).is_ok_and(|v| v.is_some())
                && matches.value_source(key) == Some(ValueSource::CommandLine);
            let (value, origin) = if from_flag {
                let v = match matches.try_get_one::<String>(key) {
                    Ok(Some(v)) => v.clone(),
                    _ => ctx.format.name().to_string(),
                };
                (v, format!("flag {flag}"))
            } else {
                match loaded.values.iter().find(|(k, _, _)| *k == key) {
                    Some((_, v, Origin::Environment)) => (v.clone(), format!("environment {var}")),
                    Some((_, v, Origin::File(p))) => (v.clone(), p.display().to_string()),
                    None => (
                        match key {
                            "source" => "naver".into(),
                            "format" => crate::output::Format::auto().name().into(),
                            _ => String::new(),
                        },
                        "default".into(),
                    ),
                }
            };
            let value = if key == "database_url" {
                redact(&value)
            } else {
                value
            };
            rows.push(Row { key, value, origin });
        }
        render(out, ctx.format, &rows).map_err(io_err)?;
        Ok(exit::OK)
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn a_password_in_a_url_is_hidden() {
        assert_eq!(
            redact("postgres://ascend:secret@db:5432/ascend"),
            "postgres://ascend:***@db:5432/ascend"
        );
        assert_eq!(
            redact("postgres://ascend@db/ascend"),
            "postgres://ascend@db/ascend"
        );
        assert_eq!(redact("postgres:///ascend"), "postgres:///ascend");
    }
}
