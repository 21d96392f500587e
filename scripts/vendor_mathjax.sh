#!/usr/bin/env bash
# Vendor MathJax 3 into book/_extra/mathjax so the built book typesets math offline.
#
# The folder is git-ignored; run this before `jupyter-book build book/` (CI does). Without it the book still
# builds, and book/_extra/mathjax-loader.js falls back to the jsDelivr CDN in the reader's browser.
# Usage: scripts/vendor_mathjax.sh [VERSION]   (default: the newest 3.x release on the npm registry)
set -euo pipefail

version="${1:-3}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/book/_extra/mathjax"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

command -v npm >/dev/null || { echo "vendor_mathjax.sh: npm is required (e.g. apt-get install -y npm)" >&2; exit 1; }
npm install --prefix "$tmp" --no-save --no-audit --no-fund --loglevel=error "mathjax@$version" >/dev/null
src="$tmp/node_modules/mathjax/es5"
[ -f "$src/tex-chtml.js" ] || { echo "vendor_mathjax.sh: $src/tex-chtml.js not found" >&2; exit 1; }

rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
cp -r "$src" "$dest"
installed="$(node -p "require('$tmp/node_modules/mathjax/package.json').version" 2>/dev/null || echo "$version")"
echo "MathJax $installed vendored into ${dest#"$root"/} ($(du -sh "$dest" | cut -f1))"
