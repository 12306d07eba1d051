//! Why a query to a metrics backend failed, in terms an operator can act on.
//!
//! Every variant that comes from talking to a backend names its URL (never
//! with credentials) and says what to check. Body excerpts are bounded and
//! pass the redactor before they are stored, so an error can be logged,
//! audited or sent to Slack as it is.
//!
//! [`QueryError::is_transient`] is the single place that decides what the
//! clients retry: only failures that a second attempt can plausibly fix.

use std::time::Duration;

/// Longest body excerpt kept in an error, in characters.
pub const EXCERPT_CHARS: usize = 200;

/// Why a query to a metrics backend failed; the message says what to check.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// The configuration cannot work (bad URL, secret not found): nothing was sent.
    #[error("bad metrics source configuration: {0}")]
    BadConfig(String),

    /// No connection could be made; nothing reached the backend.
    #[error(
        "cannot reach {url}: {detail}. Check the URL, DNS, and that the server is up \
         and reachable from canaryd"
    )]
    Unreachable {
        /// The backend's URL, without credentials.
        url: String,
        /// What the connection attempt said (DNS, refused, TLS, ...).
        detail: String,
    },

    /// No answer within the per-attempt timeout.
    #[error(
        "{url} did not answer within {} (per attempt). Raise `timeout`, or make the \
         query cheaper (shorter range, fewer series)",
        humantime::format_duration(*after)
    )]
    Timeout {
        /// The backend's URL, without credentials.
        url: String,
        /// The per-attempt timeout that passed.
        after: Duration,
    },

    /// The backend refused the credentials (HTTP 401/403).
    #[error("{url} refused the credentials (HTTP {status}): {hint}")]
    Unauthorized {
        /// The backend's URL, without credentials.
        url: String,
        /// HTTP status (401 or 403).
        status: u16,
        /// Which credential to check, and how.
        hint: String,
    },

    /// The backend is rate limiting canaryd (HTTP 429).
    #[error(
        "{url} is rate limiting canaryd (HTTP 429){}. Lower the query rate (longer \
         windows, fewer metrics) or raise the quota",
        retry_after.map(|d| format!(", asked to wait {}", humantime::format_duration(d))).unwrap_or_default()
    )]
    RateLimited {
        /// The backend's URL, without credentials.
        url: String,
        /// How long the backend asked to wait (`Retry-After`), if it said.
        retry_after: Option<Duration>,
    },

    /// Any other non-success HTTP status.
    #[error("{url} answered HTTP {status}: {excerpt}. {}", status_advice(*status))]
    Status {
        /// The backend's URL, without credentials.
        url: String,
        /// HTTP status answered.
        status: u16,
        /// Start of the body, bounded and redacted.
        excerpt: String,
    },

    /// The backend understood the request and rejected the query or failed
    /// running it (Prometheus `errorType`/`error`, Datadog `errors`).
    #[error(
        "{url} rejected the query ({error_type}, HTTP {status}): {message}. {}",
        api_advice(error_type)
    )]
    Api {
        /// The backend's URL, without credentials.
        url: String,
        /// HTTP status answered.
        status: u16,
        /// The backend's error class (Prometheus `errorType`, e.g. `bad_data`).
        error_type: String,
        /// The backend's own explanation.
        message: String,
    },

    /// Not JSON at all: typically an HTML error page from a proxy or load
    /// balancer in front, or a login page (Grafana without a valid token).
    #[error(
        "{url} answered HTTP {status} with {content_type} instead of JSON, so something \
         in front of the API answered (a proxy error page or a login page?). Check the \
         URL (for Grafana, use the data-source proxy URL `/api/datasources/proxy/uid/<uid>`) \
         and the credentials. Body starts: {excerpt}"
    )]
    NotJson {
        /// The backend's URL, without credentials.
        url: String,
        /// HTTP status answered.
        status: u16,
        /// The `Content-Type` answered instead of JSON.
        content_type: String,
        /// Start of the body, bounded and redacted.
        excerpt: String,
    },

    /// JSON, but not the shape the API documents.
    #[error(
        "{url} answered with JSON canaryd cannot read: {detail}. Is the URL the API's \
         base URL (not a UI page or another service)?"
    )]
    Malformed {
        /// The backend's URL, without credentials.
        url: String,
        /// What in the JSON did not fit the documented shape.
        detail: String,
    },
}

impl QueryError {
    /// Whether another attempt may succeed: connection trouble, timeouts,
    /// gateway errors, rate limiting, and the backend's own "timeout" or
    /// "unavailable" errors. A rejected query or refused credentials fail the
    /// same way every time, and retrying them only adds load.
    pub fn is_transient(&self) -> bool {
        match self {
            QueryError::Unreachable { .. }
            | QueryError::Timeout { .. }
            | QueryError::RateLimited { .. } => true,
            QueryError::Status { status, .. } | QueryError::NotJson { status, .. } => {
                matches!(status, 502..=504)
            }
            QueryError::Api {
                status, error_type, ..
            } => matches!(error_type.as_str(), "timeout" | "unavailable") || *status == 503,
            QueryError::BadConfig(_)
            | QueryError::Unauthorized { .. }
            | QueryError::Malformed { .. } => false,
        }
    }

    /// How long the backend asked us to wait before the next attempt.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            QueryError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The same error, naming `url` (parsers do not know where a body came from).
    pub fn at(mut self, at: &str) -> QueryError {
        match &mut self {
            QueryError::BadConfig(_) => {}
            QueryError::Unreachable { url, .. }
            | QueryError::Timeout { url, .. }
            | QueryError::Unauthorized { url, .. }
            | QueryError::RateLimited { url, .. }
            | QueryError::Status { url, .. }
            | QueryError::Api { url, .. }
            | QueryError::NotJson { url, .. }
            | QueryError::Malformed { url, .. } => *url = at.to_string(),
        }
        self
    }

    /// A short name of the kind of failure, for logs and metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            QueryError::BadConfig(_) => "bad_config",
            QueryError::Unreachable { .. } => "unreachable",
            QueryError::Timeout { .. } => "timeout",
            QueryError::Unauthorized { .. } => "unauthorized",
            QueryError::RateLimited { .. } => "rate_limited",
            QueryError::Status { .. } => "status",
            QueryError::Api { .. } => "api",
            QueryError::NotJson { .. } => "not_json",
            QueryError::Malformed { .. } => "malformed",
        }
    }
}

/// Lets a source hand a failed query to the driver, which turns it into an
/// *unreliable* window (the rollout pauses) rather than a verdict.
impl From<QueryError> for canaryd_ports::SourceError {
    fn from(e: QueryError) -> Self {
        let kind = canaryd_ports::ErrorKind::from_transient(e.is_transient());
        canaryd_ports::SourceError::new(kind, e.to_string())
    }
}

fn status_advice(status: u16) -> &'static str {
    match status {
        404 => "Check the base URL: canaryd appends `/api/v1/query` to it",
        405 => {
            "Something in front of the API refuses this method; query the API directly \
                or through Grafana's data-source proxy"
        }
        400..=499 => "Check the base URL and the query",
        _ => "The server or a proxy in front of it failed; check its health and logs",
    }
}

fn api_advice(error_type: &str) -> &'static str {
    match error_type {
        "bad_data" => "Fix the query template (syntax, label names, parameters)",
        "execution" => "The query is valid but failed to run; check it in the backend's UI",
        "timeout" | "canceled" => "Make the query cheaper or raise the server's query timeout",
        "unavailable" => "The server is overloaded or starting; it is retried",
        _ => "Check the query in the backend's own UI",
    }
}

/// The first [`EXCERPT_CHARS`] characters of a body, on one line, after
/// `redact` has masked secrets in the whole body (masking after cutting could
/// leave half a secret behind).
pub(crate) fn excerpt(body: &[u8], redact: &dyn Fn(&str) -> String) -> String {
    let text = String::from_utf8_lossy(body);
    let clean = redact(&text);
    let one_line: String = clean
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(EXCERPT_CHARS + 1)
        .collect();
    if one_line.chars().count() > EXCERPT_CHARS {
        let cut: String = one_line.chars().take(EXCERPT_CHARS).collect();
        format!("{cut}…")
    } else if one_line.is_empty() {
        "(empty body)".to_string()
    } else {
        one_line
    }
}
