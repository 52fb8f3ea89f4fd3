//! Files embedded in the binary: the widget and its demo page at
//! `/static/{name}`, the admin console at `/admin/`. Each is compressed once
//! (brotli and gzip), with a strong `ETag` per encoding, `Cache-Control` and
//! `Vary: Accept-Encoding`; `If-None-Match` answers 304. The demo page is the
//! one file made per server: the sample bot's widget token (if there is one)
//! goes into it.

use std::io::Write;
use std::sync::{Arc, LazyLock};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;
use crate::error::Code;

/// Where the demo page takes the sample bot's token.
const TOKEN_PLACEHOLDER: &str = "{{DOCENT_DEMO_TOKEN}}";
/// The demo page loads only what the server itself serves.
const DEMO_CSP: &str = "default-src 'self'; img-src 'self' https: data:; base-uri 'none'; \
                        form-action 'none'; frame-ancestors 'none'";
/// The console runs only its own scripts and styles and talks only to this
/// server. Its pages may frame each other (the bot editor's live preview) and
/// nobody else may frame them. Bubble icons may be `https:` images.
const ADMIN_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; \
                         connect-src 'self'; frame-src 'self'; font-src 'self'; manifest-src 'self'; \
                         base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/static/{name}", get(serve))
        .route("/admin", get(|| async { Redirect::permanent("/admin/") }))
        .route("/admin/", get(|headers: HeaderMap| async move { serve_admin("index.html", &headers) }))
        .route(
            "/admin/{name}",
            get(|Path(name): Path<String>, headers: HeaderMap| async move { serve_admin(&name, &headers) }),
        )
}

/// One file in each encoding.
pub struct Asset {
    content_type: &'static str,
    cache_control: &'static str,
    /// Identity, gzip and brotli bodies with their ETags.
    bodies: [(Vec<u8>, HeaderValue); 3],
}

#[derive(Clone, Copy)]
enum Encoding {
    Identity = 0,
    Gzip = 1,
    Brotli = 2,
}

impl Asset {
    fn new(content: &[u8], content_type: &'static str, cache_control: &'static str) -> Self {
        let digest = hex::encode(&Sha256::digest(content)[..12]);
        let etag = |suffix: &str| {
            HeaderValue::from_str(&format!("\"{digest}{suffix}\"")).expect("hex is a valid header value")
        };
        Self {
            content_type,
            cache_control,
            bodies: [
                (content.to_vec(), etag("")),
                (gzip(content), etag("-gz")),
                (brotli(content), etag("-br")),
            ],
        }
    }

    fn respond(&self, request: &HeaderMap) -> Response {
        let encoding = preferred_encoding(request);
        let (body, etag) = &self.bodies[encoding as usize];
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(self.cache_control));
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        headers.insert(header::ETAG, etag.clone());
        match encoding {
            Encoding::Identity => {}
            Encoding::Gzip => {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            Encoding::Brotli => {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
            }
        }
        if not_modified(request, etag) {
            headers.remove(header::CONTENT_ENCODING);
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        (headers, body.clone()).into_response()
    }
}

fn gzip(content: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(content).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

fn brotli(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams { quality: 11, lgwin: 22, ..Default::default() };
    brotli::BrotliCompress(&mut &content[..], &mut out, &params).expect("writing to memory");
    out
}

/// Brotli, else gzip, else none: whichever the client accepts (`q=0` refuses).
fn preferred_encoding(request: &HeaderMap) -> Encoding {
    let accept = request.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("");
    let accepts = |name: &str| {
        accept.split(',').any(|part| {
            let mut pieces = part.split(';').map(str::trim);
            pieces.next().is_some_and(|coding| coding.eq_ignore_ascii_case(name))
                && pieces
                    .all(|p| p.strip_prefix("q=").is_none_or(|q| q.parse::<f32>().is_ok_and(|q| q > 0.0)))
        })
    };
    if accepts("br") {
        Encoding::Brotli
    } else if accepts("gzip") {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

/// Whether `If-None-Match` names `etag` (or is `*`).
fn not_modified(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let Some(tags) = request.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let etag = etag.to_str().unwrap_or_default();
    tags.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

/// The files every server serves alike.
static WIDGET: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../../assets/widget/widget.js"),
        "text/javascript; charset=utf-8",
        // Sites embed this address, unversioned: an hour, then revalidate by ETag.
        "public, max-age=3600",
    )
});
static DEMO_SCRIPT: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../../assets/widget/widget-demo.js"),
        "text/javascript; charset=utf-8",
        "no-cache",
    )
});
static DEMO_STYLE: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(include_bytes!("../../assets/widget/widget-demo.css"), "text/css; charset=utf-8", "no-cache")
});

/// The admin console's files (`assets/admin/`), by name.
static ADMIN: LazyLock<Vec<(&'static str, Asset)>> = LazyLock::new(|| {
    macro_rules! files {
        ($($name:literal),* $(,)?) => {
            vec![$(($name, include_bytes!(concat!("../../assets/admin/", $name)).as_slice())),*]
        };
    }
    files![
        "index.html",
        "preview.html",
        "console.css",
        "console.js",
        "api.js",
        "dom.js",
        "ui.js",
        "chart.js",
        "page-workspaces.js",
        "page-bots.js",
        "page-embed.js",
        "page-conversations.js",
        "page-analytics.js",
    ]
    .into_iter()
    .map(|(name, content)| {
        let content_type = match name.rsplit_once('.').map(|(_, ext)| ext) {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            _ => "application/octet-stream",
        };
        // Unversioned names: the browser revalidates each time (a 304 by ETag).
        (name, Asset::new(content, content_type, "no-cache"))
    })
    .collect()
});

fn serve_admin(name: &str, headers: &HeaderMap) -> Response {
    let Some((_, asset)) = ADMIN.iter().find(|(file, _)| *file == name) else {
        return ApiError::new(Code::NotFound, "There is no such file.").into_response();
    };
    let mut response = asset.respond(headers);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(ADMIN_CSP));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

/// The demo page with `token` (the sample bot's widget token, or none) in it.
pub fn demo_page(token: Option<&str>) -> Arc<Asset> {
    let html = include_str!("../../assets/widget/widget-demo.html");
    // A JWT is letters, digits, `-`, `_` and `.`; anything else is left out.
    let token: String = token
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    Arc::new(Asset::new(
        html.replace(TOKEN_PLACEHOLDER, &token).as_bytes(),
        "text/html; charset=utf-8",
        "no-cache",
    ))
}

async fn serve(State(state): State<AppState>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    let asset: &Asset = match name.as_str() {
        "widget.js" => &WIDGET,
        "widget-demo.js" => &DEMO_SCRIPT,
        "widget-demo.css" => &DEMO_STYLE,
        "widget-demo.html" => {
            let mut response = state.demo_page.respond(&headers);
            response
                .headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DEMO_CSP));
            return response;
        }
        _ => return ApiError::new(Code::NotFound, "There is no such file.").into_response(),
    };
    let mut response = asset.respond(&headers);
    // Any site may load the widget, also one that isolates itself (COEP).
    response.headers_mut().insert("cross-origin-resource-policy", HeaderValue::from_static("cross-origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn the_best_accepted_encoding_is_chosen() {
        assert!(matches!(preferred_encoding(&accept("gzip, deflate, br, zstd")), Encoding::Brotli));
        assert!(matches!(preferred_encoding(&accept("gzip;q=1.0, br;q=0")), Encoding::Gzip));
        assert!(matches!(preferred_encoding(&accept("identity")), Encoding::Identity));
        assert!(matches!(preferred_encoding(&HeaderMap::new()), Encoding::Identity));
        assert!(matches!(preferred_encoding(&accept("GZIP")), Encoding::Gzip));
    }

    #[test]
    fn each_encoding_has_its_own_etag_and_the_bodies_decode_back() {
        let asset = Asset::new(b"hello hello hello hello", "text/plain", "no-cache");
        let tags: Vec<_> = asset.bodies.iter().map(|(_, tag)| tag.clone()).collect();
        assert_ne!(tags[0], tags[1]);
        assert_ne!(tags[1], tags[2]);
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&asset.bodies[1].0[..]), &mut text)
            .unwrap();
        assert_eq!(text, "hello hello hello hello");
        let mut out = Vec::new();
        brotli::BrotliDecompress(&mut &asset.bodies[2].0[..], &mut out).unwrap();
        assert_eq!(out, b"hello hello hello hello");
    }

    #[test]
    fn the_demo_page_gets_the_token_and_nothing_else() {
        let page = demo_page(Some("abc.DEF-_1\"><script>"));
        let html = String::from_utf8(page.bodies[0].0.clone()).unwrap();
        assert!(html.contains("content=\"abc.DEF-_1script\""), "only token characters");
        assert!(!html.contains(TOKEN_PLACEHOLDER));
        let empty = String::from_utf8(demo_page(None).bodies[0].0.clone()).unwrap();
        assert!(empty.contains("name=\"docent-demo-token\" content=\"\""));
    }
}
