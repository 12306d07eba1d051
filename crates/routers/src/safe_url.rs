//! URLs as they may appear in errors and logs: without `user:password@`
//! and without the query, where credentials of load balancer and
//! feature-flag APIs like to ride.

/// `https://u:p@lb.internal/api/w?token=x` → `https://lb.internal/api/w?…`.
/// Works on text that is not a valid URL too (it may be the reason for the error).
pub fn display(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let path = match path.find(['?', '#']) {
        Some(i) => format!("{}?…", &path[..i]),
        None => path.to_string(),
    };
    format!("{scheme}{host}{path}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn strips_credentials_and_query() {
        assert_eq!(
            super::display("https://admin:s3cret@lb.internal:8443/api/weights?token=abc#x"),
            "https://lb.internal:8443/api/weights?…"
        );
        assert_eq!(
            super::display("http://127.0.0.1:9/admin/weight"),
            "http://127.0.0.1:9/admin/weight"
        );
        assert_eq!(super::display("not a url@x?k=v"), "x?…");
    }
}
