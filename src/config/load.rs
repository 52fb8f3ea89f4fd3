//! Layering: defaults < TOML file < `DOCENT_*` environment < command-line flags,
//! and the secrets, which come from the environment (or `DOCENT_X_FILE`) only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::{
    AuthConfig, Config, ConfigError, DatabaseConfig, EmbeddingsConfig, HttpConfig, IngestConfig, Kind,
    LlmConfig, Secrets, WidgetConfig,
};

/// The top-level settings the environment can set; each section lists its own.
const TOP_LEVEL: &[(&str, Kind)] = &[
    ("bind", Kind::Text),
    ("data_dir", Kind::Text),
    ("database_url", Kind::Text),
    ("public_url", Kind::Text),
    ("log_format", Kind::Text),
    ("log_level", Kind::Text),
    ("trust_proxy_headers", Kind::Boolean),
    ("admin_username", Kind::Text),
];

/// Every setting that can come from the environment, by dotted name.
fn settings() -> impl Iterator<Item = &'static (&'static str, Kind)> {
    [
        TOP_LEVEL,
        HttpConfig::SETTINGS,
        DatabaseConfig::SETTINGS,
        AuthConfig::SETTINGS,
        WidgetConfig::SETTINGS,
        IngestConfig::SETTINGS,
        EmbeddingsConfig::SETTINGS,
        LlmConfig::SETTINGS,
    ]
    .into_iter()
    .flatten()
}

/// `widget.token_expire_days` -> `DOCENT_WIDGET_TOKEN_EXPIRE_DAYS`.
pub fn env_name(setting: &str) -> String {
    format!("DOCENT_{}", setting.replace('.', "_").to_uppercase())
}

/// The command-line flags that override settings.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub bind: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
}

impl Config {
    /// Builds the configuration from an optional file, an environment and flags.
    pub fn load(
        file: Option<&Path>,
        env: &HashMap<String, String>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut table = match file {
            Some(path) => read_file(path)?,
            None => toml::Table::new(),
        };
        for (setting, kind) in settings() {
            let name = env_name(setting);
            if let Some(raw) = env.get(&name) {
                set(&mut table, setting, env_value(&name, raw, *kind)?);
            }
        }
        if let Some(bind) = &overrides.bind {
            set(&mut table, "bind", toml::Value::String(bind.clone()));
        }
        if let Some(dir) = &overrides.data_dir {
            set(&mut table, "data_dir", toml::Value::String(dir.display().to_string()));
        }
        if let Some(url) = &overrides.database_url {
            set(&mut table, "database_url", toml::Value::String(url.clone()));
        }

        let mut config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|err| {
                let path = err.path().to_string();
                let setting = if path == "." { "configuration".to_owned() } else { path };
                ConfigError::new(setting, err.into_inner().to_string())
            })?;
        config.secrets = Secrets {
            secret_key: secret(env, "DOCENT_SECRET_KEY")?,
            admin_password: secret(env, "DOCENT_ADMIN_PASSWORD")?,
            embeddings_api_key: secret(env, "DOCENT_EMBEDDINGS_API_KEY")?,
            llm_api_key: secret(env, "DOCENT_LLM_API_KEY")?,
        };
        config.validate()?;
        Ok(config)
    }
}

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| ConfigError::new("config", format!("cannot read {}: {err}", path.display())))?;
    text.parse::<toml::Table>()
        .map_err(|err| ConfigError::new("config", format!("{} is not valid TOML: {err}", path.display())))
}

/// Puts `value` at a dotted path, creating tables on the way.
fn set(table: &mut toml::Table, dotted: &str, value: toml::Value) {
    let mut parts: Vec<&str> = dotted.split('.').collect();
    let last = parts.pop().unwrap_or(dotted);
    let mut here = table;
    for part in parts {
        let entry = here.entry(part).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(next) = entry else { unreachable!("made a table just above") };
        here = next;
    }
    here.insert(last.to_owned(), value);
}

fn env_value(name: &str, raw: &str, kind: Kind) -> Result<toml::Value, ConfigError> {
    let raw = raw.trim();
    Ok(match kind {
        Kind::Text => toml::Value::String(raw.to_owned()),
        Kind::Integer => toml::Value::Integer(
            raw.parse()
                .map_err(|_| ConfigError::new(name, format!("must be a whole number (got {raw:?})")))?,
        ),
        Kind::Float => toml::Value::Float(
            raw.parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| ConfigError::new(name, format!("must be a number (got {raw:?})")))?,
        ),
        Kind::Boolean => toml::Value::Boolean(match raw.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => {
                return Err(ConfigError::new(name, format!("must be true or false (got {raw:?})")));
            }
        }),
        Kind::List => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| toml::Value::String(item.to_owned()))
                .collect(),
        ),
    })
}

/// Reads `NAME` or the file named by `NAME_FILE`, never both.
fn secret(env: &HashMap<String, String>, name: &str) -> Result<Option<SecretString>, ConfigError> {
    let file_var = format!("{name}_FILE");
    match (env.get(name), env.get(&file_var)) {
        (Some(_), Some(_)) => Err(ConfigError::new(name, format!("set {name} or {file_var}, not both"))),
        (Some(value), None) if !value.is_empty() => Ok(Some(SecretString::from(value.clone()))),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|err| ConfigError::new(file_var.as_str(), format!("cannot read {path}: {err}")))?;
            let value = text.trim_end_matches(['\r', '\n']);
            if value.is_empty() {
                return Err(ConfigError::new(file_var.as_str(), format!("{path} is empty")));
            }
            Ok(Some(SecretString::from(value.to_owned())))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogFormat;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_hold_without_any_input() {
        let config = Config::load(None, &HashMap::new(), &Overrides::default()).unwrap();
        assert_eq!(config.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(config.widget.token_expire_days, 7);
        assert_eq!(config.widget.session_timeout_minutes, 30);
        assert_eq!(config.widget.max_sessions_per_bot, 1000);
        assert!(config.widget.allowed_origins.is_empty());
        assert!(config.database_url.is_empty(), "SQLite in the data folder");
    }

    #[test]
    fn file_then_environment_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docent.toml");
        std::fs::write(
            &path,
            "bind = \"127.0.0.1:9000\"\nlog_format = \"json\"\n[widget]\ntoken_expire_days = 3\nsession_timeout_minutes = 5\n",
        )
        .unwrap();
        let vars = env(&[
            ("DOCENT_WIDGET_TOKEN_EXPIRE_DAYS", "9"),
            ("DOCENT_BIND", "127.0.0.1:9001"),
            ("DOCENT_WIDGET_ALLOWED_ORIGINS", "https://a.example, https://*.b.example/"),
        ]);
        let flags = Overrides { bind: Some("127.0.0.1:9002".into()), ..Overrides::default() };
        let config = Config::load(Some(&path), &vars, &flags).unwrap();
        assert_eq!(config.bind.to_string(), "127.0.0.1:9002");
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.widget.token_expire_days, 9);
        assert_eq!(config.widget.session_timeout_minutes, 5);
        assert_eq!(config.widget.allowed_origins, ["https://a.example", "https://*.b.example"]);
    }

    #[test]
    fn bad_values_name_their_setting() {
        let cases = [
            ("DOCENT_WIDGET_TOKEN_EXPIRE_DAYS", "0", "widget.token_expire_days"),
            ("DOCENT_WIDGET_TOKEN_EXPIRE_DAYS", "soon", "DOCENT_WIDGET_TOKEN_EXPIRE_DAYS"),
            ("DOCENT_BIND", "localhost", "bind"),
            ("DOCENT_DATABASE_URL", "mysql://x", "database_url"),
            ("DOCENT_DATABASE_URL", "sqlite::memory:", "database_url"),
            ("DOCENT_DATABASE_URL", "sqlite:x.db?mode=memory", "database_url"),
            ("DOCENT_LOG_FORMAT", "xml", "log_format"),
            ("DOCENT_PUBLIC_URL", "ftp://x", "public_url"),
            ("DOCENT_WIDGET_ALLOWED_ORIGINS", "*", "widget.allowed_origins"),
            ("DOCENT_SECRET_KEY", "short", "DOCENT_SECRET_KEY"),
            ("DOCENT_INGEST_FETCH_TIMEOUT_SECONDS", "0", "ingest.fetch_timeout_seconds"),
            ("DOCENT_INGEST_MAX_SITEMAP_PAGES", "0", "ingest.max_sitemap_pages"),
            ("DOCENT_INGEST_ALLOW_PRIVATE_URLS", "maybe", "DOCENT_INGEST_ALLOW_PRIVATE_URLS"),
        ];
        for (name, value, setting) in cases {
            let err = Config::load(None, &env(&[(name, value)]), &Overrides::default()).unwrap_err();
            assert_eq!(err.setting, setting, "{name}={value}: {err}");
        }
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docent.toml");
        std::fs::write(&path, "[widget]\ntoken_expiry_days = 3\n").unwrap();
        let err = Config::load(Some(&path), &HashMap::new(), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("token_expiry_days"), "{err}");
    }

    #[test]
    fn secrets_come_from_files_and_are_not_printed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "0123456789abcdef0123456789abcdef-secret\n").unwrap();
        let vars = env(&[("DOCENT_SECRET_KEY_FILE", path.to_str().unwrap())]);
        let config = Config::load(None, &vars, &Overrides::default()).unwrap();
        use secrecy::ExposeSecret;
        let key = config.secrets.secret_key.as_ref().unwrap();
        assert_eq!(key.expose_secret(), "0123456789abcdef0123456789abcdef-secret");
        assert!(!format!("{config:?}").contains("abcdef-secret"));
    }

    #[test]
    fn the_example_file_lists_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
        let example = Config::load(Some(&path), &HashMap::new(), &Overrides::default()).unwrap();
        let mut defaults = Config::default();
        defaults.validate().unwrap();
        assert_eq!(format!("{example:?}"), format!("{defaults:?}"));
        // And every setting the environment can set is in it.
        let text = std::fs::read_to_string(&path).unwrap();
        for (setting, _) in settings() {
            let key = setting.rsplit('.').next().unwrap();
            assert!(text.contains(&format!("\n{key} = ")), "{setting} is missing from config.example.toml");
        }
    }
}
