//! `canaryd policy check|show|test`.

use canaryd_core::Policy;
use canaryd_driver::{run_scenario, Scenario};
use canaryd_policy::policy_to_yaml;
use clap::Subcommand;
use std::path::{Path, PathBuf};

use crate::{fmt, Fail};

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// Validate policy files: exit 0 when all are valid, 3 with every error otherwise.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the fully resolved policy (preset merged with overrides).
    Show { file: PathBuf },
    /// Replay scenarios in memory and check each one's `expect:` section.
    Test {
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
}

/// Reads and resolves one policy file.
/// The shell's sections (`source`, `router`, `notify`) are checked too, so
/// `policy check` catches a broken router before a rollout needs it.
pub fn load(path: &Path) -> Result<Policy, Fail> {
    crate::policy_file::load(path).map(|f| f.policy)
}

pub fn run(cmd: PolicyCmd) -> Result<u8, Fail> {
    match cmd {
        PolicyCmd::Check { files } => {
            let mut bad = 0;
            for f in &files {
                match load(f) {
                    Ok(p) => println!("ok    {}  ({})", f.display(), p.summary()),
                    Err(e) => {
                        bad += 1;
                        eprintln!("{e}");
                    }
                }
            }
            if bad > 0 {
                eprintln!("{bad} of {} policy files invalid", files.len());
                Ok(3)
            } else {
                Ok(0)
            }
        }
        PolicyCmd::Show { file } => {
            let p = load(&file)?;
            print!("{}", policy_to_yaml(&p));
            Ok(0)
        }
        PolicyCmd::Test { scenarios } => test(&scenarios),
    }
}

fn test(files: &[PathBuf]) -> Result<u8, Fail> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| Fail::Operational(e.into()))?;
    let (mut passed, mut failed, mut invalid) = (0, 0, 0);
    let mut first_failure: Option<String> = None;
    for f in files {
        let scenario = match Scenario::load(f) {
            Ok(s) => s,
            Err(e) => {
                invalid += 1;
                eprintln!("INVALID {}: {e}", f.display());
                continue;
            }
        };
        if scenario.expect.is_none() {
            invalid += 1;
            eprintln!("INVALID {}: no `expect:` section to check", f.display());
            continue;
        }
        let store = fmt::open_store(Path::new(":memory:"))?;
        let start = scenario
            .start_ms
            .map(canaryd_core::Timestamp)
            .unwrap_or_else(fmt::now);
        let report = rt.block_on(run_scenario(&scenario, store, start))?;
        match report.check(&scenario) {
            Ok(()) => {
                passed += 1;
                println!("ok      {}: {}", f.display(), report.describe());
            }
            Err(why) => {
                failed += 1;
                let msg = format!("{}: {why}", f.display());
                println!("FAIL    {msg}");
                first_failure.get_or_insert(msg);
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if let Some(f) = first_failure {
        eprintln!("first mismatch: {f}");
    }
    Ok(if invalid > 0 {
        3
    } else if failed > 0 {
        1
    } else {
        0
    })
}
