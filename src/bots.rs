//! Bots: the fields an owner edits, how they are checked and normalised.

use serde::Deserialize;
use url::Url;
use utoipa::ToSchema;

use crate::error::FieldErrors;
use crate::store::BotFields;

pub const THEMES: [&str; 3] = ["light", "dark", "auto"];
pub const POSITIONS: [&str; 4] = ["bottom-right", "bottom-left", "top-right", "top-left"];
const MAX_ORIGINS: usize = 100;

/// The body of `POST /widget/bots` and `PUT /widget/bots/{id}`: for a new bot
/// `name` and `workspace_id` are required; an update takes any subset. A field
/// that is absent or `null` keeps its current (or default) value, but for
/// `temperature`, which `null` returns to the server's `llm.temperature`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotInput {
    /// 1-100 characters.
    pub name: Option<String>,
    /// A workspace the caller belongs to; the bot answers from its documents.
    pub workspace_id: Option<i64>,
    /// Instructions for the model, up to 8,000 characters.
    pub system_prompt: Option<String>,
    /// First message a visitor sees, up to 1,000 characters.
    pub welcome_message: Option<String>,
    pub is_active: Option<bool>,
    /// Origins allowed to embed the bot: `https://example.com`, `http://localhost:3000`,
    /// `https://*.example.com` (subdomains only).
    pub allowed_origins: Option<Vec<String>>,
    /// `light`, `dark` or `auto`.
    pub theme: Option<String>,
    /// `bottom-right`, `bottom-left`, `top-right` or `top-left`.
    pub position: Option<String>,
    /// `#rrggbb`.
    pub primary_color: Option<String>,
    /// Up to 8 characters of text or emoji, or an `https://` image URL.
    pub bubble_icon: Option<String>,
    /// What the bot says when its documents hold nothing relevant, up to 1,000 characters.
    pub fallback_message: Option<String>,
    /// The language model to ask (up to 200 characters); `""`: the server's `llm.model`.
    pub model: Option<String>,
    /// 0-2, for the language model; `null`: the server's `llm.temperature`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f32>)]
    pub temperature: Option<Option<f32>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one not sent (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl BotFields {
    /// The defaults of a new bot in a workspace.
    pub fn new(workspace_id: i64, name: String) -> Self {
        Self {
            workspace_id,
            name,
            system_prompt: String::new(),
            welcome_message: "Hi! Ask me anything about our documentation.".to_owned(),
            is_active: true,
            allowed_origins: Vec::new(),
            theme: "auto".to_owned(),
            position: "bottom-right".to_owned(),
            primary_color: "#2563eb".to_owned(),
            bubble_icon: "💬".to_owned(),
            fallback_message: crate::chat::DEFAULT_FALLBACK.to_owned(),
            model: None,
            temperature: None,
        }
    }
}

impl BotInput {
    /// Lays the given fields over `base`.
    pub fn apply(self, mut base: BotFields) -> BotFields {
        let Self {
            name,
            workspace_id,
            system_prompt,
            welcome_message,
            is_active,
            allowed_origins,
            theme,
            position,
            primary_color,
            bubble_icon,
            fallback_message,
            model,
            temperature,
        } = self;
        macro_rules! lay {
            ($($field:ident),*) => { $( if let Some(v) = $field { base.$field = v; } )* };
        }
        lay!(name, workspace_id, system_prompt, welcome_message, is_active, allowed_origins, theme, position);
        lay!(primary_color, bubble_icon, fallback_message);
        if let Some(model) = model {
            let model = model.trim();
            base.model = (!model.is_empty()).then(|| model.to_owned());
        }
        if let Some(temperature) = temperature {
            base.temperature = temperature;
        }
        base
    }
}

/// Checks every field, normalising where there is one right spelling
/// (trimmed name, lower-case colour and origins). All problems are reported at once.
pub fn validate(bot: &mut BotFields) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut fail = |field: &str, message: &str| {
        errors.entry(field.to_owned()).or_insert_with(|| message.to_owned());
    };

    bot.name = bot.name.trim().to_owned();
    match bot.name.chars().count() {
        0 => fail("name", "must not be empty"),
        n if n > 100 => fail("name", "must be at most 100 characters"),
        _ if bot.name.chars().any(char::is_control) => fail("name", "must not contain control characters"),
        _ => {}
    }
    if bot.system_prompt.chars().count() > 8000 {
        fail("system_prompt", "must be at most 8,000 characters");
    } else if has_stray_control(&bot.system_prompt) {
        fail("system_prompt", "must not contain control characters other than line breaks and tabs");
    }
    if bot.welcome_message.chars().count() > 1000 {
        fail("welcome_message", "must be at most 1,000 characters");
    } else if has_stray_control(&bot.welcome_message) {
        fail("welcome_message", "must not contain control characters other than line breaks and tabs");
    }
    bot.fallback_message = bot.fallback_message.trim().to_owned();
    if bot.fallback_message.chars().count() > 1000 {
        fail("fallback_message", "must be at most 1,000 characters");
    } else if has_stray_control(&bot.fallback_message) {
        fail("fallback_message", "must not contain control characters other than line breaks and tabs");
    }
    if let Some(model) = &bot.model
        && (model.chars().count() > 200 || model.chars().any(char::is_control))
    {
        fail("model", "must be a model name of at most 200 characters");
    }
    if let Some(t) = bot.temperature
        && !(0.0..=2.0).contains(&t)
    {
        fail("temperature", "must be between 0 and 2");
    }
    if !THEMES.contains(&bot.theme.as_str()) {
        fail("theme", "must be one of light, dark, auto");
    }
    if !POSITIONS.contains(&bot.position.as_str()) {
        fail("position", "must be one of bottom-right, bottom-left, top-right, top-left");
    }
    let color = &bot.primary_color;
    if color.len() == 7 && color.starts_with('#') && color[1..].chars().all(|c| c.is_ascii_hexdigit()) {
        bot.primary_color = color.to_ascii_lowercase();
    } else {
        fail("primary_color", "must be a colour written #rrggbb, e.g. #2563eb");
    }
    match normalize_bubble_icon(&bot.bubble_icon) {
        Ok(icon) => bot.bubble_icon = icon,
        Err(message) => fail("bubble_icon", message),
    }
    if bot.allowed_origins.len() > MAX_ORIGINS {
        fail("allowed_origins", "must list at most 100 origins");
    } else {
        let mut origins = Vec::with_capacity(bot.allowed_origins.len());
        for origin in &bot.allowed_origins {
            match normalize_origin(origin) {
                Ok(origin) if !origins.contains(&origin) => origins.push(origin),
                Ok(_) => {}
                Err(message) => fail("allowed_origins", &format!("{origin:?} {message}")),
            }
        }
        bot.allowed_origins = origins;
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// Control characters other than `\n`, `\r` and `\t` (a NUL byte, for one,
/// cannot even be stored in PostgreSQL text).
pub fn has_stray_control(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

fn normalize_bubble_icon(icon: &str) -> Result<String, &'static str> {
    let icon = icon.trim();
    let lower = icon.to_ascii_lowercase();
    if lower.starts_with("https://") {
        let url = Url::parse(icon).map_err(|_| "is not a valid image URL")?;
        if url.host().is_none() || icon.len() > 2048 {
            return Err("is not a valid image URL");
        }
        return Ok(url.to_string());
    }
    if lower.contains("://") || lower.starts_with("data:") || lower.starts_with("javascript:") {
        return Err("image URLs must start with https://");
    }
    match icon.chars().count() {
        0 => Err("must be a short text or emoji, or an https:// image URL"),
        n if n > 8 => Err("must be at most 8 characters, or an https:// image URL"),
        _ if icon.chars().any(char::is_control) => Err("must not contain control characters"),
        _ => Ok(icon.to_owned()),
    }
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

/// `<script src=".../static/widget.js" data-token="..." ... async></script>`, every
/// value escaped for an HTML attribute (a bubble icon is the owner's text).
pub fn embed_code(base_url: &str, token: &str, bot: &BotFields) -> String {
    let look = [
        ("data-theme", &bot.theme),
        ("data-position", &bot.position),
        ("data-primary-color", &bot.primary_color),
        ("data-bubble-icon", &bot.bubble_icon),
    ];
    let mut code = format!(
        r#"<script src="{}/static/widget.js" data-token="{}""#,
        attribute(base_url.trim_end_matches('/')),
        attribute(token)
    );
    for (name, value) in look {
        code.push_str(&format!(r#" {name}="{}""#, attribute(value)));
    }
    code.push_str(" async></script>");
    code
}

fn attribute(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
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

    #[test]
    fn embed_codes_escape_what_the_owner_typed() {
        let mut bot = BotFields::new(1, "Helper".into());
        bot.bubble_icon = r#""><script>"#.into();
        let code = embed_code("https://docs.example.com/", "a.b.c", &bot);
        assert_eq!(
            code,
            r##"<script src="https://docs.example.com/static/widget.js" data-token="a.b.c" data-theme="auto" data-position="bottom-right" data-primary-color="#2563eb" data-bubble-icon="&quot;&gt;&lt;script&gt;" async></script>"##
        );
    }

    #[test]
    fn icons_accept_short_text_and_https_images() {
        assert_eq!(normalize_bubble_icon(" 🤖 ").as_deref(), Ok("🤖"));
        assert_eq!(normalize_bubble_icon("Help").as_deref(), Ok("Help"));
        assert!(normalize_bubble_icon("https://cdn.example.com/bot.png").is_ok());
        assert!(normalize_bubble_icon("http://cdn.example.com/bot.png").is_err());
        assert!(normalize_bubble_icon("javascript:alert(1)").is_err());
        assert!(normalize_bubble_icon("123456789").is_err());
        assert!(normalize_bubble_icon("").is_err());
    }
}
