//! `canaryd approve|resume|abort|promote WORKLOAD REVISION --by NAME`: an
//! operator command sent to a running canaryd over its HTTP API.

use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

use crate::Fail;

/// Where a running canaryd listens for operator commands unless told otherwise.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:7431";

#[derive(Args)]
pub struct OperatorArgs {
    pub workload: String,
    pub revision: String,
    /// Who you are: recorded in the audit log.
    #[arg(long)]
    pub by: String,
    /// Why: recorded in the audit log.
    #[arg(long)]
    pub reason: Option<String>,
    /// The running canaryd's API. Parsed by the command (not by clap), so a
    /// bad value is quoted masked; `hide_env_values` keeps `--help` from
    /// showing a `CANARYD_SERVER` that carries credentials.
    #[arg(long, env = "CANARYD_SERVER", default_value = DEFAULT_SERVER, hide_env_values = true)]
    pub server: String,
    /// File holding the API bearer token (else $CANARYD_API_TOKEN).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

/// Reads the API token from `--token-file` or `$CANARYD_API_TOKEN`.
pub fn load_token(file: Option<&PathBuf>) -> Result<String, Fail> {
    let token = match file {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| Fail::invalid(format!("cannot read token file {}: {e}", p.display())))?,
        None => std::env::var("CANARYD_API_TOKEN").map_err(|_| {
            Fail::invalid("no API token: pass --token-file PATH or set CANARYD_API_TOKEN")
        })?,
    };
    let token = token.trim().to_string();
    if token.is_empty() {
        return Err(Fail::invalid("the API token is empty"));
    }
    Ok(token)
}

pub fn run(action: &str, args: OperatorArgs) -> Result<u8, Fail> {
    let body = serde_json::json!({
        "workload": args.workload,
        "revision": args.revision,
        "action": action,
        "by": args.by,
        "reason": args.reason,
    });
    send(action, &args, "api/v1/commands", body)
}

/// Posts `body` to `path` of the running canaryd and reports its answer:
/// exit 0 when applied, 1 when refused (409), 3 for a bad request, 4 when
/// canaryd cannot be reached or refuses the token.
pub(crate) fn send(
    action: &str,
    args: &OperatorArgs,
    path: &str,
    body: serde_json::Value,
) -> Result<u8, Fail> {
    if args.by.trim().is_empty() {
        return Err(Fail::invalid(
            "--by must name who is asking; it goes into the audit log",
        ));
    }
    let server = canaryd_secrets::SafeUrl::parse(&args.server)
        .map_err(|e| Fail::invalid(format!("--server / CANARYD_SERVER: {e}")))?;
    let token = load_token(args.token_file.as_ref())?;
    let url = server.join_path(path);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Fail::Operational(e.into()))?;
    let (status, answer) = rt.block_on(async {
        let client = canaryd_http::client(Duration::from_secs(40))
            .map_err(|e| Fail::Operational(e.into()))?;
        let resp = client
            .post(url.expose().clone())
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                Fail::Operational(anyhow::anyhow!(
                    "cannot reach canaryd at {server}: {}",
                    canaryd_secrets::redact::mask_url_credentials(&e.without_url().to_string())
                ))
            })?;
        let status = resp.status().as_u16();
        let answer: serde_json::Value = resp.json().await.unwrap_or_default();
        Ok::<_, Fail>((status, answer))
    })?;
    // Whatever the server says is quoted, so it passes the redactor: a proxy
    // in between may echo the token or the URL it was sent.
    let mut redactor = canaryd_secrets::Redactor::new();
    redactor.add(&canaryd_secrets::Secret::new(token.clone()));
    redactor.add_url(server.expose());
    let message = redactor.redact(answer["message"].as_str().unwrap_or(""));
    match status {
        200 => {
            println!(
                "{action} {} {}: {message} (now {} at {}%)",
                args.workload,
                args.revision,
                answer["phase"].as_str().unwrap_or("?"),
                answer["weight"]
            );
            Ok(0)
        }
        409 => {
            eprintln!("refused: {message}");
            Ok(1)
        }
        400 | 404 => Err(Fail::invalid(message)),
        401 => Err(Fail::Operational(anyhow::anyhow!(
            "not authorized: {message}"
        ))),
        other => Err(Fail::Operational(anyhow::anyhow!(
            "canaryd answered HTTP {other}: {message}"
        ))),
    }
}
