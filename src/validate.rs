//! The validation rules that more than one layer applies: account names,
//! passwords, the origins of sites allowed to embed a bot, and text free of
//! stray control characters. Plain functions of their input, so that the
//! configuration, the services and the HTTP edge all check the same way.

use url::Url;

/// 1-64 characters: letters, digits, `.`, `_`, `@`, `-`.
pub fn username(username: &str) -> Result<(), &'static str> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-');
    if (1..=64).contains(&username.len()) && username.chars().all(ok_char) {
        Ok(())
    } else {
        Err("must be 1-64 characters: letters, digits, '.', '_', '@' or '-'")
    }
}

/// 8-1024 characters.
pub fn password(password: &str) -> Result<(), String> {
    match password.chars().count() {
        n if n < 8 => Err("must be at least 8 characters".to_owned()),
        n if n > 1024 => Err("must be at most 1024 characters".to_owned()),
        _ => Ok(()),
    }
}

/// Control characters other than `\n`, `\r` and `\t` (a NUL byte, for one,
/// cannot even be stored in PostgreSQL text).
pub fn has_stray_control(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

/// `scheme://host[:port]`, lower-cased, default port dropped, IDNs in ASCII;
/// `https://*.example.com` matches subdomains of example.com.
pub fn normalize_origin(raw: &str) -> Result<String, &'static str> {
    let raw = raw.trim();
    let raw = raw.strip_suffix('/').unwrap_or(raw);
    if raw == "*" {
        return Err("would allow every site; list the sites instead");
    }
    let Some((scheme, rest)) = raw.split_once("://") else {
        return Err("must be an origin such as https://example.com");
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err("must start with http:// or https://");
    }
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', '\\']) {
        return Err("must be scheme://host[:port], without a path, query or user");
    }
    let (wildcard, host_port) = match rest.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    if host_port.contains('*') {
        return Err("may use * only as the first label, as in https://*.example.com");
    }
    let url = Url::parse(&format!("{scheme}://{host_port}")).map_err(|_| "has an invalid host or port")?;
    let host = match url.host() {
        Some(url::Host::Domain(domain)) => domain.to_owned(),
        Some(url::Host::Ipv4(ip)) if !wildcard => ip.to_string(),
        Some(url::Host::Ipv6(ip)) if !wildcard => format!("[{ip}]"),
        Some(_) => return Err("may use a wildcard only before a domain name"),
        None => return Err("has no host"),
    };
    if wildcard && !host.contains('.') {
        return Err("wildcard must be followed by a domain such as example.com");
    }
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let star = if wildcard { "*." } else { "" };
    Ok(format!("{scheme}://{star}{host}{port}"))
}

/// Whether a browser's `Origin` header is one of `allowed` (normalised origins,
/// `scheme://*.domain[:port]` matching that domain's subdomains only). An origin
/// that is not a plain `http(s)://host[:port]` (`null`, a wildcard) is never allowed.
pub fn origin_allowed<'a>(origin: &str, allowed: impl IntoIterator<Item = &'a str>) -> bool {
    let Ok(origin) = normalize_origin(origin) else { return false };
    if origin.contains('*') {
        return false;
    }
    let (scheme, host_port) = origin.split_once("://").unwrap_or_default();
    allowed.into_iter().any(|pattern| {
        if pattern == origin {
            return true;
        }
        let Some((pattern_scheme, rest)) = pattern.split_once("://") else { return false };
        let Some(suffix) = rest.strip_prefix("*.") else { return false };
        // `host_port` ends with `.suffix` (which carries the same port, or none).
        pattern_scheme == scheme
            && host_port.len() > suffix.len() + 1
            && host_port.ends_with(suffix)
            && host_port.as_bytes()[host_port.len() - suffix.len() - 1] == b'.'
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_or_refused() {
        let ok = [
            ("https://Example.com/", "https://example.com"),
            ("https://example.com:443", "https://example.com"),
            ("http://localhost:3000", "http://localhost:3000"),
            ("https://*.Example.com", "https://*.example.com"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https://bücher.example", "https://xn--bcher-kva.example"),
        ];
        for (raw, want) in ok {
            assert_eq!(normalize_origin(raw).as_deref(), Ok(want), "{raw}");
        }
        let bad = [
            "*",
            "https://*",
            "https://*.com",
            "example.com",
            "ftp://example.com",
            "https://example.com/path",
            "https://example.com?x=1",
            "https://user@example.com",
            "https://a.*.example.com",
            "https://*.127.0.0.1",
            "javascript://alert(1)",
            "https://",
        ];
        for raw in bad {
            assert!(normalize_origin(raw).is_err(), "{raw} should be refused");
        }
    }

    #[test]
    fn origins_match_exactly_or_as_subdomains() {
        let allowed = ["https://shop.example", "https://*.docs.example", "http://localhost:3000"];
        let yes = [
            "https://shop.example",
            "https://SHOP.example:443",
            "https://a.docs.example",
            "https://a.b.docs.example",
            "http://localhost:3000",
        ];
        for origin in yes {
            assert!(origin_allowed(origin, allowed), "{origin} should be allowed");
        }
        let no = [
            "http://shop.example",
            "https://shop.example:8443",
            "https://docs.example",
            "https://evildocs.example",
            "https://a.docs.example:8443",
            "https://docs.example.evil",
            "http://localhost:3001",
            "null",
            "https://*.docs.example",
            "",
        ];
        for origin in no {
            assert!(!origin_allowed(origin, allowed), "{origin} should be refused");
        }
        assert!(!origin_allowed("https://shop.example", []), "nothing listed, nothing allowed");
    }
}
