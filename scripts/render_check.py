#!/usr/bin/env python
"""Check the built book in a real browser: every chapter loads, math is typeset, every image resolves.

Serves ``book/_build/html`` on 127.0.0.1 (http.server in a thread), opens each page of ``book/_toc.yml`` in
headless Chromium (Debian package ``chromium``) and checks that

* the page answers HTTP 200;
* after the page's scripts ran, no raw TeX delimiters (``\\(``, ``\\[``, ``$$``) are left in the visible text
  (code blocks excluded) and, where the page has math, MathJax produced ``mjx-container`` elements;
* every ``<img>`` resolves (HTTP 200, non-empty, an image) — ``data:`` URIs must decode to something — and
  every page built from a notebook shows at least one figure;
* at the window's width (default 1280 px) no code block and no printed output needs a horizontal scroll bar:
  with every folded cell (``hide-input``) opened, no ``div.highlight pre`` (code and outputs) and no other
  output ``pre`` has ``scrollWidth > clientWidth`` (measured by a script that the test server adds to the
  page for the DOM dump only);

* figure text is at least 11 px at 1280 px. The text of a matplotlib PNG cannot be measured in the browser, so
  the rule is enforced where the figure is made and checked here: ``savae_lite.plotting.finish`` measures every
  text of a figure as the page will show it and warns (``FigureTextWarning``) below 11 px, so no page may show
  that warning; and every figure (``<img>`` in a cell output) must be displayed at no less than
  ``plotting.MIN_DISPLAY_RATIO`` of its pixel width (the book style's smallest text, 9 pt at 110 dpi, is then
  at least 11 px; tests/test_plotting.py checks the arithmetic for every size ``plotting.figure`` makes);
* no table's cells touch: in every row, the text of two adjacent cells is at least 4 px apart (measured
  with DOM ranges around each cell's content);
* no display equation is wider than its block (MathJax lets a long one run past the column's right edge,
  where the page cuts it off);
* every table fits its column at the window's width: no table is wider than the cell output (or, for a table
  of the page's own text, the article) that holds it, which would hide its last columns behind a scroll bar;
* every local link (``<a href>`` into the site, e.g. the package downloads under ``dist/``) resolves;

and writes one screenshot per page into ``--out``. It also reports the width of the content column (the
figures are designed for ``plotting.COLUMN_PX``). Exits 1 if any check fails.

Usage:  python scripts/render_check.py [book/_build/html] --out render-check/  [--toc book/_toc.yml]
"""
from __future__ import annotations

import argparse
import base64
import functools
import http.server
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

ROOT = Path(__file__).resolve().parent.parent
MIN_CELL_GAP_PX = 4.0  # text of adjacent table cells must be at least this far apart
try:  # the figure rules live with the book style
    from savae_lite.plotting import COLUMN_PX, MIN_DISPLAY_RATIO
except ImportError:  # matplotlib / seaborn missing: the same numbers
    COLUMN_PX, MIN_DISPLAY_RATIO = 690, 0.8
RAW_TEX = [r"\(", r"\[", "$$"]
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"<svg", b"<?xml", b"RIFF")
OVERFLOW_QUERY = "render-check-overflow"

# Added to a page only when it is requested with ?render-check-overflow (the DOM dump): after the page's own
# scripts ran, open every folded cell, measure every code / output <pre> and leave the result in the DOM.
OVERFLOW_SCRIPT = """<script>
window.addEventListener("load", function () { setTimeout(function () {
  document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  var found = [], seen = new Set();
  document.querySelectorAll("div.highlight pre, div.cell_output pre, div.output pre").forEach(function (el) {
    if (seen.has(el)) { return; }
    seen.add(el);
    if (el.scrollWidth > el.clientWidth + 1) {
      var lines = el.textContent.split("\\n"), longest = "";
      lines.forEach(function (l) { if (l.length > longest.length) { longest = l; } });
      found.push({kind: el.closest(".cell_output, .output") ? "output" : "code", scroll: el.scrollWidth,
                  client: el.clientWidth, chars: longest.length, line: longest.slice(0, 70)});
    }
  });
  // display equations wider than their block: MathJax lets them run past the column's right edge
  document.querySelectorAll("div.math").forEach(function (box) {
    var m = box.querySelector("mjx-math") || box.querySelector("mjx-container");
    var wide = m ? Math.round(m.getBoundingClientRect().width) : 0;
    if (wide > box.clientWidth + 1) {
      var tex = (box.textContent || "").replace(/\\s+/g, " ").trim();
      found.push({kind: "display math", scroll: wide, client: box.clientWidth, chars: tex.length,
                  line: tex.slice(0, 70)});
    }
  });
  // figures: displayed width against the PNG's own width
  var figures = [];
  document.querySelectorAll("div.cell_output img, div.output img").forEach(function (img) {
    if (!img.naturalWidth) { return; }
    figures.push({src: (img.getAttribute("src") || "").slice(0, 60), natural: img.naturalWidth,
                  shown: Math.round(img.getBoundingClientRect().width * 10) / 10});
  });
  // tables: the horizontal gap between the text of adjacent cells of a row
  var touching = [];
  function textBox(cell) {
    if (!cell.textContent.trim()) { return null; }
    var r = document.createRange();
    r.selectNodeContents(cell);
    var b = r.getBoundingClientRect();
    return b.width > 0 ? b : null;
  }
  document.querySelectorAll("article table").forEach(function (table, ti) {
    table.querySelectorAll("tr").forEach(function (tr) {
      var cells = Array.prototype.filter.call(tr.children, function (c) {
        return (c.tagName === "TD" || c.tagName === "TH") && c.offsetParent !== null;
      });
      for (var i = 0; i + 1 < cells.length; i++) {
        var a = textBox(cells[i]), b = textBox(cells[i + 1]);
        if (!a || !b) { continue; }
        var gap = b.left - a.right;
        if (gap < 4 && touching.length < 20) {
          touching.push({table: ti, gap: Math.round(gap * 10) / 10, left: cells[i].textContent.trim().slice(0, 30),
                         right: cells[i + 1].textContent.trim().slice(0, 30)});
        }
      }
    });
  });
  // tables wider than the column: their right-hand columns are hidden behind a horizontal scroll
  document.querySelectorAll("article table").forEach(function (table, ti) {
    var box = table.closest("div.cell_output, div.output, article");
    var room = box ? box.clientWidth : 0;
    if (room && table.scrollWidth > room + 2 && touching.length < 40) {
      var first = table.querySelector("th, td");
      touching.push({table: ti, wide: table.scrollWidth, room: room,
                     left: first ? first.textContent.trim().slice(0, 30) : "", right: ""});
    }
  });
  var column = document.querySelector("div.cell_output") || document.querySelector("article");
  var out = document.createElement("div");
  out.id = "render-check-overflow";
  out.setAttribute("data-json", JSON.stringify(found));
  out.setAttribute("data-figures", JSON.stringify(figures));
  out.setAttribute("data-tables", JSON.stringify(touching));
  out.setAttribute("data-column", column ? String(column.clientWidth) : "0");
  document.body.appendChild(out);
}, 200); });
</script>"""


# ---- pages ---------------------------------------------------------------------------------------------
# notebook pages that are tables by design (no figure expected): the closing page of verdicts
TABLE_PAGES = {"reproduced"}

def toc_pages(toc: Path) -> list[str]:
    """The documents named in a jupyter-book ``_toc.yml`` (root first), without suffixes."""
    text = toc.read_text()
    try:
        import yaml

        data = yaml.safe_load(text)
        pages = [data["root"]]

        def walk(node):
            if isinstance(node, dict):
                if "file" in node:
                    pages.append(node["file"])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk({k: v for k, v in data.items() if k != "root"})
    except ImportError:  # a minimal fallback for environments without PyYAML
        pages = re.findall(r"^\s*root:\s*(\S+)", text, re.M) + re.findall(r"file:\s*(\S+)", text)
    return [re.sub(r"\.(md|ipynb|rst)$", "", p) for p in pages]


class PageParser(HTMLParser):
    """Collects visible text (outside script/style/pre/code), <img> sources and math / MathJax markers."""

    SKIP = {"script", "style", "pre", "code", "textarea", "noscript", "mjx-assistive-mml"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.images: list[str] = []
        self.math_elements = 0
        self.mjx = 0
        self.overflow: list[dict] | None = None  # set when the page carried the overflow script's result
        self.figures: list[dict] = []
        self.touching: list[dict] = []
        self.column = 0
        self.links: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in self.SKIP:
            self._skip += 1
        if tag == "img" and a.get("src"):
            self.images.append(a["src"])
        if tag == "mjx-container":
            self.mjx += 1
        if a.get("id") == "render-check-overflow":
            self.overflow = json.loads(a.get("data-json") or "[]")
            self.figures = json.loads(a.get("data-figures") or "[]")
            self.touching = json.loads(a.get("data-tables") or "[]")
            self.column = int(float(a.get("data-column") or 0))
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag in ("span", "div") and "math" in (a.get("class") or "").split():
            self.math_elements += 1

    def handle_endtag(self, tag):
        if tag in self.SKIP and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def parse(html: str) -> PageParser:
    p = PageParser()
    p.feed(html)
    return p


# ---- server and browser --------------------------------------------------------------------------------
class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the report readable
        pass

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if OVERFLOW_QUERY not in query or not path.endswith(".html"):
            return super().do_GET()
        file = Path(self.translate_path(path))
        if not file.is_file():
            return super().do_GET()
        html = file.read_text(encoding="utf-8")
        i = html.rfind("</body>")
        body = (html[:i] + OVERFLOW_SCRIPT + html[i:] if i >= 0 else html + OVERFLOW_SCRIPT).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def chromium_cmd(binary: str, profile: str, budget_ms: int, window: str) -> list[str]:
    return [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--no-first-run",
            "--hide-scrollbars", f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
            f"--window-size={window}"]


def run_chromium(cmd: list[str], timeout: int) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium exited with {proc.returncode}: {proc.stderr[-800:]}")
    return proc.stdout


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, b""


def check_image(page_url: str, src: str) -> str | None:
    """None if the image resolves to non-empty image data, else a reason."""
    if src.startswith("data:"):
        try:
            payload = base64.b64decode(src.split(",", 1)[1]) if ";base64," in src else src.split(",", 1)[1].encode()
        except (IndexError, ValueError):
            return "undecodable data: URI"
        return None if payload else "empty data: URI"
    url = urljoin(page_url, src)
    if not url.startswith(page_url.split("/", 3)[0] + "//" + page_url.split("/", 3)[2]):
        return f"external image {url} (the book must not depend on the network)"
    status, body = fetch(url)
    if status != 200:
        return f"HTTP {status} for {src}"
    if not body:
        return f"empty file {src}"
    if not body.lstrip()[:8].startswith(IMAGE_MAGIC):
        return f"{src} is not a PNG/JPEG/GIF/SVG/WebP image"
    return None


def local_link(page_url: str, href: str) -> str | None:
    """The URL of ``href`` if it points into the served site (without fragment or query), else None."""
    if href.startswith(("#", "mailto:", "javascript:", "data:")) or re.match(r"^[a-z][a-z0-9+.-]*://", href):
        return None
    url = urljoin(page_url, href).split("#", 1)[0].split("?", 1)[0]
    return url or None


# ---- main ----------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("html_dir", nargs="?", type=Path, default=None, help="built HTML folder (same as --html)")
    ap.add_argument("--html", type=Path, default=ROOT / "book" / "_build" / "html", help="built HTML folder")
    ap.add_argument("--toc", type=Path, default=ROOT / "book" / "_toc.yml", help="the book's _toc.yml")
    ap.add_argument("--out", type=Path, required=True, help="folder for one screenshot per page")
    ap.add_argument("--chromium", default=None, help="browser binary (default: chromium or chromium-browser)")
    ap.add_argument("--budget-ms", type=int, default=15000, help="virtual time each page gets to render")
    ap.add_argument("--window", default="1280,2000", help="window (and screenshot) size W,H; the scroll-bar check "
                    "measures at this width")
    ap.add_argument("--allow-cdn-mathjax", action="store_true",
                    help="do not require the vendored MathJax (book/_extra/mathjax) in the built HTML")
    ap.add_argument("--allow-no-images", action="store_true",
                    help="do not require at least one figure on every page built from a notebook")
    args = ap.parse_args(argv)
    if args.html_dir is not None:
        args.html = args.html_dir

    binary = args.chromium or shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary:
        print("render_check: chromium not found (apt-get install -y chromium)", file=sys.stderr)
        return 2
    if not (args.html / "index.html").exists():
        print(f"render_check: {args.html}/index.html not found; build the book first", file=sys.stderr)
        return 2
    failures: list[str] = []
    if not args.allow_cdn_mathjax and not (args.html / "mathjax" / "tex-chtml.js").exists():
        failures.append("mathjax/tex-chtml.js is not in the built HTML: run scripts/vendor_mathjax.sh before "
                        "building (offline, the CDN fallback cannot typeset)")
    args.out.mkdir(parents=True, exist_ok=True)
    server, base = serve(args.html)
    rows = []
    link_status: dict[str, int] = {}
    columns: list[int] = []
    try:
        for page in toc_pages(args.toc):
            url = urljoin(base, f"{page}.html")
            problems = []
            status, body = fetch(url)
            if status != 200:
                failures.append(f"{page}: HTTP {status}")
                rows.append((page, status, 0, 0, 0, 0, "FAIL"))
                continue
            static = parse(body.decode("utf-8", "replace"))
            with tempfile.TemporaryDirectory() as profile:
                cmd = chromium_cmd(binary, profile, args.budget_ms, args.window)
                dom = parse(run_chromium(cmd + ["--dump-dom", f"{url}?{OVERFLOW_QUERY}"], timeout=120))
            with tempfile.TemporaryDirectory() as profile:
                shot = (args.out / f"{page.replace('/', '__')}.png").resolve()
                cmd = chromium_cmd(binary, profile, args.budget_ms, args.window)
                run_chromium(cmd + [f"--screenshot={shot}", url], timeout=120)
                if not shot.exists() or shot.stat().st_size == 0:
                    problems.append("no screenshot written")
            if dom.overflow is None:
                problems.append("the overflow measurement did not run (page scripts too slow? raise --budget-ms)")
            for o in dom.overflow or []:
                problems.append(f"horizontal scroll bar in {o['kind']} ({o['scroll']} > {o['client']} px, "
                                f"longest line {o['chars']} characters: {o['line']!r})")
            text = "".join(dom.text)
            for delim in RAW_TEX:
                n = text.count(delim)
                if n:
                    i = text.find(delim)
                    problems.append(f"{n} raw {delim!r} in the page text, e.g. …{text[max(0, i - 40):i + 40]!r}…")
            if "FigureTextWarning: figure text" in body.decode("utf-8", "replace"):
                problems.append("a figure's text is below 11 px on the page (FigureTextWarning in an output)")
            for f in dom.figures:
                ratio = f["shown"] / f["natural"]
                if ratio < MIN_DISPLAY_RATIO - 1e-3:
                    problems.append(f"figure shown at {ratio:.2f} of its width ({f['natural']} px PNG in "
                                    f"{f['shown']:g} px; < {MIN_DISPLAY_RATIO:.2f}): its text is below 11 px; "
                                    "use plotting.figure sizes or split it")
            for t in dom.touching:
                if "wide" in t:
                    problems.append(f"table {t['table']} is {t['wide']} px wide in a {t['room']} px column (its last "
                                    "columns scroll): fewer columns, shorter headers, transpose or split it")
                    continue
                problems.append(f"table {t['table']}: cells {t['left']!r} and {t['right']!r} are {t['gap']:g} px "
                                f"apart (< {MIN_CELL_GAP_PX:g})")
            if dom.column:
                columns.append(dom.column)
            for href in static.links:
                target = local_link(url, href)
                if target is None:
                    continue
                if target not in link_status:
                    link_status[target] = fetch(target)[0]
                if link_status[target] != 200:
                    problems.append(f"link {href!r}: HTTP {link_status[target]}")
            if static.math_elements and not dom.mjx:
                problems.append(f"{static.math_elements} math elements but MathJax typeset none")
            images = sorted(set(static.images) | set(dom.images))
            from_notebook = (args.toc.parent / f"{page}.ipynb").exists()
            if from_notebook and not images and not args.allow_no_images and page not in TABLE_PAGES:
                problems.append("a chapter built from a notebook shows no figure (was MPLBACKEND set to a "
                                "non-inline backend while executing?)")
            for src in images:
                reason = check_image(url, src)
                if reason:
                    problems.append(f"image: {reason}")
            failures.extend(f"{page}: {p}" for p in problems)
            rows.append((page, status, static.math_elements, dom.mjx, len(images), len(dom.overflow or []),
                         "ok" if not problems else "FAIL"))
    finally:
        server.shutdown()

    print(f"{'page':32s} {'HTTP':>4s} {'math':>5s} {'mjx':>5s} {'img':>4s} {'scroll':>6s}  result")
    for page, status, math, mjx, imgs, scroll, result in rows:
        print(f"{page:32s} {status:>4} {math:>5} {mjx:>5} {imgs:>4} {scroll:>6}  {result}")
    if columns:
        print(f"output column: {min(columns)}-{max(columns)} px at {args.window.split(',')[0]} px "
              f"(figures are designed for {COLUMN_PX} px)")
    print(f"local links checked: {len(link_status)}")
    print(f"screenshots: {args.out}")
    if failures:
        print("\nFAILURES:", *failures, sep="\n  ", file=sys.stderr)
        return 1
    print("render check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
