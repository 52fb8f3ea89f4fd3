//! Web pages and sitemaps as documents.
//!
//! A page added by URL is stored as a document of kind `webpage` whose content
//! is its URL; a worker fetches it ([`fetch_page`]) when it processes the
//! document, with every check of [`super::fetch`]. A sitemap is read while the
//! request waits ([`read_sitemap`]) and becomes one such document per page of
//! its own site, so even hundreds of pages are answered at once and fetched
//! in the background.

use std::collections::HashSet;

use url::Url;

use super::extract::Kind;
use super::fetch::{FetchError, Fetched, Fetcher};

/// Sitemaps of a sitemap index read at most (one level: an index inside an index is ignored).
pub const MAX_NESTED_SITEMAPS: usize = 20;
/// Reading a sitemap index and its sitemaps takes at most this many fetch timeouts in all.
const SITEMAP_BUDGET: u32 = 3;
/// Longest page address kept from a sitemap, as for any URL the API accepts.
const MAX_URL_LEN: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(
        "The address serves {0}, which Docent does not read as a page; it reads HTML, plain text \
         and Markdown."
    )]
    Unsupported(String),
    #[error(
        "The address serves a sitemap, not a page; sitemaps are read when their address ends in \
         .xml or names a sitemap."
    )]
    IsSitemap,
    #[error("The sitemap could not be read: {0}.")]
    BadSitemap(String),
    #[error("The sitemap lists no pages of its own site ({0}).")]
    NoPages(String),
}

/// The address a page is known by: the URL without its `#fragment` (the URL
/// parser already lower-cases the scheme and host and drops a default port).
pub fn normalise(url: &Url) -> Url {
    let mut url = url.clone();
    url.set_fragment(None);
    url
}

/// The title of a page until it has been fetched, and when it has none: its address.
pub fn title_for_url(url: &str) -> String {
    url.chars().take(200).collect()
}

/// A page's own title as a document title: one line, at most 200 characters.
pub fn page_title(title: &str) -> Option<String> {
    let visible: String = title.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let line: String = visible.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(200).collect();
    (!line.is_empty()).then_some(line)
}

/// True for addresses read as sitemaps while the request waits: the last path
/// segment ends in `.xml` or names a sitemap (`sitemap.xml`, `sitemap_index.xml`,
/// `wp-sitemap.xml`, `/sitemap`).
pub fn looks_like_sitemap(url: &Url) -> bool {
    let last = url.path_segments().and_then(|mut s| s.next_back()).unwrap_or_default();
    let last = last.to_ascii_lowercase();
    last.ends_with(".xml") || last.contains("sitemap")
}

/// A fetched page, ready to be read.
#[derive(Debug, Clone)]
pub struct Page {
    /// Its address after redirects.
    pub url: Url,
    pub kind: Kind,
    pub body: Vec<u8>,
}

/// Fetches the page a `webpage` document names.
pub async fn fetch_page(fetcher: &Fetcher, address: &str) -> Result<Page, WebError> {
    let url = Url::parse(address).map_err(|_| FetchError::Scheme(address.chars().take(100).collect()))?;
    let fetched = fetcher.get(&url).await?;
    let kind = match page_kind(&fetched) {
        Some(kind) => kind,
        None if sitemap_root(&fetched.body).is_some() => return Err(WebError::IsSitemap),
        None => return Err(WebError::Unsupported(describe(&fetched.media_type))),
    };
    Ok(Page { url: normalise(&fetched.url), kind, body: fetched.body })
}

/// How a response is read as a page, from its media type (and, when it gives
/// none, its address and first bytes); `None` when it is no page Docent reads.
fn page_kind(fetched: &Fetched) -> Option<Kind> {
    let path = fetched.url.path().to_ascii_lowercase();
    let markdown_path = path.ends_with(".md") || path.ends_with(".markdown");
    match fetched.media_type.as_str() {
        "text/html" | "application/xhtml+xml" => Some(Kind::Html),
        "text/markdown" | "text/x-markdown" => Some(Kind::Markdown),
        // Many servers send Markdown files as plain text.
        "text/plain" if markdown_path => Some(Kind::Markdown),
        "text/plain" => Some(Kind::Text),
        "" if markdown_path => Some(Kind::Markdown),
        "" if looks_like_xml(&fetched.body) => None,
        "" if trimmed(&fetched.body).starts_with(b"<") => Some(Kind::Html),
        "" => Some(Kind::Text),
        _ => None,
    }
}

fn describe(media_type: &str) -> String {
    if media_type.is_empty() { "content without a type".to_owned() } else { media_type.to_owned() }
}

fn trimmed(body: &[u8]) -> &[u8] {
    let body = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
    let start = body.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(body.len());
    &body[start..]
}

fn looks_like_xml(body: &[u8]) -> bool {
    let body = trimmed(body);
    body.starts_with(b"<?xml") || body.starts_with(b"<urlset") || body.starts_with(b"<sitemapindex")
}

/// What a sitemap lists.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sitemap {
    /// `<urlset>`: pages.
    Pages(Vec<String>),
    /// `<sitemapindex>`: more sitemaps.
    Index(Vec<String>),
}

/// Reads `body` as a sitemap: `None` when it is not one (not XML, or XML of
/// another kind), an error when it looks like one but is damaged.
fn parse_sitemap(body: &[u8]) -> Result<Option<Sitemap>, WebError> {
    if !looks_like_xml(body) {
        return Ok(None);
    }
    let text =
        std::str::from_utf8(trimmed(body)).map_err(|_| WebError::BadSitemap("it is not UTF-8".into()))?;
    // roxmltree refuses DTDs, so entity tricks ("billion laughs") cannot expand.
    let document = roxmltree::Document::parse(text)
        .map_err(|err| WebError::BadSitemap(format!("not valid XML ({err})")))?;
    let root = document.root_element();
    let (entry, wrap): (&str, fn(Vec<String>) -> Sitemap) = match root.tag_name().name() {
        "urlset" => ("url", Sitemap::Pages),
        "sitemapindex" => ("sitemap", Sitemap::Index),
        _ => return Ok(None),
    };
    let locations = root
        .children()
        .filter(|n| n.tag_name().name() == entry)
        .filter_map(|n| n.children().find(|c| c.tag_name().name() == "loc"))
        .filter_map(|loc| loc.text())
        .map(|loc| loc.trim().to_owned())
        .filter(|loc| !loc.is_empty())
        .collect();
    Ok(Some(wrap(locations)))
}

fn sitemap_root(body: &[u8]) -> Option<Sitemap> {
    parse_sitemap(body).ok().flatten()
}

/// What a sitemap-looking address turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A sitemap: the pages of its site it lists, at most `max_pages`, each once.
    Sitemap(Vec<Url>),
    /// A page after all (an HTML site map, say): add it as one.
    Page,
}

/// Fetches `url` and, when it is a sitemap, lists its pages: those of the
/// sitemap's own site (scheme, host and port, after redirects), in order, each
/// once, at most `max_pages`. A sitemap index's sitemaps (of the same site) are
/// read one level deep: at most [`MAX_NESTED_SITEMAPS`], until `max_pages` are
/// found, within a few fetch timeouts in all; one that cannot be read is skipped.
pub async fn read_sitemap(fetcher: &Fetcher, url: &Url, max_pages: usize) -> Result<Probe, WebError> {
    let fetched = fetcher.get(url).await?;
    let site = fetched.url.clone();
    let mut pages = Pages { site: &site, seen: HashSet::new(), list: Vec::new(), max: max_pages };
    match parse_sitemap(&fetched.body)? {
        Some(Sitemap::Pages(locations)) => pages.extend(&locations),
        Some(Sitemap::Index(sitemaps)) => {
            let budget = fetcher.timeout() * SITEMAP_BUDGET;
            let deadline = tokio::time::Instant::now() + budget;
            let nested: Vec<Url> = same_site(&site, &sitemaps).take(MAX_NESTED_SITEMAPS).collect();
            for sitemap in nested {
                if pages.full() {
                    break;
                }
                match tokio::time::timeout_at(deadline, nested_pages(fetcher, &sitemap)).await {
                    Ok(Ok(locations)) => pages.extend(&locations),
                    Ok(Err(err)) => tracing::info!(%sitemap, error = %err, "skipped a sitemap of an index"),
                    Err(_) => {
                        let budget_s = budget.as_secs();
                        tracing::info!(%sitemap, budget_s, "sitemap index read out of time");
                        break;
                    }
                }
            }
        }
        None if page_kind(&fetched).is_some() => return Ok(Probe::Page),
        None => return Err(WebError::Unsupported(describe(&fetched.media_type))),
    }
    if pages.list.is_empty() {
        return Err(WebError::NoPages(site.origin().ascii_serialization()));
    }
    Ok(Probe::Sitemap(pages.list))
}

/// The page addresses a sitemap inside an index lists.
async fn nested_pages(fetcher: &Fetcher, url: &Url) -> Result<Vec<String>, WebError> {
    let fetched = fetcher.get(url).await?;
    match parse_sitemap(&fetched.body)? {
        Some(Sitemap::Pages(locations)) => Ok(locations),
        Some(Sitemap::Index(_)) => {
            Err(WebError::BadSitemap("an index inside an index is not followed".into()))
        }
        None => Err(WebError::BadSitemap("it is not a sitemap".into())),
    }
}

/// The locations (absolute, or relative to `site`) on `site`'s own scheme, host and port.
fn same_site<'a>(site: &'a Url, locations: &'a [String]) -> impl Iterator<Item = Url> + 'a {
    locations
        .iter()
        .filter(|loc| loc.len() <= MAX_URL_LEN)
        .filter_map(|loc| site.join(loc).ok())
        .filter(|url| url.origin() == site.origin())
        .map(|url| normalise(&url))
}

/// The pages found so far, in order, without repeats, up to `max`.
struct Pages<'a> {
    site: &'a Url,
    seen: HashSet<Url>,
    list: Vec<Url>,
    max: usize,
}

impl Pages<'_> {
    fn full(&self) -> bool {
        self.list.len() >= self.max
    }

    fn extend(&mut self, locations: &[String]) {
        for url in same_site(self.site, locations) {
            if self.full() {
                return;
            }
            if self.seen.insert(url.clone()) {
                self.list.push(url);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetched(url: &str, media_type: &str, body: &str) -> Fetched {
        Fetched {
            url: Url::parse(url).unwrap(),
            media_type: media_type.into(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn pages_are_read_by_their_media_type() {
        let kind = |url, media, body| page_kind(&fetched(url, media, body));
        assert_eq!(kind("https://a.example/", "text/html", "<p>x"), Some(Kind::Html));
        assert_eq!(kind("https://a.example/", "application/xhtml+xml", "<html/>"), Some(Kind::Html));
        assert_eq!(kind("https://a.example/r", "text/markdown", "# x"), Some(Kind::Markdown));
        assert_eq!(kind("https://a.example/README.md", "text/plain", "# x"), Some(Kind::Markdown));
        assert_eq!(kind("https://a.example/notes", "text/plain", "x"), Some(Kind::Text));
        assert_eq!(kind("https://a.example/", "", "  <!doctype html><p>x"), Some(Kind::Html));
        assert_eq!(kind("https://a.example/", "", "plain words"), Some(Kind::Text));
        assert_eq!(kind("https://a.example/x.png", "image/png", "\u{89}PNG"), None);
        assert_eq!(kind("https://a.example/doc.pdf", "application/pdf", "%PDF"), None);
        assert_eq!(kind("https://a.example/feed", "application/xml", "<?xml version='1.0'?><rss/>"), None);
    }

    #[test]
    fn sitemaps_and_indexes_are_recognised() {
        let urlset = r#"<?xml version="1.0" encoding="UTF-8"?>
            <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
              <url><loc> https://a.example/one </loc><lastmod>2026-01-01</lastmod></url>
              <url><loc>https://a.example/two</loc></url><url><priority>1</priority></url>
            </urlset>"#;
        assert_eq!(
            parse_sitemap(urlset.as_bytes()),
            Ok(Some(Sitemap::Pages(vec!["https://a.example/one".into(), "https://a.example/two".into()])))
        );
        let index = r#"<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
            <sitemap><loc>https://a.example/s1.xml</loc></sitemap></sitemapindex>"#;
        assert_eq!(
            parse_sitemap(index.as_bytes()),
            Ok(Some(Sitemap::Index(vec!["https://a.example/s1.xml".into()])))
        );
        assert_eq!(parse_sitemap(b"<html><body>Site map</body></html>"), Ok(None));
        assert_eq!(parse_sitemap(b"<?xml version='1.0'?><rss/>"), Ok(None));
        assert!(matches!(parse_sitemap(b"<urlset><url><loc>x</url>"), Err(WebError::BadSitemap(_))));
        let entities = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><urlset>&lol;</urlset>"#;
        assert!(matches!(parse_sitemap(entities.as_bytes()), Err(WebError::BadSitemap(_))), "no DTDs");
    }

    #[test]
    fn only_the_sitemaps_own_site_counts_once_each_up_to_the_limit() {
        let site = Url::parse("https://a.example/sitemap.xml").unwrap();
        let locations: Vec<String> = [
            "https://a.example/one",
            "https://A.EXAMPLE:443/two#part",
            "https://a.example/one#again",
            "/three",
            "http://a.example/four",
            "https://a.example:8443/five",
            "https://b.example/six",
            "https://sub.a.example/seven",
            "javascript:alert(1)",
            "https://a.example/eight",
        ]
        .map(String::from)
        .to_vec();
        let mut pages = Pages { site: &site, seen: HashSet::new(), list: Vec::new(), max: 4 };
        pages.extend(&locations);
        let got: Vec<&str> = pages.list.iter().map(Url::as_str).collect();
        assert_eq!(
            got,
            [
                "https://a.example/one",
                "https://a.example/two",
                "https://a.example/three",
                "https://a.example/eight"
            ]
        );
        pages.max = 3;
        assert!(pages.full());
    }

    #[test]
    fn addresses_are_normalised_and_sitemaps_spotted() {
        let url = Url::parse("HTTPS://Docs.Example:443/a/b?q=1#frag").unwrap();
        assert_eq!(normalise(&url).as_str(), "https://docs.example/a/b?q=1");
        let sitemap = |u: &str| looks_like_sitemap(&Url::parse(u).unwrap());
        assert!(sitemap("https://a.example/sitemap.xml"));
        assert!(sitemap("https://a.example/blog/post-sitemap.XML"));
        assert!(sitemap("https://a.example/sitemap"));
        assert!(!sitemap("https://a.example/docs/install"));
        assert!(!sitemap("https://a.example/sitemap.xml/page"));
        assert_eq!(page_title("  Reset\n  your\tpassword \u{7}"), Some("Reset your password".into()));
        assert_eq!(page_title(" \n "), None);
        assert_eq!(title_for_url(&"x".repeat(300)).len(), 200);
    }
}
