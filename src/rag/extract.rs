//! From a file's bytes to sections of text, each under its heading path.
//!
//! Headings are kept because they are what a reader navigates by: every chunk
//! later carries its "Guide > Install > Linux" path and the heading's anchor,
//! which become the citation and its `#fragment`.

use scraper::{ElementRef, Html, Node, Selector};

/// The kinds of document Docent reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Markdown,
    Html,
    Pdf,
    Docx,
    /// A page added by URL: the stored content is its address, and the page is
    /// read as HTML, text or Markdown once fetched (see `rag::web`).
    Webpage,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Markdown => "markdown",
            Self::Html => "html",
            Self::Pdf => "pdf",
            Self::Docx => "docx",
            Self::Webpage => "webpage",
        }
    }

    pub fn parse(kind: &str) -> Option<Self> {
        match kind {
            "text" => Some(Self::Text),
            "markdown" => Some(Self::Markdown),
            "html" => Some(Self::Html),
            "pdf" => Some(Self::Pdf),
            "docx" => Some(Self::Docx),
            "webpage" => Some(Self::Webpage),
            _ => None,
        }
    }

    /// The kind a file name's extension names, if Docent reads it.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let extension = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match extension.as_str() {
            "txt" | "text" => Some(Self::Text),
            "md" | "markdown" => Some(Self::Markdown),
            "html" | "htm" => Some(Self::Html),
            "pdf" => Some(Self::Pdf),
            "docx" => Some(Self::Docx),
            _ => None,
        }
    }
}

/// The title a file gets from its name: the name without its extension (the
/// whole name when that leaves nothing), at most 200 characters.
pub fn title_from_file_name(name: &str) -> String {
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    let title = if stem.trim().is_empty() { name } else { stem };
    title.trim().chars().take(200).collect()
}

/// A run of text under one heading path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub headings: Vec<String>,
    /// The `#fragment` of the nearest heading, when the document gives one.
    pub anchor: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The document's own title (`<title>`, first `# heading`), if it has one.
    pub title: Option<String>,
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error("The file is not UTF-8 text (it may be binary, or in another encoding).")]
    NotText,
    #[error("The document contains no text.")]
    Empty,
    /// A PDF or DOCX file that could not be read; the text says why.
    #[error("{0}")]
    Unreadable(String),
}

/// Reads `bytes` as a document of `kind`.
pub fn extract(kind: Kind, bytes: &[u8]) -> Result<Extracted, ExtractError> {
    let extracted = match kind {
        Kind::Pdf => super::office::pdf(bytes)?,
        Kind::Docx => super::office::docx(bytes)?,
        Kind::Text | Kind::Markdown | Kind::Html => extract_text(kind, bytes)?,
        Kind::Webpage => {
            return Err(ExtractError::Unreadable("A web page is read once it has been fetched.".into()));
        }
    };
    let sections: Vec<Section> =
        extracted.sections.into_iter().filter(|s| !s.text.trim().is_empty()).collect();
    if sections.is_empty() {
        return Err(ExtractError::Empty);
    }
    Ok(Extracted { title: extracted.title, sections })
}

fn extract_text(kind: Kind, bytes: &[u8]) -> Result<Extracted, ExtractError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ExtractError::NotText)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // NUL and other control bytes (but tab, line feed, carriage return, form feed)
    // mean this is not a text document.
    if text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{c}')) {
        return Err(ExtractError::NotText);
    }
    Ok(match kind {
        Kind::Markdown => markdown(text),
        Kind::Html => {
            // The HTML parser slows down with nesting and deep trees are walked
            // recursively: a tiny file of 20,000 nested tags is an attack, not a page.
            if rough_depth(text) > MAX_HTML_DEPTH {
                return Err(ExtractError::Unreadable(format!(
                    "The HTML is nested more than {MAX_HTML_DEPTH} levels deep; it cannot be read safely."
                )));
            }
            html(text)
        }
        _ => Extracted {
            title: None,
            sections: vec![Section { headings: Vec::new(), anchor: None, text: text.trim().to_owned() }],
        },
    })
}

/// Keeps the heading path while sections are read in order.
#[derive(Default)]
pub(super) struct Outline {
    stack: Vec<(usize, String)>,
    anchor: Option<String>,
    pub(super) text: String,
    sections: Vec<Section>,
}

impl Outline {
    pub(super) fn heading(&mut self, level: usize, title: String, anchor: Option<String>) {
        self.flush();
        while self.stack.last().is_some_and(|(l, _)| *l >= level) {
            self.stack.pop();
        }
        self.stack.push((level, title));
        self.anchor = anchor;
    }

    fn flush(&mut self) {
        let text = std::mem::take(&mut self.text);
        let text = text.trim();
        if !text.is_empty() {
            self.sections.push(Section {
                headings: self.stack.iter().map(|(_, t)| t.clone()).collect(),
                anchor: self.anchor.clone(),
                text: text.to_owned(),
            });
        }
    }

    pub(super) fn finish(mut self) -> Vec<Section> {
        self.flush();
        self.sections
    }
}

/// ATX headings (`#` to `######`) outside fenced code split the document.
fn markdown(text: &str) -> Extracted {
    let mut outline = Outline::default();
    let mut title = None;
    let mut fence: Option<&str> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(open) = fence {
            if trimmed.starts_with(open) {
                fence = None;
            }
        } else if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fence = Some(&trimmed[..3]);
        } else if let Some((level, heading)) = atx_heading(trimmed) {
            if level == 1 && title.is_none() {
                title = Some(heading.clone());
            }
            let anchor = slug(&heading);
            outline.heading(level, heading, Some(anchor).filter(|a| !a.is_empty()));
            continue;
        }
        outline.text.push_str(line);
        outline.text.push('\n');
    }
    Extracted { title, sections: outline.finish() }
}

fn atx_heading(line: &str) -> Option<(usize, String)> {
    let level = line.bytes().take_while(|b| *b == b'#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &line[level..];
    if !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t')) {
        return None;
    }
    let heading = rest.trim().trim_end_matches('#').trim();
    (!heading.is_empty()).then(|| (level, heading.to_owned()))
}

/// A GitHub-style anchor: lower case, punctuation dropped, spaces as dashes.
pub fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            c if c.is_alphanumeric() || c == '_' || c == '-' => Some(c),
            ' ' => Some('-'),
            _ => None,
        })
        .collect()
}

/// Deepest HTML nesting read; real pages stay far below it.
const MAX_HTML_DEPTH: usize = 512;

/// Element nesting depth, estimated in one pass without parsing: opening tags
/// count up (except void ones and `<x/>`), closing tags down.
fn rough_depth(html: &str) -> usize {
    const VOID: &[&str] = &[
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
        "track", "wbr", "!doctype",
    ];
    let (mut depth, mut deepest) = (0usize, 0usize);
    let bytes = html.as_bytes();
    let mut i = 0;
    while let Some(offset) = html[i..].find('<') {
        let start = i + offset + 1;
        let end = html[start..].find('>').map_or(html.len(), |e| start + e);
        let tag = &html[start..end];
        if let Some(rest) = tag.strip_prefix('/') {
            if !rest.is_empty() {
                depth = depth.saturating_sub(1);
            }
        } else if bytes.get(start).is_some_and(u8::is_ascii_alphabetic) && !tag.ends_with('/') {
            let name: String = tag.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '!').collect();
            if !VOID.contains(&name.to_ascii_lowercase().as_str()) {
                depth += 1;
                deepest = deepest.max(depth);
            }
        }
        i = end.min(html.len());
        if i >= html.len() {
            break;
        }
    }
    deepest
}

/// Elements that are never content.
const SKIPPED: &[&str] = &[
    "script", "style", "noscript", "template", "nav", "footer", "aside", "form", "button", "svg", "iframe",
    "select", "head",
];
/// `id`s and class words that mark navigation and page furniture.
const FURNITURE: &[&str] =
    &["toc", "nav", "navbar", "navigation", "sidebar", "footer", "breadcrumb", "breadcrumbs", "menu"];
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "pre",
    "blockquote",
    "table",
    "tr",
    "br",
    "hr",
    "figure",
    "figcaption",
    "details",
    "summary",
    "header",
];

fn html(source: &str) -> Extracted {
    let document = Html::parse_document(source);
    let select = |css: &str| Selector::parse(css).ok();
    let text_of =
        |el: ElementRef<'_>| el.text().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" ");
    let title = select("title")
        .and_then(|s| document.select(&s).next().map(text_of))
        .filter(|t| !t.is_empty())
        .or_else(|| select("h1").and_then(|s| document.select(&s).next().map(text_of)));
    let root = ["main", "article", "[role=main]", "body"]
        .iter()
        .filter_map(|css| select(css))
        .find_map(|s| document.select(&s).next())
        .unwrap_or_else(|| document.root_element());
    let mut outline = Outline::default();
    walk(root, &mut outline, false, 0);
    Extracted { title, sections: outline.finish() }
}

fn is_furniture(el: &scraper::node::Element) -> bool {
    let marks = |v: &str| FURNITURE.contains(&v.to_ascii_lowercase().as_str());
    el.attr("role").is_some_and(|r| r == "navigation" || r == "contentinfo")
        || el.attr("aria-hidden") == Some("true")
        || el.id().is_some_and(marks)
        || el.classes().any(marks)
}

fn walk(element: ElementRef<'_>, out: &mut Outline, in_pre: bool, depth: usize) {
    if depth > MAX_HTML_DEPTH {
        return;
    }
    for child in element.children() {
        match child.value() {
            Node::Text(text) => {
                if in_pre {
                    out.text.push_str(text);
                } else {
                    let collapsed: Vec<&str> = text.split_whitespace().collect();
                    if !collapsed.is_empty() {
                        if text.starts_with(char::is_whitespace) && !out.text.ends_with(['\n', ' ']) {
                            out.text.push(' ');
                        }
                        out.text.push_str(&collapsed.join(" "));
                        if text.ends_with(char::is_whitespace) {
                            out.text.push(' ');
                        }
                    }
                }
            }
            Node::Element(el) => {
                let Some(child) = ElementRef::wrap(child) else { continue };
                let name = el.name();
                if SKIPPED.contains(&name) || is_furniture(el) {
                    continue;
                }
                if let Some(level) = heading_level(name) {
                    let heading =
                        child.text().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" ");
                    if !heading.is_empty() {
                        let anchor = el.id().map(str::to_owned).or_else(|| {
                            child.descendants().filter_map(ElementRef::wrap).find_map(|a| {
                                a.value().id().or_else(|| a.value().attr("name")).map(str::to_owned)
                            })
                        });
                        out.heading(level, heading, anchor);
                    }
                    continue;
                }
                let block = BLOCKS.contains(&name);
                if block && !out.text.is_empty() && !out.text.ends_with('\n') {
                    out.text.push('\n');
                }
                if name == "li" {
                    out.text.push_str("- ");
                }
                walk(child, out, in_pre || name == "pre", depth + 1);
                if block && !out.text.ends_with('\n') {
                    out.text.push('\n');
                }
                if matches!(name, "p" | "pre" | "table" | "ul" | "ol" | "blockquote") {
                    out.text.push('\n');
                }
            }
            _ => {}
        }
    }
}

fn heading_level(name: &str) -> Option<usize> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_sections_keep_their_heading_path() {
        let md = "# Guide\nIntro.\n\n## Install\n\n### Linux\nRun `apt install`.\n```sh\n# not a heading\n```\n## Use\nType.\n";
        let doc = extract(Kind::Markdown, md.as_bytes()).unwrap();
        assert_eq!(doc.title.as_deref(), Some("Guide"));
        let paths: Vec<(String, Option<String>)> =
            doc.sections.iter().map(|s| (s.headings.join(" > "), s.anchor.clone())).collect();
        assert_eq!(
            paths,
            [
                ("Guide".to_owned(), Some("guide".to_owned())),
                ("Guide > Install > Linux".to_owned(), Some("linux".to_owned())),
                ("Guide > Use".to_owned(), Some("use".to_owned())),
            ]
        );
        assert!(doc.sections[1].text.contains("# not a heading"));
    }

    #[test]
    fn html_drops_page_furniture_and_keeps_anchors() {
        let html = r#"<html><head><title>Reset password - Help</title><style>p{}</style></head><body>
            <nav>Home | Docs</nav><div id="toc">Contents</div>
            <main><h1>Account</h1><p>Manage   your
            account.</p><h2 id="reset">Reset your password</h2><p>Open <b>Settings</b>, then Security.</p>
            <ul><li>one</li><li>two</li></ul><script>alert(1)</script></main>
            <footer>Copyright</footer></body></html>"#;
        let doc = extract(Kind::Html, html.as_bytes()).unwrap();
        assert_eq!(doc.title.as_deref(), Some("Reset password - Help"));
        assert_eq!(doc.sections.len(), 2);
        assert_eq!(doc.sections[0].text, "Manage your account.");
        let reset = &doc.sections[1];
        assert_eq!(reset.headings, ["Account", "Reset your password"]);
        assert_eq!(reset.anchor.as_deref(), Some("reset"));
        assert!(reset.text.starts_with("Open Settings, then Security."), "{:?}", reset.text);
        assert!(reset.text.contains("- one\n- two"), "{:?}", reset.text);
        let all: String = doc.sections.iter().map(|s| s.text.as_str()).collect();
        for furniture in ["Home", "Contents", "Copyright", "alert"] {
            assert!(!all.contains(furniture), "{furniture} leaked into {all:?}");
        }
    }

    #[test]
    fn binary_and_empty_files_are_refused_with_a_reason() {
        assert_eq!(extract(Kind::Text, &[0xff, 0xfe, 0x00, 0x01]), Err(ExtractError::NotText));
        assert_eq!(extract(Kind::Text, b"abc\0def"), Err(ExtractError::NotText));
        assert_eq!(extract(Kind::Text, b"  \n\n "), Err(ExtractError::Empty));
        assert_eq!(extract(Kind::Html, b"<html><script>x()</script></html>"), Err(ExtractError::Empty));
        let deep = format!("{}text{}", "<section>".repeat(20_000), "</section>".repeat(20_000));
        assert!(matches!(extract(Kind::Html, deep.as_bytes()), Err(ExtractError::Unreadable(_))));
        let fine = format!("{}<p>text<br><img src=x></p>{}", "<div>".repeat(100), "</div>".repeat(100));
        assert!(extract(Kind::Html, fine.as_bytes()).is_ok());
        assert_eq!(Kind::from_file_name("Guide.MD"), Some(Kind::Markdown));
        assert_eq!(Kind::from_file_name("archive.zip"), None);
        assert_eq!(Kind::from_file_name("noextension"), None);
    }
}
