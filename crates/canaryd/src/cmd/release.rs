//! `canaryd release WORKLOAD REVISION --canary URL --by NAME`: a new canary
//! for a running `canaryd proxy`, taken over its operator API without a
//! restart (see `proxy_release` for what the proxy does with it).
//!
//! Exit 0 when taken (or when this very release is already in force), 1
//! when refused because a rollout is in progress or the revision was
//! released before, 3 for bad input, 4 when the proxy cannot be reached.

use clap::Args;

use super::operator::{send, OperatorArgs};
use crate::Fail;

#[derive(Args)]
pub struct ReleaseArgs {
    #[command(flatten)]
    op: OperatorArgs,
    /// The new canary's base URL (http, no credentials). The revision is
    /// the name; it is never read from this URL.
    #[arg(long)]
    canary: String,
}

pub fn run(args: ReleaseArgs) -> Result<u8, Fail> {
    if args.op.revision.trim().is_empty() {
        return Err(Fail::invalid(
            "REVISION must name the new canary's build (an image tag, a build id)",
        ));
    }
    // Refused here already, so a URL with credentials never leaves this machine.
    super::proxy_release::parse_upstream(&args.canary)
        .map_err(|e| Fail::invalid(format!("--canary: {e}")))?;
    let body = serde_json::json!({
        "workload": args.op.workload,
        "revision": args.op.revision,
        "canary": args.canary.trim(),
        "by": args.op.by,
        "reason": args.op.reason,
    });
    send("release", &args.op, "api/v1/releases", body)
}
