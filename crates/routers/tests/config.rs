//! Loading the `router:` section: every kind parses, and every mistake gets
//! an error naming the field and what is allowed.

use canaryd_routers::{ConfigError, RouterConfig, ShadowRouter};

fn err(yaml: &str) -> String {
    RouterConfig::from_yaml("policy.yaml", yaml)
        .map(|c| format!("unexpectedly accepted: {c:?}"))
        .unwrap_or_else(|e| e.to_string())
}

#[test]
fn each_kind_parses_with_defaults() {
    let c = RouterConfig::from_yaml(
        "p",
        "exec: {set_weight: [kubectl, patch, x, '{weight}'], env: {A: b}}",
    )
    .unwrap();
    let RouterConfig::Exec(e) = c else {
        panic!("not exec: {c:?}")
    };
    assert_eq!(e.timeout, std::time::Duration::from_secs(30));
    assert!(e.rollback.is_none());
    assert!(matches!(&e.env["A"], canaryd_secrets::SecretSource::Inline(v) if v == "b"));

    let c = RouterConfig::from_yaml(
        "p",
        r#"webhook: {set_weight: {url: "https://lb.example.com/w/{workload}", body: '{"w": {weight}}'}, retries: 1, timeout: 2s}"#,
    )
    .unwrap();
    let RouterConfig::Webhook(w) = c else {
        panic!("not webhook: {c:?}")
    };
    assert_eq!((w.retries, w.set_weight.method.as_str()), (1, "POST"));

    let c = RouterConfig::from_yaml("p", "embedded: {admin_url: 'http://127.0.0.1:9091'}").unwrap();
    assert!(matches!(c, RouterConfig::Embedded(_)));
    let c = RouterConfig::from_yaml("p", "none: {}").unwrap();
    assert!(matches!(c, RouterConfig::External(_)));
}

#[test]
fn the_section_is_read_out_of_a_whole_policy() {
    let policy = "preset: slo-ratio\nwindow: 1m\nrouter:\n  exec:\n    set_weight: [lbctl, set, '{weight}']\n";
    let c = RouterConfig::from_policy("p.yaml", policy).unwrap();
    assert!(matches!(c, Some(RouterConfig::Exec(_))));
    assert!(RouterConfig::from_policy("p.yaml", "preset: slo-ratio\n")
        .unwrap()
        .is_none());
    let e = RouterConfig::from_policy("p.yaml", "router:\n  exec: {set_weight: []}\n").unwrap_err();
    assert!(e.to_string().contains("exec.set_weight"), "{e}");
}

#[test]
fn malformed_configs_are_rejected_with_the_reason() {
    let cases: &[(&str, &[&str])] = &[
        // unknown fields, at each level
        ("exec: {set_weight: [a], timeot: 3s}", &["timeot"]),
        ("webhook: {set_weight: {url: 'http://h/x', methd: PUT}}", &["methd"]),
        ("embedded: {admin_url: 'http://h:1', tokn: x}", &["tokn"]),
        ("kubectl: {}", &["kubectl"]),
        ("none: {x: 1}", &["x"]),
        // more than one kind
        ("{exec: {set_weight: [a]}, none: {}}", &["exactly one of", "found exec, none"]),
        ("{}", &["exactly one of", "found none"]),
        // unknown placeholder, in argv, URL, header and body
        ("exec: {set_weight: [lbctl, '--w={wieght}']}", &["exec.set_weight[1]", "{wieght}", "{weight}"]),
        ("webhook: {set_weight: {url: 'http://h/{rev}'}}", &["webhook.set_weight.url", "{rev}"]),
        ("webhook: {set_weight: {url: 'http://h/', headers: {X-W: '{pct}'}}}", &["headers.X-W", "{pct}"]),
        ("webhook: {set_weight: {url: 'http://h/', body: '{\"w\": {percent}}'}}", &["body", "{percent}"]),
        // empty commands, placeholder programs
        ("exec: {set_weight: []}", &["exec.set_weight", "empty command"]),
        ("exec: {set_weight: [a], rollback: ['']}", &["exec.rollback", "empty"]),
        ("exec: {set_weight: ['{revision}', x]}", &["exec.set_weight[0]", "placeholder"]),
        // values canaryd owns
        ("exec: {set_weight: [a], env: {CANARYD_WEIGHT: '5'}}", &["CANARYD_WEIGHT", "cannot be overridden"]),
        ("exec: {set_weight: [a], timeout: 0s}", &["exec.timeout"]),
        ("exec: {set_weight: [a], timeout: soon}", &["soon", "10s"]),
        // webhook requests
        ("webhook: {set_weight: {url: 'ftp://h/x'}}", &["http://"]),
        ("webhook: {set_weight: {url: 'not a url'}}", &["not a URL"]),
        ("webhook: {set_weight: {url: 'http://h/', method: TRACE}}", &["TRACE", "PUT"]),
        ("webhook: {set_weight: {url: 'http://h/', body: '{\"w\": {weight}'}}", &["not valid JSON"]),
        ("webhook: {set_weight: {url: 'http://h/'}, retries: 50}", &["retries", "at most 10"]),
        ("webhook: {set_weight: {url: 'http://h/', headers: {X-Canaryd-Signature: x}}, secret: s}", &["set by canaryd"]),
        ("webhook: {set_weight: {url: 'http://h/', headers: {Authorization: x}}, token: t}", &["either `token`"]),
        ("embedded: {admin_url: '127.0.0.1:9091'}", &["policy.yaml:1:23", "not a valid URL"]),
    ];
    for (yaml, needles) in cases {
        let e = err(yaml);
        assert!(!e.starts_with("unexpectedly"), "{yaml}: {e}");
        for n in *needles {
            assert!(e.contains(n), "{yaml}: `{n}` not in: {e}");
        }
    }
    // A body that is not JSON is fine when the request says so.
    RouterConfig::from_yaml(
        "p",
        "webhook: {set_weight: {url: 'http://h/', headers: {Content-Type: text/plain}, body: 'w={weight}'}}",
    )
    .unwrap();
}

#[test]
fn secrets_are_needed_to_act_but_not_to_plan() {
    let cfg = RouterConfig::from_yaml(
        "p",
        "webhook: {set_weight: {url: 'http://h/'}, secret: {env: CANARYD_ROUTERS_TEST_UNSET}}",
    )
    .unwrap();
    let e = match canaryd_routers::build(&cfg) {
        Err(e) => e,
        Ok(_) => panic!("built without its secret"),
    };
    assert!(matches!(e, ConfigError::Secret(_)));
    assert!(e.to_string().contains("CANARYD_ROUTERS_TEST_UNSET"), "{e}");
    assert!(ShadowRouter::new(&cfg).is_ok());
}
