#!/usr/bin/env bash
# Build the package's wheel and sdist, and a zip of the chapters with their run records and checkpoints, into
# the book's extra files, so that the built site ships everything a reader needs to run a chapter: Jupyter
# Book copies book/_extra/ to the site root (html_extra_path in book/_config.yml), and the introduction links
# dist/index.html. A reader who downloaded a chapter installs it with
#   pip install "savae_lite-<version>-py3-none-any.whl[book,test,saliency]"
#
# Usage:  bash scripts/build_dist.sh [OUT_DIR]      (default book/_extra/dist; uses $PYTHON, else python3)
# Offline: builds with the setuptools of the current environment (PEP 517 hooks, no isolated download).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-book/_extra/dist}
PY=${PYTHON:-$(command -v python || command -v python3)}
# setuptools builds wheels by itself from 70.1 on (older ones need the separate `wheel` package)
if ! "$PY" -c "import setuptools, sys; sys.exit(tuple(map(int, setuptools.__version__.split('.')[:2])) < (70, 1))" \
    2> /dev/null; then
  "$PY" -m pip install -q "setuptools>=70.1"
fi
had_egg_info=$([ -d savae_lite.egg-info ] && echo 1 || echo 0)
rm -rf "$OUT"
mkdir -p "$OUT"
"$PY" - "$OUT" <<'PYEOF'
import html
import sys
from pathlib import Path

import setuptools.build_meta as backend

out = Path(sys.argv[1]).resolve()
import zipfile

root = Path.cwd()
names = [backend.build_wheel(str(out)), backend.build_sdist(str(out))]
version = names[0].split("-")[1]
bundle = f"savae-lite-book-{version}.zip"  # the chapters, the records they load, the committed checkpoints
with zipfile.ZipFile(out / bundle, "w", zipfile.ZIP_DEFLATED) as z:
    for pattern in ("book/*.ipynb", "book/results/**/*.json", "results/*.json", "book/checkpoints/*.pt",
                    "book/references.bib"):
        for f in sorted(root.glob(pattern)):
            z.write(f, f.relative_to(root))
names.append(bundle)
rows = "\n".join(f'<li><a href="{html.escape(n)}">{html.escape(n)}</a> ({(out / n).stat().st_size // 1024} KiB)</li>'
                 for n in names)
wheel = names[0]
(out / "index.html").write_text(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>savae-lite: the package</title></head>
<body style="font-family: sans-serif; max-width: 46em; margin: 2em auto; line-height: 1.5">
<h1>savae-lite: the package of this book</h1>
<ul>
{rows}
</ul>
<p>Install the wheel with every extra the chapters need (Python 3.10 or newer):</p>
<pre>pip install "{wheel}[book,test,saliency]"</pre>
<p>The sdist holds the same package as source. The zip holds the chapters (<code>book/*.ipynb</code>), the run records
they load (<code>book/results/</code>) and the small trained models they use (<code>book/checkpoints/</code>):
unzip it and run <code>jupyter lab book/</code>.</p>
</body></html>
""", encoding="utf-8")
for n in names:
    print(out / n)
PYEOF
rm -rf build/
[ "$had_egg_info" = 1 ] || rm -rf savae_lite.egg-info  # only what this build wrote
