#!/usr/bin/env bash
# Fetch the retrieval-evaluation corpus: Git's documentation from the Debian
# package `git-doc`. The .deb is downloaded (not installed) into eval/.corpus/,
# extracted with dpkg-deb, and a flat set of HTML pages is left in
# eval/.corpus/pages/. Re-running is quick: nothing is redone once the pages
# exist (delete eval/.corpus/ to start over).
set -euo pipefail

# The questions in questions.jsonl were checked against this version. A newer
# Debian revision of the same upstream Git release is fine; another release
# may move answers around (the script warns in that case).
PKG=git-doc
PINNED_VERSION="1:2.39.5-0+deb12u3"

EVAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CORPUS="$EVAL_DIR/.corpus"
PAGES="$CORPUS/pages"
STAMP="$PAGES/.complete"

count_pages() { find "$PAGES" -maxdepth 1 -type f -name '*.html' | wc -l; }

if [[ -f "$STAMP" ]]; then
    echo "corpus already prepared ($(cat "$STAMP")): $(count_pages) pages in $PAGES"
    exit 0
fi

mkdir -p "$CORPUS/deb"
cd "$CORPUS/deb"

deb="$(find . -maxdepth 1 -name "${PKG}_*.deb" | sort | tail -n 1)"
if [[ -z "$deb" ]]; then
    echo "downloading $PKG ..." >&2
    # apt-get download writes into the current directory; as root it warns that
    # the _apt user cannot write here, which is harmless.
    if ! apt-get download "$PKG=$PINNED_VERSION" 2>/dev/null \
       && ! apt-get download "$PKG"; then
        echo "download failed; running apt-get update and retrying" >&2
        apt-get update
        apt-get download "$PKG=$PINNED_VERSION" || apt-get download "$PKG"
    fi
    deb="$(find . -maxdepth 1 -name "${PKG}_*.deb" | sort | tail -n 1)"
fi
[[ -n "$deb" ]] || { echo "no $PKG .deb found after download" >&2; exit 1; }

version="$(dpkg-deb -f "$deb" Version)"
if [[ "$version" != "$PINNED_VERSION" ]]; then
    echo "warning: got $PKG $version, questions were checked against $PINNED_VERSION" >&2
fi

rm -rf "$CORPUS/extract" "$CORPUS/pages.tmp"
dpkg-deb -x "$deb" "$CORPUS/extract"
DOC="$CORPUS/extract/usr/share/doc/$PKG"
[[ -d "$DOC" ]] || { echo "unexpected package layout: $DOC missing" >&2; exit 1; }

mkdir -p "$CORPUS/pages.tmp"
# Top-level pages: man pages (git-*.html, git*.html guides), user-manual,
# tutorials, FAQ, glossary, contributor guides. Only regular files, so the
# index.html -> git.html symlink is skipped. The .txt files are the AsciiDoc
# sources of the same pages and are not used.
for f in "$DOC"/*.html; do
    [[ -f "$f" && ! -L "$f" ]] || continue
    name="$(basename "$f")"
    # Stubs that only say "this document has been moved to ...".
    if grep -q 'This document has been moved to' "$f"; then
        continue
    fi
    cp "$f" "$CORPUS/pages.tmp/$name"
done
# HOWTO pages, flattened with a "howto-" prefix (howto/revert-a-faulty-merge.html
# becomes howto-revert-a-faulty-merge.html). howto-index.html is a top-level page.
for f in "$DOC"/howto/*.html; do
    [[ -f "$f" ]] || continue
    cp "$f" "$CORPUS/pages.tmp/howto-$(basename "$f")"
done
# technical/ (C API internals and file-format design notes) and release notes
# are deliberately left out.

rm -rf "$PAGES"
mv "$CORPUS/pages.tmp" "$PAGES"
rm -rf "$CORPUS/extract"
echo "$PKG $version" > "$STAMP"
echo "prepared $(count_pages) pages from $PKG $version in $PAGES"
