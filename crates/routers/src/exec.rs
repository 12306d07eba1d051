//! The `exec` router: one command per action, for `kubectl`, cloud CLIs and
//! load balancer tools.
//!
//! Commands are argv arrays run without a shell, and placeholders are filled
//! in per argument, so a revision named `v2; rm -rf /` is one literal
//! argument and never a command. The program itself (`argv[0]`) cannot be a
//! placeholder. The same values are in the environment (`CANARYD_ACTION`,
//! `CANARYD_WEIGHT`, `CANARYD_STABLE_WEIGHT`, `CANARYD_WORKLOAD`,
//! `CANARYD_REVISION`) for scripts that prefer them.
//!
//! Each command runs in its own process group; at the timeout the whole group
//! is killed, so a wrapper script cannot leave its children behind.
//! Commands must be idempotent (`kubectl patch` with an absolute weight is):
//! after a crash the driver may run the same action again.

use canaryd_core::vocab::RolloutKey;
use canaryd_ports::{ActionError, ErrorKind, TrafficRouter};
use std::collections::BTreeMap;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinHandle;
use tokio::time::{timeout_at, Instant};

use canaryd_secrets::{Redactor, Secret, SecretSource};

use crate::action::Action;
use crate::config::{check_timeout, invalid, ConfigError, ExecConfig, EXEC_ENV};
use crate::template::{Escape, Template, Values};

/// Output kept per stream: the end of it, where tools print their error.
const OUTPUT_CAP: usize = 64 * 1024;
/// Characters of output quoted in an error.
const EXCERPT_CHARS: usize = 1000;

/// Why a router command did not do its job. Every variant quotes the
/// command (secrets masked) and what it printed (redacted).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The program could not be started (not installed, not executable).
    #[error("router command `{command}` could not be started: {source} (is the program installed and on PATH?)")]
    Spawn {
        /// The command line, secrets masked.
        command: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// It ran and exited unsuccessfully.
    #[error("router command `{command}` failed ({status}): {output}")]
    Failed {
        /// The command line, secrets masked.
        command: String,
        /// How it exited (exit code or signal).
        status: String,
        /// What it printed, redacted and shortened.
        output: String,
    },
    /// It ran past the timeout and was killed.
    #[error("router command `{command}` did not finish within {} and was killed; output so far: {output}", humantime::format_duration(*.timeout))]
    TimedOut {
        /// The command line, secrets masked.
        command: String,
        /// The configured timeout.
        timeout: Duration,
        /// What it printed before it was killed, redacted.
        output: String,
    },
    /// The operating system could not report how it ended.
    #[error("router command `{command}`: cannot wait for it to finish: {source}")]
    Wait {
        /// The command line, secrets masked.
        command: String,
        /// What the operating system said.
        source: std::io::Error,
    },
}

/// A command that cannot be started (not installed, not on PATH) fails the
/// same way next time; one that failed or hung may pass when run again.
impl From<ExecError> for ActionError {
    fn from(e: ExecError) -> ActionError {
        let transient = !matches!(e, ExecError::Spawn { .. });
        ActionError::new(ErrorKind::from_transient(transient), e.to_string())
    }
}

/// The checked argv templates of each action.
#[derive(Debug, Clone)]
pub(crate) struct Commands {
    set_weight: Vec<Template>,
    rollback: Option<Vec<Template>>,
    promote: Option<Vec<Template>>,
}

fn compile_argv(field: &str, argv: &[String]) -> Result<Vec<Template>, ConfigError> {
    let Some(program) = argv.first() else {
        return Err(invalid(
            field,
            "empty command: give the program and its arguments, e.g. [kubectl, patch, ...]",
        ));
    };
    if program.trim().is_empty() {
        return Err(invalid(field, "the program (first entry) is empty"));
    }
    if Template::parse(program)
        .map_err(|e| invalid(format!("{field}[0]"), e.to_string()))?
        .has_placeholders()
    {
        return Err(invalid(
            format!("{field}[0]"),
            "the program cannot be a placeholder; pass values as arguments",
        ));
    }
    argv.iter()
        .enumerate()
        .map(|(i, a)| {
            Template::parse(a).map_err(|e| invalid(format!("{field}[{i}]"), e.to_string()))
        })
        .collect()
}

impl Commands {
    pub(crate) fn compile(c: &ExecConfig) -> Result<Commands, ConfigError> {
        check_timeout("exec.timeout", c.timeout)?;
        for name in c.env.keys() {
            if name.is_empty() || name.contains(['=', '\0']) {
                return Err(invalid(
                    "exec.env",
                    format!("`{name}` is not a valid environment variable name"),
                ));
            }
            if EXEC_ENV.contains(&name.as_str()) {
                return Err(invalid(
                    "exec.env",
                    format!(
                        "`{name}` is set by canaryd for every command and cannot be overridden"
                    ),
                ));
            }
        }
        Ok(Commands {
            set_weight: compile_argv("exec.set_weight", &c.set_weight)?,
            rollback: c
                .rollback
                .as_deref()
                .map(|a| compile_argv("exec.rollback", a))
                .transpose()?,
            promote: c
                .promote
                .as_deref()
                .map(|a| compile_argv("exec.promote", a))
                .transpose()?,
        })
    }

    /// The exact argv `action` runs for `key`.
    pub(crate) fn argv(&self, key: &RolloutKey, action: Action) -> Vec<String> {
        let values = Values::new(key, action.weight());
        self.for_action(action)
            .iter()
            .map(|t| t.render(&values, Escape::Raw))
            .collect()
    }

    fn for_action(&self, action: Action) -> &[Template] {
        match action {
            Action::SetWeight(_) => &self.set_weight,
            Action::RollBack => self.rollback.as_deref().unwrap_or(&self.set_weight),
            Action::Promote => self.promote.as_deref().unwrap_or(&self.set_weight),
        }
    }
}

/// Runs the configured commands. See the module documentation.
#[derive(Debug, Clone)]
pub struct ExecRouter {
    commands: Commands,
    timeout: Duration,
    /// Values are [`Secret`]s: a command that echoes its environment (or a
    /// failing one that dumps it) must not carry them into errors.
    env: BTreeMap<String, Secret>,
    /// Values that are secrets: `{env:}` / `{file:}` ones, and inline ones
    /// under a credential-looking name.
    secrets: Vec<Secret>,
    /// Everything a command prints passes this before it is quoted.
    redactor: Redactor,
    /// Things the operator should know about the config (inline secrets).
    pub warnings: Vec<String>,
}

impl ExecRouter {
    /// Checks the commands and loads the environment's secrets; nothing is run yet.
    pub fn new(cfg: &ExecConfig) -> Result<ExecRouter, ConfigError> {
        let commands = Commands::compile(cfg)?;
        let (mut env, mut secrets, mut warnings) = (BTreeMap::new(), Vec::new(), Vec::new());
        let mut redactor = Redactor::new();
        for (name, src) in &cfg.env {
            let (value, inline) = match src {
                // An empty inline value is a legitimate setting, not a secret.
                SecretSource::Inline(v) => (Secret::new(v.clone()), true),
                other => (other.load(&format!("router exec.env.{name}"))?.0, false),
            };
            let secret_name = canaryd_secrets::redact::is_secret_name(name);
            if inline && secret_name {
                warnings.push(format!(
                    "router exec.env.{name} looks like a credential and is written inline in the \
                     policy; load it from {{env: VAR}} or {{file: PATH}} so it stays out of your repository"
                ));
            }
            if !inline || secret_name {
                redactor.add(&value);
                secrets.push(value.clone());
            }
            env.insert(name.clone(), value);
        }
        Ok(ExecRouter {
            commands,
            timeout: cfg.timeout,
            env,
            secrets,
            redactor,
            warnings,
        })
    }

    /// The configured secrets, for the process-wide redactor.
    pub fn secrets(&self) -> Vec<Secret> {
        self.secrets.clone()
    }

    /// The exact argv `action` runs for `key`.
    pub fn argv(&self, key: &RolloutKey, action: Action) -> Vec<String> {
        self.commands.argv(key, action)
    }

    /// The variables added to the command's environment.
    pub fn action_env(&self, key: &RolloutKey, action: Action) -> Vec<(&'static str, String)> {
        let w = action.weight();
        vec![
            ("CANARYD_ACTION", action.name().to_string()),
            ("CANARYD_WEIGHT", w.to_string()),
            ("CANARYD_STABLE_WEIGHT", (100 - w.min(100)).to_string()),
            ("CANARYD_WORKLOAD", key.workload.0.clone()),
            ("CANARYD_REVISION", key.revision.0.clone()),
        ]
    }

    /// Runs `action`'s command to completion; `Ok` only on exit status 0.
    pub async fn run(&self, key: &RolloutKey, action: Action) -> Result<(), ExecError> {
        let argv = self.argv(key, action);
        let command = self.redactor.redact(&shell_words(&argv));
        // `Commands::compile` refuses empty commands; this only keeps the
        // indexing honest.
        let Some((program, args)) = argv.split_first() else {
            return Err(ExecError::Spawn {
                command,
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"),
            });
        };
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v.expose())))
            .envs(self.action_env(key, action))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        let deadline = Instant::now() + self.timeout;
        let mut child = cmd.spawn().map_err(|source| ExecError::Spawn {
            command: command.clone(),
            source,
        })?;
        let group = child.id();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = [
            child.stdout.take().map(|s| collect(s, stdout.clone())),
            child.stderr.take().map(|s| collect(s, stderr.clone())),
        ];
        let excerpt = || self.redactor.redact(&excerpt(&stderr, &stdout));
        tracing::info!(%command, %action, "running router command");
        let status: ExitStatus = match timeout_at(deadline, child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(source)) => {
                kill_group(group);
                return Err(ExecError::Wait { command, source });
            }
            Err(_elapsed) => {
                kill_group(group);
                let _ = child.wait().await;
                stop(readers);
                return Err(ExecError::TimedOut {
                    command,
                    timeout: self.timeout,
                    output: excerpt(),
                });
            }
        };
        // The program is done; anything it left running in the background
        // holds the pipes open. Wait for them until the deadline, then clean up.
        let mut readers = readers;
        let drained = timeout_at(deadline, async {
            for r in readers.iter_mut().flatten() {
                let _ = r.await;
            }
        })
        .await;
        if drained.is_err() {
            kill_group(group);
        }
        stop(readers);
        if status.success() {
            Ok(())
        } else {
            Err(ExecError::Failed {
                command,
                status: status.to_string(),
                output: excerpt(),
            })
        }
    }
}

#[canaryd_ports::async_trait]
impl TrafficRouter for ExecRouter {
    async fn set_weight(&mut self, key: &RolloutKey, weight: u8) -> Result<(), ActionError> {
        self.run(key, Action::SetWeight(weight))
            .await
            .map_err(ActionError::from)
    }

    async fn roll_back(&mut self, key: &RolloutKey) -> Result<(), ActionError> {
        self.run(key, Action::RollBack)
            .await
            .map_err(ActionError::from)
    }

    async fn promote(&mut self, key: &RolloutKey) -> Result<(), ActionError> {
        self.run(key, Action::Promote)
            .await
            .map_err(ActionError::from)
    }
}

/// Reads a stream to its end, keeping only its last [`OUTPUT_CAP`] bytes.
fn collect(
    mut stream: impl AsyncRead + Unpin + Send + 'static,
    into: Arc<Mutex<Vec<u8>>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut chunk = [0u8; 8192];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Ok(mut buf) = into.lock() {
                        buf.extend_from_slice(&chunk[..n]);
                        if buf.len() > OUTPUT_CAP {
                            let excess = buf.len() - OUTPUT_CAP;
                            buf.drain(..excess);
                        }
                    }
                }
            }
        }
    })
}

fn stop(readers: [Option<JoinHandle<()>>; 2]) {
    for r in readers.into_iter().flatten() {
        r.abort();
    }
}

fn kill_group(group: Option<u32>) {
    let pid = group
        .and_then(|g| i32::try_from(g).ok())
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        // ESRCH (already gone) is the outcome we want anyway.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// The end of stderr (or of stdout when stderr is empty), at most [`EXCERPT_CHARS`].
fn excerpt(stderr: &Mutex<Vec<u8>>, stdout: &Mutex<Vec<u8>>) -> String {
    let text = |m: &Mutex<Vec<u8>>| {
        m.lock()
            .map(|b| String::from_utf8_lossy(&b).trim().to_string())
            .unwrap_or_default()
    };
    let mut t = text(stderr);
    if t.is_empty() {
        t = text(stdout);
    }
    if t.is_empty() {
        return "(no output)".into();
    }
    let n = t.chars().count();
    if n > EXCERPT_CHARS {
        format!("…{}", t.chars().skip(n - EXCERPT_CHARS).collect::<String>())
    } else {
        t
    }
}

/// The argv as a shell would need it typed, for messages only.
pub(crate) fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
