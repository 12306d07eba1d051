//! `canaryd audit verify|export`.

use canaryd_store::AuditReport;
use clap::Subcommand;
use std::io::Write;
use std::path::PathBuf;

use crate::{fmt, DbArg, Fail};

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Walk the hash chain: exit 0 when intact, 1 naming the first entry that
    /// was altered, removed, reordered or inserted.
    Verify {
        #[command(flatten)]
        db: DbArg,
    },
    /// Write every entry as JSON Lines (to stdout, or --output FILE).
    Export {
        #[command(flatten)]
        db: DbArg,
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

pub fn run(cmd: AuditCmd) -> Result<u8, Fail> {
    match cmd {
        AuditCmd::Verify { db } => {
            let store = fmt::open_existing(&db.db)?;
            match store.verify_audit()? {
                AuditReport::Intact { entries, head_hash } => {
                    println!("audit log intact: {entries} entries, head {head_hash}");
                    Ok(0)
                }
                AuditReport::Broken(b) => {
                    println!("audit log BROKEN: {b}");
                    Ok(1)
                }
            }
        }
        AuditCmd::Export { db, output } => {
            let store = fmt::open_existing(&db.db)?;
            let n = match output {
                Some(path) => {
                    let f = std::fs::File::create(&path).map_err(|e| {
                        Fail::invalid(format!("cannot write {}: {e}", path.display()))
                    })?;
                    let mut w = std::io::BufWriter::new(f);
                    let n = store.export_audit(&mut w)?;
                    w.flush()?;
                    eprintln!("wrote {n} entries to {}", path.display());
                    n
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut w = std::io::BufWriter::new(stdout.lock());
                    let n = store.export_audit(&mut w)?;
                    w.flush()?;
                    n
                }
            };
            let _ = n;
            Ok(0)
        }
    }
}
