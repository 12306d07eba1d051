//! The requests of a webhook router, checked at load: method, URL, headers
//! and body templates per action.

use canaryd_core::vocab::RolloutKey;
use canaryd_secrets::{Secret, SecretSource};
use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;

use super::SIGNATURE_HEADER;
use crate::action::Action;
use crate::config::{
    check_http_url, check_timeout, invalid, ConfigError, RequestConfig, WebhookConfig, MAX_RETRIES,
};
use crate::template::{Escape, Template, Values};

#[derive(Debug, Clone)]
pub(super) struct RequestTemplate {
    pub(super) method: Method,
    pub(super) url: Template,
    pub(super) headers: Vec<(HeaderName, Template)>,
    /// `{env:}` / `{file:}` header values: sent, never shown.
    pub(super) secret_headers: Vec<(HeaderName, SecretSource)>,
    /// Their loaded values (filled by [`Requests::load_secrets`]).
    pub(super) loaded: Vec<(HeaderName, Secret)>,
    pub(super) body: Option<Template>,
    pub(super) json_body: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Requests {
    set_weight: RequestTemplate,
    rollback: Option<RequestTemplate>,
    promote: Option<RequestTemplate>,
}

fn probe_values() -> Values {
    Values {
        weight: 0,
        workload: "w".into(),
        revision: "r".into(),
    }
}

fn compile_request(
    field: &str,
    r: &RequestConfig,
    token: bool,
) -> Result<RequestTemplate, ConfigError> {
    check_http_url(&format!("{field}.url"), r.url.expose())?;
    let url = Template::parse(r.url.expose())
        .map_err(|e| invalid(format!("{field}.url"), e.to_string()))?;
    let method = match r.method.to_ascii_uppercase().as_str() {
        m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE") => Method::from_bytes(m.as_bytes())
            .map_err(|e| invalid(format!("{field}.method"), e.to_string()))?,
        other => {
            return Err(invalid(
                format!("{field}.method"),
                format!("`{other}` is not allowed; use GET, POST, PUT, PATCH or DELETE"),
            ))
        }
    };
    let mut headers = Vec::new();
    let mut secret_headers = Vec::new();
    for (name, value) in &r.headers {
        let at = format!("{field}.headers.{name}");
        let h = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid(&at, "not a valid header name"))?;
        if h == AUTHORIZATION && token {
            return Err(invalid(
                &at,
                "give either `token` or an Authorization header, not both",
            ));
        }
        if h.as_str().eq_ignore_ascii_case(SIGNATURE_HEADER) {
            return Err(invalid(
                &at,
                "this header is set by canaryd when `secret` is given",
            ));
        }
        let value = match value {
            SecretSource::Inline(v) => v,
            source => {
                secret_headers.push((h, source.clone()));
                continue;
            }
        };
        let t = Template::parse(value).map_err(|e| invalid(&at, e.to_string()))?;
        HeaderValue::from_str(&t.render(&probe_values(), Escape::Raw)).map_err(|_| {
            invalid(
                &at,
                "not a valid header value (line breaks or control characters)",
            )
        })?;
        headers.push((h, t));
    }
    let content_type = headers
        .iter()
        .find(|(h, _)| *h == CONTENT_TYPE)
        .map(|(_, t)| t.to_string().to_ascii_lowercase());
    let json_body = content_type.as_deref().is_none_or(|c| c.contains("json"));
    let body = match &r.body {
        None => None,
        Some(b) => {
            let t =
                Template::parse(b).map_err(|e| invalid(format!("{field}.body"), e.to_string()))?;
            if json_body {
                let probe = t.render(&probe_values(), Escape::Json);
                serde_json::from_str::<serde_json::Value>(&probe).map_err(|e| {
                    invalid(
                        format!("{field}.body"),
                        format!("not valid JSON once placeholders are filled in ({e}); for another format set a Content-Type header"),
                    )
                })?;
            }
            Some(t)
        }
    };
    Ok(RequestTemplate {
        method,
        url,
        headers,
        secret_headers,
        loaded: Vec::new(),
        body,
        json_body,
    })
}

impl Requests {
    pub(crate) fn compile(c: &WebhookConfig) -> Result<Requests, ConfigError> {
        check_timeout("webhook.timeout", c.timeout)?;
        if c.retries > MAX_RETRIES {
            return Err(invalid(
                "webhook.retries",
                format!("{} is too many; at most {MAX_RETRIES} (the driver retries the action later anyway)", c.retries),
            ));
        }
        let token = c.token.is_some();
        let opt = |field: &str, r: &Option<RequestConfig>| {
            r.as_ref()
                .map(|r| compile_request(field, r, token))
                .transpose()
        };
        Ok(Requests {
            set_weight: compile_request("webhook.set_weight", &c.set_weight, token)?,
            rollback: opt("webhook.rollback", &c.rollback)?,
            promote: opt("webhook.promote", &c.promote)?,
        })
    }

    /// Loads every `{env:}` / `{file:}` header value; `load` names the
    /// field in errors and registers the value with the redactor.
    pub(crate) fn load_secrets(
        &mut self,
        mut load: impl FnMut(&SecretSource, &str) -> Result<Secret, ConfigError>,
    ) -> Result<(), ConfigError> {
        let all = [
            ("set_weight", Some(&mut self.set_weight)),
            ("rollback", self.rollback.as_mut()),
            ("promote", self.promote.as_mut()),
        ];
        for (field, t) in all {
            let Some(t) = t else { continue };
            t.loaded = t
                .secret_headers
                .iter()
                .map(|(h, src)| {
                    Ok((
                        h.clone(),
                        load(src, &format!("webhook.{field}.headers.{h}"))?,
                    ))
                })
                .collect::<Result<_, ConfigError>>()?;
        }
        Ok(())
    }

    /// Inline header values under credential-looking names, with where they are.
    pub(crate) fn inline_secret_headers(&self) -> Vec<(String, String)> {
        let all = [
            ("set_weight", Some(&self.set_weight)),
            ("rollback", self.rollback.as_ref()),
            ("promote", self.promote.as_ref()),
        ];
        let mut out = Vec::new();
        for (field, t) in all {
            let Some(t) = t else { continue };
            for (h, v) in &t.headers {
                if canaryd_secrets::redact::is_secret_name(h.as_str()) {
                    out.push((format!("webhook.{field}.headers.{h}"), v.to_string()));
                }
            }
        }
        out
    }

    /// `METHOD URL BODY` of `action`, without credentials, for shadow runs.
    pub(crate) fn describe(&self, key: &RolloutKey, action: Action) -> String {
        let t = self.for_action(action);
        let values = Values::new(key, action.weight());
        let url =
            canaryd_secrets::without_credentials_or_query(&t.url.render(&values, Escape::Url));
        match &t.body {
            Some(b) => {
                let esc = if t.json_body {
                    Escape::Json
                } else {
                    Escape::Raw
                };
                format!("{} {url} {}", t.method, b.render(&values, esc))
            }
            None => format!("{} {url}", t.method),
        }
    }

    pub(super) fn for_action(&self, action: Action) -> &RequestTemplate {
        match action {
            Action::SetWeight(_) => &self.set_weight,
            Action::RollBack => self.rollback.as_ref().unwrap_or(&self.set_weight),
            Action::Promote => self.promote.as_ref().unwrap_or(&self.set_weight),
        }
    }
}
