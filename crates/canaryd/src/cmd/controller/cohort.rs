//! The canary and baseline selectors of `spec.metrics`, as users write
//! them: several matchers each (`{app="web",track="canary"}`, Datadog's
//! `service:checkout,version:canary`). The one label whose value differs
//! between the two is the cohort label (it tells the canary from the
//! stable series); the matchers both share select the workload and are
//! added to every query.

/// Both selectors split into what they share and the cohort label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cohorts {
    /// Matchers both sides share, in the order written.
    pub common: Vec<(String, String)>,
    pub label: String,
    pub canary: Option<String>,
    pub baseline: Option<String>,
}

/// Splits the two selectors (`None`: not given). `fields` names them for
/// messages (`spec.metrics.prometheus.canarySelector`, `...baselineSelector`).
pub fn split(
    fields: (&str, &str),
    canary: Option<Vec<(String, String)>>,
    baseline: Option<Vec<(String, String)>>,
) -> Result<Option<Cohorts>, String> {
    let one = |field: &str, mut m: Vec<(String, String)>| {
        if m.len() == 1 {
            Ok(m.remove(0))
        } else {
            Err(format!(
                "{field} has {} matchers: give {} too; the label whose value differs between \
                 the two is the cohort label, the ones they share select the workload",
                m.len(),
                if field == fields.0 {
                    fields.1
                } else {
                    fields.0
                }
            ))
        }
    };
    match (canary, baseline) {
        (None, None) => Ok(None),
        (Some(c), None) => {
            let (label, value) = one(fields.0, c)?;
            Ok(Some(Cohorts {
                common: vec![],
                label,
                canary: Some(value),
                baseline: None,
            }))
        }
        (None, Some(b)) => {
            let (label, value) = one(fields.1, b)?;
            Ok(Some(Cohorts {
                common: vec![],
                label,
                canary: None,
                baseline: Some(value),
            }))
        }
        (Some(c), Some(b)) => {
            let common: Vec<_> = c.iter().filter(|m| b.contains(m)).cloned().collect();
            let rest = |side: &[(String, String)]| -> Vec<(String, String)> {
                side.iter()
                    .filter(|m| !common.contains(m))
                    .cloned()
                    .collect()
            };
            match (rest(&c).as_slice(), rest(&b).as_slice()) {
                ([(cl, cv)], [(bl, bv)]) if cl == bl => Ok(Some(Cohorts {
                    common,
                    label: cl.clone(),
                    canary: Some(cv.clone()),
                    baseline: Some(bv.clone()),
                })),
                ([], []) => Err(format!(
                    "{} and {} select the same series: they must differ in one label (the cohort label)",
                    fields.0, fields.1
                )),
                (c_rest, b_rest) => Err(format!(
                    "{} and {} must differ in exactly one label (the cohort label), with the \
                     same other matchers; they differ in {}",
                    fields.0,
                    fields.1,
                    names(c_rest, b_rest)
                )),
            }
        }
    }
}

fn names(a: &[(String, String)], b: &[(String, String)]) -> String {
    let mut labels: Vec<&str> = a.iter().chain(b).map(|(l, _)| l.as_str()).collect();
    labels.sort_unstable();
    labels.dedup();
    labels.join(", ")
}

/// `{a="1", b="2"}` (braces optional) as matchers; only `=` matchers.
pub fn prometheus_matchers(field: &str, text: &str) -> Result<Vec<(String, String)>, String> {
    let bad = |why: &str| {
        format!(
            "{field}: {text:?} {why}; write matchers `label=\"value\"`, comma-separated \
             (`{{app=\"web\",track=\"canary\"}}`)"
        )
    };
    let inner = text.trim();
    let inner = inner.strip_prefix('{').unwrap_or(inner);
    let inner = inner.strip_suffix('}').unwrap_or(inner).trim();
    let mut out = Vec::new();
    let mut rest = inner;
    while !rest.is_empty() {
        let (label, after) = rest.split_once('=').ok_or_else(|| bad("has no `=`"))?;
        let label = label.trim();
        let valid_label = !label.is_empty()
            && label
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        if !valid_label {
            return Err(bad(&format!("has an invalid label {label:?}")));
        }
        let after = after.trim_start();
        let quoted = after
            .strip_prefix('"')
            .ok_or_else(|| bad("has a value that is not in double quotes"))?;
        let end = quoted
            .find('"')
            .ok_or_else(|| bad("has an unterminated value"))?;
        out.push((label.to_string(), quoted[..end].to_string()));
        rest = quoted[end + 1..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        } else if !rest.is_empty() {
            return Err(bad("has something other than `,` between matchers"));
        }
    }
    if out.is_empty() {
        return Err(bad("is empty"));
    }
    Ok(out)
}

/// `service:checkout,version:canary` as tags.
pub fn datadog_tags(field: &str, text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (tag, value) = part.split_once(':').ok_or_else(|| {
            format!("{field}: {part:?} in {text:?} is not `tag:value` (comma-separated tags)")
        })?;
        out.push((tag.trim().to_string(), value.trim().to_string()));
    }
    if out.is_empty() {
        return Err(format!("{field}: {text:?} gives no `tag:value`"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    const F: (&str, &str) = ("canarySelector", "baselineSelector");

    #[test]
    fn shared_matchers_select_the_workload_and_the_differing_one_is_the_cohort() {
        let c = prometheus_matchers("c", r#"{app="web",track="canary"}"#).unwrap();
        let b = prometheus_matchers("b", r#"{app="web", track="stable"}"#).unwrap();
        assert_eq!(
            split(F, Some(c), Some(b)).unwrap(),
            Some(Cohorts {
                common: m(&[("app", "web")]),
                label: "track".into(),
                canary: Some("canary".into()),
                baseline: Some("stable".into()),
            })
        );
        let c = datadog_tags("c", "service:checkout,version:canary").unwrap();
        let b = datadog_tags("b", "service:checkout, version:stable").unwrap();
        let s = split(F, Some(c), Some(b)).unwrap().unwrap();
        assert_eq!(
            (s.label.as_str(), s.common),
            ("version", m(&[("service", "checkout")]))
        );
    }

    #[test]
    fn one_matcher_alone_still_works_and_ambiguity_is_explained() {
        let c = prometheus_matchers("c", r#"rollouts_pod_template_hash="$revision""#).unwrap();
        assert_eq!(
            split(F, Some(c), None).unwrap().unwrap().label,
            "rollouts_pod_template_hash"
        );
        let c = prometheus_matchers("c", r#"{app="web",track="canary"}"#).unwrap();
        let e = split(F, Some(c.clone()), None).unwrap_err();
        assert!(
            e.contains("canarySelector has 2 matchers: give baselineSelector too"),
            "{e}"
        );
        let b = prometheus_matchers("b", r#"{app="shop",track="stable"}"#).unwrap();
        let e = split(F, Some(c.clone()), Some(b)).unwrap_err();
        assert!(e.contains("differ in app, track"), "{e}");
        let e = split(F, Some(c.clone()), Some(c)).unwrap_err();
        assert!(e.contains("select the same series"), "{e}");
        for bad in [
            "track",
            "track=canary",
            r#"{="x"}"#,
            r#"{a="1" b="2"}"#,
            "{}",
        ] {
            let e = prometheus_matchers("spec.metrics.prometheus.canarySelector", bad).unwrap_err();
            assert!(
                e.starts_with("spec.metrics.prometheus.canarySelector: "),
                "{e}"
            );
        }
        assert!(datadog_tags("t", "service").is_err());
    }
}
