//! The detection benchmark's guarantees: deterministic for a seed whatever
//! the thread count, and runs that mean what their outcome says.

use canaryd_sim::detect::{
    contender_names, run_bench, run_one, BenchConfig, Outcome, Row, Scenario,
};

fn config(
    policies: &[&str],
    scenarios: &[&str],
    runs: u64,
    seed: u64,
    threads: usize,
) -> BenchConfig {
    BenchConfig {
        policies: policies.iter().map(|s| s.to_string()).collect(),
        files: Default::default(),
        scenarios: scenarios
            .iter()
            .map(|s| Scenario::named(s).expect("known scenario"))
            .collect(),
        runs,
        seed,
        threads,
    }
}

fn rows(c: &BenchConfig) -> Vec<Row> {
    run_bench(c).expect("bench runs")
}

#[test]
fn same_seed_same_figures_whatever_the_thread_count() {
    let policies = ["canaryd", "flagger", "kayenta"];
    let scenarios = ["aa", "error-x2", "blip-60s"];
    let one = rows(&config(&policies, &scenarios, 30, 42, 1));
    let four = rows(&config(&policies, &scenarios, 30, 42, 4));
    assert_eq!(one, four);
    let other = rows(&config(&policies, &scenarios, 30, 43, 2));
    assert_ne!(one, other, "a different seed must draw different traffic");
}

#[test]
fn a_run_depends_only_on_its_own_coordinates() {
    let s = Scenario::named("error-x5").unwrap();
    let a = run_one("canaryd", &s, 9, 3).unwrap();
    // Running other runs first changes nothing.
    let _ = run_one("canaryd", &s, 9, 2).unwrap();
    let _ = run_one("argo-rollouts", &s, 9, 3).unwrap();
    assert_eq!(run_one("canaryd", &s, 9, 3).unwrap(), a);
}

#[test]
fn every_policy_finishes_every_scenario_in_a_known_way() {
    for policy in contender_names() {
        for s in Scenario::defaults() {
            let r = run_one(policy, &s, 1, 0).unwrap();
            assert!(r.end_s > 0.0 && r.windows > 0, "{policy} {}", s.name);
            assert!(
                r.end_s <= s.horizon_s + 600.0,
                "{policy} {} ran past its horizon",
                s.name
            );
            if !s.is_bad() {
                assert_eq!(r.bad_requests, 0, "{policy} {}", s.name);
                assert_eq!(r.onset_s, None);
            }
            if r.outcome == Outcome::RolledBack && s.is_bad() {
                assert!(r.time_to_detect().is_some());
            }
        }
    }
}

#[test]
fn unknown_policy_is_an_error_naming_the_known_ones() {
    let s = Scenario::named("aa").unwrap();
    let e = run_one("nope", &s, 1, 0).unwrap_err().to_string();
    assert!(
        e.contains("nope") && e.contains("flagger") && e.contains("canaryd"),
        "{e}"
    );
}

#[test]
fn a_missed_regression_counts_its_harm_until_the_horizon() {
    // `statistical` needs Cohen's h >= 0.2: error ×2 at 0.5% never gets there,
    // so the bad canary is promoted and serves everyone until the horizon.
    let s = Scenario::named("error-x2").unwrap();
    let r = run_one("statistical", &s, 1, 0).unwrap();
    assert_eq!(r.outcome, Outcome::Promoted);
    let after = (s.horizon_s - r.end_s) * s.rate_rps;
    assert!(
        r.bad_requests as f64 >= after,
        "{} < {after}",
        r.bad_requests
    );
}

#[test]
fn bad_at_50_is_only_bad_from_the_50_percent_step() {
    let s = Scenario::named("bad-at-50").unwrap();
    let r = run_one("canaryd", &s, 1, 0).unwrap();
    // canaryd's ladder reaches 50% after 24 healthy windows of 30 s at 3%
    // and 4 at 25% at the earliest (a window that breaches a rule once does
    // not count towards a hold).
    let onset = r.onset_s.expect("the canary reached 50%");
    assert!(onset >= 840.0 && onset % 30.0 == 0.0, "{onset}");
    assert!(r.canary_requests > r.bad_requests);
}
