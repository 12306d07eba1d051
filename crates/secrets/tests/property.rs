//! The library half of issue 16's proof: with random secrets, no way of
//! showing a configured URL (Display, Debug, serde, parse errors of an
//! otherwise broken URL) and no YAML error next to an inline secret ever
//! contains the secret. Many cases here; the binary property
//! (crates/canaryd/tests/secrets_property.rs) runs fewer, slower ones.

use canaryd_secrets::{yaml, Redactor, SafeUrl};
use proptest::prelude::*;

fn secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._~-]{10,24}".prop_map(|s| format!("Zq{s}"))
}

fn param() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("token"),
        Just("access_token"),
        Just("api_key"),
        Just("key"),
        Just("password"),
        Just("secret"),
        Just("sig"),
        Just("auth"),
        Just("X-Amz-Signature"),
        Just("client_secret"),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_configured_url_never_shows_its_credentials(
        user in "[a-z]{1,8}", pass in secret(), tok in secret(), p in param(), port in 1u32..200_000,
    ) {
        let raw = format!("https://{user}:{pass}@host.example:{port}/api/v1?query=up&{p}={tok}");
        let shown: Vec<String> = match SafeUrl::parse(&raw) {
            Ok(u) => {
                prop_assert!(u.credentials().is_some());
                prop_assert!(SafeUrl::parse_without_credentials(&raw).is_err());
                vec![
                    u.to_string(),
                    format!("{u:?}"),
                    serde_json::to_string(&u).unwrap(),
                    SafeUrl::parse_without_credentials(&raw).unwrap_err().to_string(),
                ]
            }
            // A port past 65535: the error quotes the URL, masked.
            Err(e) => vec![e.to_string()],
        };
        for s in &shown {
            prop_assert!(!s.contains(&pass), "{}", s);
            prop_assert!(!s.contains(&tok), "{}", s);
        }
        // Free text quoting the URL is masked by the redactor alone.
        let t = Redactor::new().redact(&format!("GET {raw} failed"));
        prop_assert!(!t.contains(&pass) && !t.contains(&tok), "{}", t);
    }

    #[test]
    fn yaml_errors_never_quote_an_inline_secret(
        bearer in secret(), key in secret(), pw in secret(), bad_line in 0usize..4,
    ) {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Doc {
            auth: std::collections::BTreeMap<String, String>,
            routing_key: String,
            password: String,
            timeout: u32,
            retries: u32,
        }
        let mut lines = [
            format!("auth: {{bearer: \"{bearer}\"}}"),
            format!("routing_key: {key}"),
            format!("password: '{pw}'"),
            "timeout: 3".to_string(),
            "retries: 2".to_string(),
        ];
        // Break one line next to the secrets (a type error in a secret field
        // makes the parser quote the value in its message).
        lines[bad_line + 1] = match bad_line {
            0 => format!("routing_key: [{key}]"),
            1 => format!("password: {{x: {pw}}}"),
            2 => "timeout: ten".to_string(),
            _ => "retries: [".to_string(),
        };
        let text = lines.join("\n") + "\n";
        let e = serde_saphyr::from_str::<Doc>(&text).unwrap_err();
        let shown = yaml::describe_error("policy.yaml", &text, &e);
        prop_assert!(shown.starts_with("policy.yaml"), "{}", shown);
        for s in [&bearer, &key, &pw] {
            prop_assert!(!shown.contains(s.as_str()), "{}", shown);
        }
    }
}
