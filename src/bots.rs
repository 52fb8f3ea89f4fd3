//! Bots: the fields an owner edits, how they are checked and normalised.

use serde::Deserialize;
use url::Url;
use utoipa::ToSchema;

use crate::error::FieldErrors;
use crate::model::BotFields;
use crate::validate::{has_stray_control, normalize_origin};

pub const THEMES: [&str; 3] = ["light", "dark", "auto"];
pub const POSITIONS: [&str; 4] = ["bottom-right", "bottom-left", "top-right", "top-left"];
const MAX_ORIGINS: usize = 100;

/// The body of `POST /widget/bots` and `PUT /widget/bots/{id}`: for a new bot
/// `name` and `workspace_id` are required; an update takes any subset. A field
/// that is absent or `null` keeps its current (or default) value, but for
/// `temperature` and `answer_threshold`, which `null` returns to the default.
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
    /// 0-1: how sure the bot must be that its documents answer before it
    /// answers (higher: more "I don't know"); `null`: Docent's default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f32>)]
    pub answer_threshold: Option<Option<f32>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one not sent (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
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
            answer_threshold,
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
        if let Some(threshold) = answer_threshold {
            base.answer_threshold = threshold;
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
    if let Some(t) = bot.answer_threshold
        && !(0.0..=1.0).contains(&t)
    {
        fail("answer_threshold", "must be between 0 and 1");
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
