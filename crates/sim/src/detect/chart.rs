//! The benchmark's chart: per policy, median time to detect and median bad
//! requests served on the headline regressions, as a plain SVG (no fonts or
//! system libraries needed to write it; any browser renders it).

use std::fmt::Write;

use super::report::Row;

/// Scenarios charted, in order, when present in the rows.
const CHARTED: [&str; 3] = ["error-x2", "error-x5", "catastrophic"];
const COLORS: [&str; 3] = ["#4e79a7", "#f28e2b", "#e15759"];

/// Reads one charted figure off a row.
type Figure = fn(&Row) -> Option<f64>;

const ROW_H: f64 = 14.0;
const LABEL_W: f64 = 130.0;
const PANEL_W: f64 = 360.0;

/// An SVG with two panels (time to detect, bad requests), one group of bars
/// per policy, one bar per charted scenario. Values are in log scale (they
/// span three orders of magnitude); a missing value (never detected) is an
/// empty bar labelled "miss".
pub fn svg(rows: &[Row]) -> String {
    let mut policies: Vec<&str> = Vec::new();
    for r in rows {
        if !policies.contains(&r.policy.as_str()) {
            policies.push(&r.policy);
        }
    }
    let scenarios: Vec<&str> = CHARTED
        .iter()
        .copied()
        .filter(|s| rows.iter().any(|r| r.scenario == *s))
        .collect();
    let group_h = ROW_H * scenarios.len().max(1) as f64 + 8.0;
    let height = 60.0 + group_h * policies.len() as f64 + 30.0;
    let width = LABEL_W + 2.0 * (PANEL_W + 40.0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let panels: [(&str, Figure); 2] = [
        ("median time to detect (s, log)", |r| r.ttd_median_s),
        ("median bad requests served (log)", |r| {
            r.bad_requests_median
        }),
    ];
    for (p, (title, value)) in panels.iter().enumerate() {
        let x0 = LABEL_W + p as f64 * (PANEL_W + 40.0);
        let _ = writeln!(
            out,
            r#"<text x="{x0}" y="18" font-weight="bold">{title}</text>"#
        );
        let max = rows
            .iter()
            .filter(|r| scenarios.contains(&r.scenario.as_str()))
            .filter_map(value)
            .fold(1.0f64, f64::max);
        let scale = |v: f64| PANEL_W * (1.0 + v.max(1.0)).log10() / (1.0 + max).log10();
        for (i, policy) in policies.iter().enumerate() {
            let gy = 40.0 + group_h * i as f64;
            if p == 0 {
                let _ = writeln!(
                    out,
                    r#"<text x="{}" y="{}" text-anchor="end">{policy}</text>"#,
                    LABEL_W - 8.0,
                    gy + group_h / 2.0
                );
            }
            for (j, scenario) in scenarios.iter().enumerate() {
                let y = gy + ROW_H * j as f64;
                let v = rows
                    .iter()
                    .find(|r| r.policy == *policy && r.scenario == *scenario)
                    .and_then(value);
                match v {
                    Some(v) => {
                        let w = scale(v);
                        let _ = writeln!(
                            out,
                            r#"<rect x="{x0}" y="{y}" width="{w:.1}" height="{}" fill="{}"/><text x="{:.1}" y="{}">{v:.0}</text>"#,
                            ROW_H - 2.0,
                            COLORS[j % COLORS.len()],
                            x0 + w + 3.0,
                            y + ROW_H - 4.0
                        );
                    }
                    None => {
                        let _ = writeln!(
                            out,
                            r#"<text x="{}" y="{}" fill="{}">miss</text>"#,
                            x0 + 3.0,
                            y + ROW_H - 4.0,
                            COLORS[j % COLORS.len()]
                        );
                    }
                }
            }
        }
    }
    let ly = height - 14.0;
    for (j, scenario) in scenarios.iter().enumerate() {
        let x = LABEL_W + 130.0 * j as f64;
        let _ = writeln!(
            out,
            r#"<rect x="{x}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{ly}">{scenario}</text>"#,
            ly - 9.0,
            COLORS[j % COLORS.len()],
            x + 14.0
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(policy: &str, scenario: &str, ttd: Option<f64>) -> Row {
        Row {
            policy: policy.into(),
            scenario: scenario.into(),
            runs: 1,
            detection_rate: Some(1.0),
            false_alarm_rate: None,
            needs_human_rate: 0.0,
            ttd_median_s: ttd,
            ttd_p90_s: ttd,
            bad_requests_median: ttd.map(|t| t * 10.0),
            promote_median_s: None,
            wald_bound_requests: None,
            requests_to_detect_median: None,
            wald_ratio: None,
        }
    }

    #[test]
    fn chart_has_a_bar_per_value_and_marks_misses() {
        let rows = vec![
            row("canaryd", "error-x2", Some(120.0)),
            row("slo-ratio", "error-x2", None),
            row("canaryd", "aa", Some(5.0)),
        ];
        let s = svg(&rows);
        assert!(s.starts_with("<svg"));
        assert!(s.trim_end().ends_with("</svg>"));
        // Two panels × one charted value for canaryd; "aa" is not charted.
        assert_eq!(s.matches("<rect x=").count(), 2 + 1);
        assert_eq!(s.matches(">miss<").count(), 2);
        assert!(s.contains(">canaryd<") && s.contains(">slo-ratio<"));
    }
}
