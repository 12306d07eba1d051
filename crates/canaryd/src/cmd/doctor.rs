//! `canaryd doctor --policy FILE`: before trusting a policy, check it against
//! the real world.
//!
//! The classic failure of metric-gated rollouts is a query whose labels match
//! nothing: every check then "passes" on no data. canaryd never passes on no
//! data, but a gate that can only ever say *inconclusive* is no gate either.
//! The doctor reads one real window and the baseline through the policy's own
//! source and says, check by check, what works and what to fix:
//!
//! 1. the source answers, and its collectors (scrape targets, probes) are healthy;
//! 2. every query returns data for both cohorts on every route;
//! 3. the canary's share of requests matches the weight it should have
//!    (sample-ratio mismatch: a split that is not what the router claims means
//!    the comparison is biased);
//! 4. the baseline gate would pass (else every rollout waits for a human);
//! 5. every notification target answers.
//!
//! Exit 0 when every check passes, 1 when one fails, 3 for an invalid policy.

use canaryd_core::judge::judge;
use canaryd_core::observation::{BaselineStatus, CollectorHealth};
use canaryd_core::rollout::baseline_gate;
use canaryd_core::vocab::{RolloutKey, Timestamp};
use canaryd_notify::config::TargetConfig;
use canaryd_notify::NotifyConfig;
use canaryd_sources::prometheus::diagnose::Finding;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

use crate::{fmt, Fail};

#[derive(Args)]
pub struct DoctorArgs {
    #[arg(long)]
    policy: PathBuf,
    #[arg(long, env = "CANARYD_WORKLOAD", default_value = "default/app")]
    workload: String,
    /// The canary revision (its cohort label value).
    #[arg(long, env = "CANARYD_REVISION")]
    revision: String,
    /// The canary's current traffic share in percent, for the sample-ratio
    /// check (skipped without it).
    #[arg(long)]
    weight: Option<u8>,
    /// Length of the window read (default: the policy's window).
    #[arg(long, value_parser = humantime::parse_duration)]
    window: Option<Duration>,
}

/// One line of the doctor's answer.
struct Check {
    name: &'static str,
    status: Status,
    detail: String,
    fix: Option<String>,
}

#[derive(PartialEq, Eq)]
enum Status {
    Pass,
    Fail,
    Skip,
}

impl Check {
    fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Pass,
            detail: detail.into(),
            fix: None,
        }
    }
    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
    fn skip(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Skip,
            detail: detail.into(),
            fix: None,
        }
    }
}

/// Below this p-value the observed split is not the configured one.
const SRM_ALPHA: f64 = 0.001;

pub fn run(args: DoctorArgs) -> Result<u8, Fail> {
    let file = crate::policy_file::load(&args.policy)?;
    let key = RolloutKey::new(args.workload.clone(), args.revision.clone());
    let mut checks = vec![Check::pass(
        "policy",
        format!("{}: {}", file.path.display(), file.policy.summary()),
    )];
    let Some(source_cfg) = &file.source else {
        return Err(Fail::invalid(format!(
            "{}: no `source:` section: the doctor checks the policy against its metrics source",
            file.path.display()
        )));
    };
    let mut source = crate::policy_file::connect(&file.path, &file.policy, source_cfg, &key)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Fail::Operational(e.into()))?;
    let window_len = args.window.unwrap_or(file.policy.window);
    let end = fmt::now();
    let start = Timestamp(end.millis() - canaryd_core::vocab::duration_ms(window_len));

    let (window, baseline, findings) = rt.block_on(async {
        let w = source
            .source
            .window(&key, args.weight.unwrap_or(0), start, end)
            .await;
        let b = source.source.baseline(&key).await;
        // A gap names the cohort matcher it was looking for; the cause may be
        // elsewhere (a wrong `job=`, a metric that does not exist): ask.
        let missing = w
            .as_ref()
            .is_ok_and(|w| !w.gaps.is_empty() || w.routes.is_empty());
        let findings = match (&source.diagnosis, missing) {
            (Some(d), true) => Some(d.run(&key, end, DIAGNOSIS_LOOKBACK).await),
            _ => None,
        };
        (w, b, findings)
    });

    match &window {
        Err(e) => checks.push(Check::fail(
            "source",
            format!("{} ({}) did not answer: {e}", source_cfg.kind(), source.url),
            "check the URL, credentials and that canaryd can reach it",
        )),
        Ok(w) => {
            checks.push(Check::pass(
                "source",
                format!("{} at {} answered", source_cfg.kind(), source.url),
            ));
            checks.push(match &w.collectors {
                CollectorHealth::Healthy => {
                    Check::pass("collectors", "scrape targets and probes healthy")
                }
                CollectorHealth::Unhealthy(why) => Check::fail(
                    "collectors",
                    why.clone(),
                    "every window would be unreliable and the rollout would pause: fix the scrape \
                     targets / probe URLs in `source:`",
                ),
            });
            checks.extend(cohort_checks(w, findings.as_deref().unwrap_or_default()));
            checks.push(srm_check(w, args.weight));
            let j = judge(w, 0, &file.policy, None);
            let v = &j.verdict;
            let reason = v.reason();
            checks.push(Check::pass(
                "verdict",
                format!(
                    "the policy would judge this window {}{}",
                    v.kind(),
                    if reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {reason}")
                    }
                ),
            ));
        }
    }
    checks.push(match &baseline {
        Err(e) => Check::fail(
            "baseline",
            format!("the stable history could not be read: {e}"),
            "every rollout would wait for an operator's approval; check the baseline cohort selector",
        ),
        Ok(b) => match baseline_gate(b, &file.policy.baseline) {
            None => Check::pass("baseline", describe_baseline(b)),
            // The stable series are missing for the reason the data check named.
            Some(why) if findings.as_ref().is_some_and(|f| !f.is_empty()) => Check::fail(
                "baseline",
                why,
                "the stable series are missing for the reason the data check names: fix that first",
            ),
            Some(why) => Check::fail(
                "baseline",
                why,
                "rollouts will wait for an approval until the stable revision has enough clean \
                 history (or lower `baseline.min_history` / `min_requests_per_route`)",
            ),
        },
    });
    match &file.notify {
        None => checks.push(Check::skip(
            "notify",
            "no `notify:` section: nobody is told",
        )),
        Some(cfg) => checks.extend(rt.block_on(notify_checks(cfg))),
    }

    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    for c in &checks {
        let tag = match c.status {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        };
        println!("{tag}  {:<12} {}", c.name, c.detail);
        if let Some(fix) = &c.fix {
            println!("      {:<12} fix: {fix}", "");
        }
    }
    if failed > 0 {
        println!("{failed} check(s) failed: do not trust this policy until they pass");
        Ok(1)
    } else {
        println!("all checks passed");
        Ok(0)
    }
}

/// How far back doctor looks for the series a window did not find.
const DIAGNOSIS_LOOKBACK: std::time::Duration = std::time::Duration::from_secs(3600);

/// The data checks. `findings` are the source's own diagnosis of the gaps
/// (which matcher matches nothing, with the values that exist): when there
/// are any they replace the gaps, which only name the cohort matcher.
fn cohort_checks(w: &canaryd_core::observation::Window, findings: &[Finding]) -> Vec<Check> {
    let mut out = Vec::new();
    for f in findings {
        out.push(Check::fail("data", f.problem.clone(), f.fix.clone()));
    }
    for gap in w.gaps.iter().filter(|_| findings.is_empty()) {
        out.push(Check::fail(
            "data",
            gap.clone(),
            "the selector or cohort label matches nothing: fix `source:` (labels, cohort values) \
             until both cohorts return series",
        ));
    }
    if w.routes.is_empty() {
        if !findings.is_empty() {
            return out;
        }
        out.push(Check::fail(
            "data",
            "the window has no routes at all",
            "no query returned a series: check the selector, the convention and that traffic flows",
        ));
        return out;
    }
    let mut missing = Vec::new();
    for (route, rw) in &w.routes {
        if rw.canary.is_none() {
            missing.push(format!("{route}: no canary series"));
        }
        if rw.baseline.is_none() {
            missing.push(format!("{route}: no baseline series"));
        }
    }
    if missing.is_empty() && w.gaps.is_empty() {
        let (c, b) = w.requests();
        out.push(Check::pass(
            "data",
            format!(
                "both cohorts have data on all {} route(s): canary {c} requests, baseline {b}",
                w.routes.len()
            ),
        ));
    } else if !missing.is_empty() {
        out.push(Check::fail(
            "data",
            missing.join("; "),
            "a route served by one cohort only cannot be compared: check the route and cohort labels",
        ));
    }
    out
}

/// Sample-ratio mismatch: an exact binomial test of the canary's share of
/// requests against the weight it should have.
fn srm_check(w: &canaryd_core::observation::Window, weight: Option<u8>) -> Check {
    let Some(weight) = weight else {
        return Check::skip(
            "split",
            "give --weight N (the canary's current share) to check it",
        );
    };
    let (c, b) = w.requests();
    let n = c + b;
    if n == 0 {
        return Check::skip("split", "no requests in the window");
    }
    let expected = f64::from(weight) / 100.0;
    let observed = c as f64 / n as f64;
    if weight == 0 || weight >= 100 {
        return if (weight == 0 && c == 0) || (weight >= 100 && b == 0) {
            Check::pass(
                "split",
                format!("canary share {:.1}% as configured", observed * 100.0),
            )
        } else {
            Check::fail(
                "split",
                format!("canary share {:.1}%, expected {weight}%", observed * 100.0),
                "the router does not split as canaryd thinks: check --weight and the router",
            )
        };
    }
    match canaryd_stats::binomial_test(c, n, expected, canaryd_stats::Alternative::TwoSided) {
        Ok(t) if t.p_value < SRM_ALPHA => Check::fail(
            "split",
            format!(
                "canary share {:.2}% of {n} requests, expected {weight}% (binomial p = {:.2e})",
                observed * 100.0,
                t.p_value
            ),
            "sample-ratio mismatch: the cohorts are not what the router sends them (sticky \
             sessions, a second router, retries counted twice, a label on the wrong pods); \
             comparisons would be biased",
        ),
        Ok(t) => Check::pass(
            "split",
            format!(
                "canary share {:.2}% of {n} requests, expected {weight}% (binomial p = {:.3})",
                observed * 100.0,
                t.p_value
            ),
        ),
        Err(e) => Check::skip("split", format!("not testable: {e}")),
    }
}

fn describe_baseline(b: &BaselineStatus) -> String {
    match b {
        BaselineStatus::Available(b) => format!(
            "{:.1}h of stable history over {} route(s): the baseline gate passes",
            b.history_hours,
            b.routes.len()
        ),
        BaselineStatus::Missing(why) => why.clone(),
    }
}

/// Each target's endpoint answers HTTP (any status: a POST-only webhook
/// answering 405 to a HEAD is alive). No message is sent.
async fn notify_checks(cfg: &NotifyConfig) -> Vec<Check> {
    let client = match canaryd_http::client(Duration::from_secs(5)) {
        Ok(c) => c,
        Err(e) => return vec![Check::fail("notify", e.to_string(), "report this as a bug")],
    };
    let mut out = Vec::new();
    for t in &cfg.targets {
        out.push(target_check(&client, t).await);
    }
    out
}

async fn target_check(client: &reqwest::Client, t: &TargetConfig) -> Check {
    let url = if let Some(s) = &t.slack {
        s.webhook_url
            .load("slack.webhook_url")
            .map(|(s, _)| s.expose().to_string())
    } else if let Some(p) = &t.pagerduty {
        Ok(p.url.as_ref().map_or_else(
            || canaryd_notify::pagerduty::DEFAULT_URL.to_string(),
            |u| u.expose().to_string(),
        ))
    } else if let Some(w) = &t.webhook {
        w.url
            .load("webhook.url")
            .map(|(s, _)| s.expose().to_string())
    } else {
        return Check::skip("notify", format!("{}: no channel configured", t.name));
    };
    let url = match url {
        Ok(u) => u,
        Err(e) => {
            return Check::fail(
                "notify",
                format!("{}: {e}", t.name),
                "set the secret the target names (environment variable or file)",
            )
        }
    };
    // The URL may be the credential (Slack): report only its origin.
    // `authority()` would include `user:pass@`: build the origin from the host.
    let origin = canaryd_secrets::SafeUrl::parse(&url)
        .ok()
        .map(|u| {
            let e = u.expose();
            match e.port() {
                Some(p) => format!("{}://{}:{p}", e.scheme(), e.host_str().unwrap_or("")),
                None => format!("{}://{}", e.scheme(), e.host_str().unwrap_or("")),
            }
        })
        .unwrap_or_else(|| "(unparsable URL)".into());
    match client.head(&url).send().await {
        Ok(r) => Check::pass(
            "notify",
            format!(
                "{}: {origin} answered (HTTP {})",
                t.name,
                r.status().as_u16()
            ),
        ),
        Err(e) => Check::fail(
            "notify",
            format!(
                "{}: {origin} did not answer: {}",
                t.name,
                if e.is_timeout() {
                    "timed out".to_string()
                } else if e.is_connect() {
                    "connection failed".to_string()
                } else {
                    "request failed".to_string()
                }
            ),
            "check the URL and that canaryd can reach it (proxy, firewall)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canaryd_core::observation::{Observation, RouteWindow, Window};

    fn window(canary: u64, baseline: u64) -> Window {
        let mut w = Window::default();
        w.routes.insert(
            "GET /pay".into(),
            RouteWindow {
                canary: Some(Observation {
                    requests: canary,
                    ..Default::default()
                }),
                baseline: Some(Observation {
                    requests: baseline,
                    ..Default::default()
                }),
            },
        );
        w
    }

    #[test]
    fn the_split_check_catches_a_sample_ratio_mismatch() {
        // 20% as configured, within noise.
        assert!(srm_check(&window(195, 805), Some(20)).status == Status::Pass);
        // Half the traffic on a canary that should have a fifth.
        let c = srm_check(&window(500, 500), Some(20));
        assert!(c.status == Status::Fail, "{}", c.detail);
        assert!(c.detail.contains("expected 20%"), "{}", c.detail);
        // Traffic on a canary that should have none.
        assert!(srm_check(&window(3, 997), Some(0)).status == Status::Fail);
        assert!(srm_check(&window(0, 1000), Some(0)).status == Status::Pass);
        // Nothing to test without a weight or without requests.
        assert!(srm_check(&window(10, 10), None).status == Status::Skip);
        assert!(srm_check(&window(0, 0), Some(20)).status == Status::Skip);
    }

    #[test]
    fn gaps_and_one_sided_routes_fail_the_data_check() {
        let mut w = window(100, 900);
        assert!(cohort_checks(&w, &[])
            .iter()
            .all(|c| c.status == Status::Pass));
        w.gaps
            .push("canary selector `version=\"v3\"` matched no series".into());
        let checks = cohort_checks(&w, &[]);
        assert!(checks
            .iter()
            .any(|c| c.status == Status::Fail && c.detail.contains("v3")));
        let mut w = window(100, 900);
        if let Some(rw) = w.routes.values_mut().next() {
            rw.baseline = None;
        }
        let checks = cohort_checks(&w, &[]);
        assert!(checks
            .iter()
            .any(|c| c.status == Status::Fail && c.detail.contains("no baseline series")));
        assert!(cohort_checks(&Window::default(), &[])
            .iter()
            .any(|c| c.status == Status::Fail && c.detail.contains("no routes")));
    }
}
