//! A policy file read whole: the decision (the core's [`Policy`]) and the
//! shell's sections — `source:` (where the numbers come from), `router:` (what
//! moves traffic) and `notify:` (who is told, inline or a path to a notify
//! file). The core parses the first and skips the others
//! ([`canaryd_policy::SHELL_SECTIONS`]); they are parsed here with the
//! integrations' own strict types, and every problem in any section is
//! reported before anything starts.

use canaryd_core::Policy;
use canaryd_notify::NotifyConfig;
use canaryd_policy::parse_policy;
use canaryd_routers::RouterConfig;
use canaryd_sources::config::SourceConfig;
use serde::Deserialize;
use std::path::{Path, PathBuf};

use crate::Fail;

/// Everything one policy file says.
pub struct PolicyFile {
    pub path: PathBuf,
    pub policy: Policy,
    pub source: Option<SourceConfig>,
    pub router: Option<RouterConfig>,
    pub notify: Option<NotifyConfig>,
}

/// The shell's sections; the rest of the document belongs to the core, so
/// unknown top-level keys are not this parser's business.
#[derive(Deserialize)]
struct Sections {
    #[serde(default)]
    source: Option<SourceConfig>,
    #[serde(default)]
    router: Option<RouterConfig>,
    #[serde(default)]
    notify: Option<NotifySection>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NotifySection {
    /// A notify file, relative to the policy file.
    Path(String),
    Inline(serde::de::IgnoredAny),
}

/// Reads `path` and checks every section (no secret is read, nothing is
/// contacted: that happens when a command connects).
pub fn load(path: &Path) -> Result<PolicyFile, Fail> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Fail::invalid(format!("cannot read policy {}: {e}", path.display())))?;
    let name = path.display().to_string();
    let mut problems = Vec::new();
    let policy = parse_policy(&name, &text).map_err(|e| e.to_string());
    let sections = serde_saphyr::from_str::<Sections>(&text).map_err(|e| {
        format!(
            "in source/router/notify: {}",
            canaryd_secrets::yaml::describe_error(&name, &text, &e)
        )
    });
    let (policy, sections) = match (policy, sections) {
        (Ok(p), Ok(s)) => (p, s),
        (p, s) => {
            problems.extend(p.err());
            // The core already reported a document that is not YAML at all.
            if problems.is_empty() {
                problems.extend(s.err());
            }
            return Err(Fail::invalid(problems.join("\n")));
        }
    };
    if let Some(s) = &sections.source {
        if let Err(e) = s.validate() {
            problems.push(format!("{name}: {e}"));
        }
    }
    if let Some(r) = &sections.router {
        if let Err(e) = r.validate() {
            problems.push(format!("{name}: router: {e}"));
        }
    }
    let notify = match sections.notify {
        None => None,
        Some(NotifySection::Path(p)) => {
            let full = path.parent().unwrap_or(Path::new(".")).join(&p);
            match NotifyConfig::load(&full) {
                Ok(c) => Some(c),
                Err(e) => {
                    problems.push(format!("{name}: notify: {e}"));
                    None
                }
            }
        }
        Some(NotifySection::Inline(_)) => {
            // Parsed again from the file itself, so errors point at its lines.
            match NotifyConfig::from_policy(&name, &text) {
                Ok(c) => Some(c),
                Err(e @ canaryd_notify::config::ConfigError::Yaml(_)) => {
                    problems.push(format!("notify: {e}"));
                    None
                }
                Err(e) => {
                    problems.push(format!("{name}: notify: {e}"));
                    None
                }
            }
        }
    };
    if !problems.is_empty() {
        return Err(Fail::invalid(problems.join("\n")));
    }
    Ok(PolicyFile {
        path: path.to_path_buf(),
        policy,
        source: sections.source,
        router: sections.router,
        notify,
    })
}

/// The source for `key` as `file` configures it: its `source:` section, with
/// the stable history read over the policy's `baseline.lookback`.
pub fn connect(
    file_path: &Path,
    policy: &Policy,
    source: &SourceConfig,
    key: &canaryd_core::vocab::RolloutKey,
) -> Result<canaryd_sources::config::Connected, Fail> {
    let lookback = match &policy.baseline {
        canaryd_core::policy::BaselinePolicy::Required { lookback, .. } => Some(*lookback),
        canaryd_core::policy::BaselinePolicy::None => None,
    };
    source
        .connect(key, lookback)
        .map_err(|e| Fail::invalid(format!("{}: {e}", file_path.display())))
}
