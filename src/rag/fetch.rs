//! Fetching web pages without becoming a way into the server's own network.
//!
//! A user names a URL and the server fetches it, so a URL must not reach what
//! only the server can reach: loopback, private networks, link-local addresses
//! (cloud metadata at 169.254.169.254) and the like. The address is checked
//! wherever it becomes known: an IP-literal host on the first URL and on every
//! redirect (a redirect policy), a host name after every DNS lookup (a resolver
//! that drops refused addresses). A name that resolved to a public address when
//! the request was checked and resolves to a private one when the page is
//! fetched (DNS rebinding) therefore still cannot connect inside. No proxy is
//! used: a proxy would resolve names itself, past these checks.
//!
//! Every fetch has one deadline (connecting, redirects, the whole body), and a
//! body is read as a stream up to a cap.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use url::{Host, Url};

use crate::config::IngestConfig;

/// Sent with every fetch.
pub const USER_AGENT: &str = concat!("Docent/", env!("CARGO_PKG_VERSION"));
/// Redirects followed before a fetch fails.
pub const MAX_REDIRECTS: usize = 5;
/// Connecting may take at most this long (or the whole fetch timeout, when shorter).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const ACCEPT: &str = "text/html,application/xhtml+xml,text/markdown;q=0.9,text/plain;q=0.9,\
                      application/xml;q=0.8,text/xml;q=0.8,*/*;q=0.1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("{0} is not an http:// or https:// address.")]
    Scheme(String),
    #[error(
        "{host} is {reason}; Docent does not fetch from loopback, private or link-local \
         networks (ingest.allow_private_urls)."
    )]
    NotAllowed { host: String, reason: &'static str },
    #[error("The host name {0} could not be resolved.")]
    Unresolved(String),
    #[error("Fetching took longer than {0} s (ingest.fetch_timeout_seconds).")]
    Timeout(u32),
    #[error("The server answered HTTP {0}.")]
    Status(u16),
    #[error("The response is larger than {0} MiB (ingest.max_file_mb).")]
    TooLarge(u32),
    #[error("The address redirects more than {MAX_REDIRECTS} times.")]
    TooManyRedirects,
    #[error("The page could not be fetched: {0}.")]
    Failed(String),
}

/// Why fetching from `ip` is refused, as "a loopback address"; `None` when it is allowed.
pub fn refused(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let reason = if a == 0 {
        "an unspecified address"
    } else if ip.is_loopback() {
        "a loopback address"
    } else if ip.is_private() {
        "a private network address"
    } else if ip.is_link_local() {
        "a link-local address"
    } else if a == 100 && (b & 0xc0) == 64 {
        "a shared (carrier-grade NAT) address"
    } else if ip.is_broadcast() {
        "the broadcast address"
    } else if ip.is_multicast() {
        "a multicast address"
    } else if ip.is_documentation() {
        "a documentation address"
    } else if a == 192 && b == 0 && c == 0 {
        "an IETF protocol address"
    } else if a == 198 && (b & 0xfe) == 18 {
        "a benchmarking address"
    } else if a >= 240 {
        "a reserved address"
    } else {
        return None;
    };
    Some(reason)
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some("an unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    // Addresses that carry an IPv4 address are judged by it.
    if let Some(v4) = embedded_v4(ip) {
        return refused_v4(v4);
    }
    let reason = if s[0] == 0 {
        "a reserved address"
    } else if (s[0] & 0xfe00) == 0xfc00 {
        "a private network (unique local) address"
    } else if (s[0] & 0xffc0) == 0xfe80 {
        "a link-local address"
    } else if (s[0] & 0xffc0) == 0xfec0 {
        "a site-local address"
    } else if (s[0] & 0xff00) == 0xff00 {
        "a multicast address"
    } else if (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] == 0x3fff && s[1] < 0x1000) {
        "a documentation address"
    } else if s[0] == 0x0100 && s[1..4] == [0, 0, 0] {
        "a discard-only address"
    } else if s[0] == 0x2001 && s[1] < 0x0200 {
        // 2001::/23, IETF protocol assignments, Teredo among them.
        "an IETF protocol address"
    } else if s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 1 {
        // 64:ff9b:1::/48, NAT64 for local use.
        "a private network address"
    } else {
        return None;
    };
    Some(reason)
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:AABB:CCDD::`) address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    let mapped_or_compatible = s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0);
    let nat64 = s[0] == 0x0064 && s[1] == 0xff9b && s[2..6] == [0; 4];
    if mapped_or_compatible || nat64 {
        Some(v4(s[6], s[7]))
    } else if s[0] == 0x2002 {
        Some(v4(s[1], s[2]))
    } else {
        None
    }
}

/// Which destinations fetching may reach.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    /// Allow every address (`ingest.allow_private_urls`).
    pub allow_private: bool,
    /// Refused addresses allowed anyway when a URL names them literally (IP and
    /// port); host names never profit from this. For tests and embedding.
    pub exceptions: Vec<SocketAddr>,
}

impl AddressPolicy {
    pub fn from_config(config: &IngestConfig) -> Self {
        Self { allow_private: config.allow_private_urls, exceptions: Vec::new() }
    }

    fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), FetchError> {
        match refused(ip) {
            Some(reason) if !self.allow_private => {
                Err(FetchError::NotAllowed { host: host.to_owned(), reason })
            }
            _ => Ok(()),
        }
    }

    /// The scheme, and the address of an IP-literal host; host names are
    /// checked when they are resolved.
    pub fn check_url(&self, url: &Url) -> Result<(), FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::Scheme(url.as_str().chars().take(100).collect()));
        }
        let ip = match url.host() {
            Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
            Some(Host::Domain(_)) => return Ok(()),
            None => return Err(FetchError::Scheme(url.as_str().chars().take(100).collect())),
        };
        let port = url.port_or_known_default().unwrap_or(80);
        if self.exceptions.contains(&SocketAddr::new(ip, port)) {
            return Ok(());
        }
        self.check_ip(url.host_str().unwrap_or_default(), ip)
    }

    /// Resolves `host` and keeps the addresses this policy allows; an error
    /// when there are none.
    async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, FetchError> {
        let found: Vec<IpAddr> = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|_| FetchError::Unresolved(host.to_owned()))?
            .map(|addr| addr.ip())
            .collect();
        let mut refusal = None;
        let allowed: Vec<IpAddr> = found
            .into_iter()
            .filter(|ip| match self.check_ip(host, *ip) {
                Ok(()) => true,
                Err(err) => {
                    refusal.get_or_insert(err);
                    false
                }
            })
            .collect();
        match (allowed.is_empty(), refusal) {
            (false, _) => Ok(allowed),
            (true, Some(refusal)) => Err(refusal),
            (true, None) => Err(FetchError::Unresolved(host.to_owned())),
        }
    }
}

/// Resolves with tokio and hands reqwest only the addresses the policy allows.
struct CheckedResolver(Arc<AddressPolicy>);

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.0);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let allowed = policy.resolve(&host).await?;
            // Port 0: reqwest puts in the URL's port.
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// A fetched response body.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Where the body came from, after redirects.
    pub url: Url,
    /// The media type without parameters, in lower case (`text/html`); empty when not given.
    pub media_type: String,
    pub body: Vec<u8>,
}

/// An HTTP client that only reaches what its [`AddressPolicy`] allows.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
    timeout_seconds: u32,
    max_mb: u32,
}

impl Fetcher {
    pub fn new(config: &IngestConfig) -> Result<Self, reqwest::Error> {
        Self::with_policy(config, AddressPolicy::from_config(config))
    }

    pub fn with_policy(config: &IngestConfig, policy: AddressPolicy) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(policy);
        let timeout = Duration::from_secs(config.fetch_timeout_seconds.into());
        let on_redirect = Arc::clone(&policy);
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            // `previous` holds every URL requested so far, the first one included.
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(FetchError::TooManyRedirects);
            }
            match on_redirect.check_url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(err) => attempt.error(err),
            }
        });
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .no_proxy()
            .dns_resolver(CheckedResolver(Arc::clone(&policy)))
            .redirect(redirects)
            .referer(false)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .build()?;
        Ok(Self { client, policy, timeout_seconds: config.fetch_timeout_seconds, max_mb: config.max_file_mb })
    }

    /// How long one fetch may take.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds.into())
    }

    /// Checks a URL before anything is stored: its scheme, an IP-literal host,
    /// and a host name by resolving it now (refused when every address is).
    pub async fn check_destination(&self, url: &Url) -> Result<(), FetchError> {
        self.policy.check_url(url)?;
        let Some(Host::Domain(name)) = url.host() else { return Ok(()) };
        tokio::time::timeout(self.timeout(), self.policy.resolve(name))
            .await
            .unwrap_or(Err(FetchError::Timeout(self.timeout_seconds)))
            .map(drop)
    }

    /// GETs `url`, following allowed redirects, and reads the body up to
    /// `ingest.max_file_mb`. Anything but a 2xx answer is an error.
    pub async fn get(&self, url: &Url) -> Result<Fetched, FetchError> {
        tokio::time::timeout(self.timeout(), self.get_within(url))
            .await
            .unwrap_or(Err(FetchError::Timeout(self.timeout_seconds)))
    }

    async fn get_within(&self, url: &Url) -> Result<Fetched, FetchError> {
        self.policy.check_url(url)?;
        let mut response = self
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, ACCEPT)
            .send()
            .await
            .map_err(|err| self.error(&err))?;
        let status = response.status();
        if status.is_redirection() {
            // A redirect the client did not follow: to another scheme (`file:`, say).
            let location = response.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok());
            if let Some(next) = location.and_then(|l| response.url().join(l).ok()) {
                self.policy.check_url(&next)?;
            }
        }
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        let max = usize::try_from(self.max_mb).unwrap_or(1024) * 1024 * 1024;
        if response.content_length().is_some_and(|len| len > max as u64) {
            return Err(FetchError::TooLarge(self.max_mb));
        }
        let media_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let final_url = response.url().clone();
        let mut body = Vec::new();
        while let Some(piece) = response.chunk().await.map_err(|err| self.error(&err))? {
            if body.len() + piece.len() > max {
                return Err(FetchError::TooLarge(self.max_mb));
            }
            body.extend_from_slice(&piece);
        }
        Ok(Fetched { url: final_url, media_type, body })
    }

    /// Our own error when one of our checks stopped reqwest, else a readable summary.
    fn error(&self, err: &reqwest::Error) -> FetchError {
        let mut cause: Option<&(dyn StdError + 'static)> = Some(err);
        let mut innermost: &(dyn StdError + 'static) = err;
        while let Some(current) = cause {
            if let Some(ours) = current.downcast_ref::<FetchError>() {
                return ours.clone();
            }
            innermost = current;
            cause = current.source();
        }
        if err.is_timeout() {
            return FetchError::Timeout(self.timeout_seconds);
        }
        let host = err.url().and_then(Url::host_str).unwrap_or("the server");
        let detail = if err.is_connect() {
            format!("cannot connect to {host} ({innermost})")
        } else {
            innermost.to_string()
        };
        FetchError::Failed(detail.trim_end_matches('.').to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_refused() {
        for (address, reason) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("10.0.0.1", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("255.255.255.255", "broadcast"),
            ("100.64.0.1", "carrier-grade"),
            ("100.127.255.254", "carrier-grade"),
            ("224.0.0.251", "multicast"),
            ("192.0.2.10", "documentation"),
            ("198.51.100.1", "documentation"),
            ("203.0.113.7", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("192.0.0.8", "IETF"),
            ("240.0.0.1", "reserved"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fc00::1", "unique local"),
            ("fd12:3456::1", "unique local"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:10.1.2.3", "private"),
            ("::127.0.0.1", "loopback"),
            ("64:ff9b::10.0.0.1", "private"),
            ("64:ff9b:1::5", "private"),
            ("2002:c0a8:0101::1", "private"),
            ("2001::1", "IETF"),
            ("100::1", "discard"),
        ] {
            let why = refused(ip(address)).unwrap_or_else(|| panic!("{address} was allowed"));
            assert!(why.contains(reason), "{address}: {why}");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for address in [
            "93.184.215.14",
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "172.15.255.255",
            "100.63.255.255",
            "100.128.0.1",
            "192.169.0.1",
            "169.255.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:82a::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:0808:0808::1",
        ] {
            assert_eq!(refused(ip(address)), None, "{address}");
        }
    }

    #[test]
    fn urls_are_checked_by_scheme_and_literal_host() {
        let strict = AddressPolicy::default();
        let check = |policy: &AddressPolicy, url: &str| policy.check_url(&Url::parse(url).unwrap());
        for url in [
            "http://127.0.0.1/",
            "http://[::1]:8080/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
            "http://[::ffff:7f00:1]/",
            // The URL parser reads these as 127.0.0.1 and 0.0.0.0.
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0/",
        ] {
            assert!(matches!(check(&strict, url), Err(FetchError::NotAllowed { .. })), "{url}");
        }
        for url in ["ftp://example.com/", "file:///etc/passwd", "gopher://example.com/"] {
            assert!(matches!(check(&strict, url), Err(FetchError::Scheme(_))), "{url}");
        }
        assert_eq!(check(&strict, "https://example.com:8443/a"), Ok(()), "names wait for the resolver");
        assert_eq!(check(&strict, "http://8.8.8.8/"), Ok(()));

        let open = AddressPolicy { allow_private: true, exceptions: Vec::new() };
        assert_eq!(check(&open, "http://10.0.0.1/"), Ok(()));
        assert!(matches!(check(&open, "ftp://10.0.0.1/"), Err(FetchError::Scheme(_))));

        let one = AddressPolicy { allow_private: false, exceptions: vec!["127.0.0.1:4000".parse().unwrap()] };
        assert_eq!(check(&one, "http://127.0.0.1:4000/page"), Ok(()));
        assert!(check(&one, "http://127.0.0.1:4001/").is_err(), "another port");
        assert!(check(&one, "http://127.0.0.1/").is_err(), "the default port");
    }

    #[tokio::test]
    async fn names_that_resolve_only_to_refused_addresses_are_refused() {
        // `localhost` resolves from /etc/hosts, without network traffic.
        let fetcher = Fetcher::new(&IngestConfig::default()).unwrap();
        let url = Url::parse("http://localhost:9/").unwrap();
        let err = fetcher.check_destination(&url).await.unwrap_err();
        assert!(matches!(&err, FetchError::NotAllowed { host, .. } if host == "localhost"), "{err}");
        assert!(err.to_string().contains("loopback"), "{err}");

        let open =
            Fetcher::new(&IngestConfig { allow_private_urls: true, ..IngestConfig::default() }).unwrap();
        assert_eq!(open.check_destination(&url).await, Ok(()));
    }
}
