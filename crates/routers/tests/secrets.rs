//! Router `headers:` and exec `env:` values are secrets (issue 16): an
//! upstream or a command that reflects what it received must not carry them
//! into an error, which the driver stores in the append-only audit chain.
//! Before the fix both came back verbatim.

use axum::http::{HeaderMap, StatusCode};
use canaryd_core::vocab::RolloutKey;
use canaryd_routers::{BuiltRouter, RouterConfig};

/// Answers `status` with every request header echoed in the body.
async fn echoing(status: u16) -> String {
    let app = axum::Router::new().fallback(move |headers: HeaderMap| async move {
        let echoed: Vec<String> = headers
            .iter()
            .map(|(k, v)| format!("{k}={}", v.to_str().unwrap_or("?")))
            .collect();
        (StatusCode::from_u16(status).unwrap(), echoed.join(" "))
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://{addr}")
}

fn build(yaml: &str) -> BuiltRouter {
    canaryd_routers::build(&RouterConfig::from_yaml("test", yaml).unwrap()).unwrap()
}

#[tokio::test]
async fn webhook_header_secrets_are_sent_but_never_quoted() {
    let from_env = "hdr-env-secret-91b2c3d4e5";
    let inline = "inline-api-key-6f7a8b9c0d";
    std::env::set_var("CANARYD_TEST_ROUTER_HDR_16", from_env);
    for status in [401, 500] {
        let base = echoing(status).await;
        let mut r = build(&format!(
            "webhook:\n  set_weight:\n    url: {base}/w\n    headers: {{X-Auth: {{env: CANARYD_TEST_ROUTER_HDR_16}}, X-Api-Key: {inline}, X-Team: payments}}\n  retries: 0\n"
        ));
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("X-Api-Key") || w.contains("x-api-key")),
            "an inline credential-named header is warned about: {:?}",
            r.warnings
        );
        let key = RolloutKey::new("shop/checkout", "v2");
        let err = r
            .router
            .set_weight(&key, 10)
            .await
            .unwrap_err()
            .message()
            .to_string();
        assert!(err.contains("x-team=payments"), "the echo is quoted: {err}");
        assert!(!err.contains(from_env), "{{env:}} header leaked: {err}");
        assert!(
            !err.contains(inline),
            "inline credential header leaked: {err}"
        );
        let secrets: Vec<String> = r.secrets.iter().map(|s| s.expose().to_string()).collect();
        assert!(secrets.contains(&from_env.to_string()) && secrets.contains(&inline.to_string()));
    }
}

#[tokio::test]
async fn exec_env_secrets_are_masked_in_what_a_failing_command_prints() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, "file-secret-3c4d5e6f7a\n").unwrap();
    let mut r = build(&format!(
        "exec:\n  set_weight: [sh, -c, 'echo \"$DB_PASSWORD $FROM_FILE $PLAIN\" >&2; printenv DB_PASSWORD FROM_FILE >&2; exit 3']\n  env: {{DB_PASSWORD: inline-pw-8e9f0a1b2c, FROM_FILE: {{file: {}}}, PLAIN: visible-value}}\n",
        file.display()
    ));
    assert!(
        r.warnings.iter().any(|w| w.contains("DB_PASSWORD")),
        "{:?}",
        r.warnings
    );
    let key = RolloutKey::new("shop/checkout", "v2");
    let err = r
        .router
        .set_weight(&key, 10)
        .await
        .unwrap_err()
        .message()
        .to_string();
    assert!(err.contains("visible-value"), "the output is quoted: {err}");
    assert!(!err.contains("inline-pw-8e9f0a1b2c"), "{err}");
    assert!(!err.contains("file-secret-3c4d5e6f7a"), "{err}");
    assert_eq!(r.secrets.len(), 2);
}

mod property {
    use super::*;
    use proptest::prelude::*;

    fn secret() -> impl Strategy<Value = String> {
        "[a-z0-9]{12,20}".prop_map(|s| format!("Zq{s}"))
    }

    proptest! {
        // Each case starts a local server and sends a request or two.
        #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

        /// Random secrets in every secret-bearing router field; the receiver
        /// echoes all it got with a 401 or 500, or the port refuses: no
        /// secret is in the error (which the driver audits) nor a warning.
        #[test]
        fn router_errors_never_carry_a_configured_secret(
            hdr_env in secret(), hdr_inline in secret(), token in secret(), hmac in secret(),
            env_file in secret(), env_inline in secret(), status in prop_oneof![Just(401u16), Just(500u16), Just(0u16)],
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                std::env::set_var("CANARYD_TEST_ROUTER_PROP_16", &hdr_env);
                let base = if status == 0 {
                    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                    let port = l.local_addr().unwrap().port();
                    drop(l);
                    format!("http://127.0.0.1:{port}")
                } else {
                    echoing(status).await
                };
                let secrets = [&hdr_env, &hdr_inline, &token, &hmac, &env_file, &env_inline];
                let mut texts = Vec::new();
                let mut w = build(&format!(
                    "webhook:\n  set_weight:\n    url: {base}/w\n    headers: {{X-Auth: {{env: CANARYD_TEST_ROUTER_PROP_16}}, Authorization: {hdr_inline}}}\n    body: '{{\"w\": {{weight}}}}'\n  secret: {hmac}\n  retries: 0\n"
                ));
                texts.extend(w.warnings.iter().cloned());
                let key = RolloutKey::new("shop/checkout", "v2");
                texts.push(w.router.set_weight(&key, 10).await.unwrap_err().message().to_string());
                let mut t = build(&format!(
                    "webhook:\n  set_weight: {{url: {base}/t}}\n  token: {token}\n  retries: 0\n"
                ));
                texts.push(t.router.roll_back(&key).await.unwrap_err().message().to_string());
                let file = dir.path().join("f");
                std::fs::write(&file, &env_file).unwrap();
                let mut x = build(&format!(
                    "exec:\n  set_weight: [sh, -c, 'echo \"$A_TOKEN $FROM_FILE\"; printenv A_TOKEN FROM_FILE >&2; exit 1']\n  env: {{A_TOKEN: {env_inline}, FROM_FILE: {{file: {}}}}}\n",
                    file.display()
                ));
                texts.extend(x.warnings.iter().cloned());
                texts.push(x.router.promote(&key).await.unwrap_err().message().to_string());
                for text in &texts {
                    for s in secrets {
                        assert!(!text.contains(s.as_str()), "secret in: {text}");
                    }
                }
            });
        }
    }
}
