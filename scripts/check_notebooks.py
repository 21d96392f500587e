#!/usr/bin/env python
"""Keep the book's notebooks clean in git: no outputs, no execution counts, normalised metadata.

    python scripts/check_notebooks.py           # check book/**/*.ipynb (not _build); exit 1 on any problem
    python scripts/check_notebooks.py --fix     # rewrite the notebooks clean (outputs stripped, metadata normalised)
    python scripts/check_notebooks.py book a.ipynb   # only these folders / files

Normalised means: the notebook's metadata is exactly :data:`NOTEBOOK_METADATA` (the kernel every chapter runs
on), a cell's metadata keeps only ``tags`` (used by nbval and jupyter-book, e.g. ``remove-input``), and the file
is written the way ``nbformat`` writes it (1-space indent, sorted keys, trailing newline) so diffs stay small.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
NOTEBOOK_METADATA = {
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}
KEEP_CELL_METADATA = ("tags",)


def find_notebooks(paths: list[str]) -> list[Path]:
    """The notebooks named in ``paths`` (files, or folders searched recursively; default: ``book/``),
    skipping build outputs and checkpoints."""
    found: list[Path] = []
    for p in [Path(p) for p in paths] or [BOOK]:
        if not p.exists():
            raise SystemExit(f"check_notebooks: {p} does not exist")
        if p.is_dir():
            found.extend(sorted(q for q in p.rglob("*.ipynb")
                                if "_build" not in q.parts and ".ipynb_checkpoints" not in q.parts))
        else:
            found.append(p)
    return found


def clean(nb: dict) -> dict:
    """A copy of ``nb`` without outputs / execution counts and with normalised metadata."""
    out = dict(nb)
    out["metadata"] = json.loads(json.dumps(NOTEBOOK_METADATA))
    cells = []
    for cell in nb.get("cells", []):
        c = dict(cell)
        c["metadata"] = {k: v for k, v in cell.get("metadata", {}).items() if k in KEEP_CELL_METADATA}
        if c.get("cell_type") == "code":
            c["outputs"] = []
            c["execution_count"] = None
        else:
            c.pop("outputs", None)
            c.pop("execution_count", None)
        cells.append(c)
    out["cells"] = cells
    return out


def dumps(nb: dict) -> str:
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def problems(path: Path, nb: dict, text: str) -> list[str]:
    found = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            found.append(f"cell {i}: has outputs")
        if cell.get("execution_count") is not None:
            found.append(f"cell {i}: has execution_count {cell['execution_count']}")
    if nb.get("metadata") != NOTEBOOK_METADATA:
        found.append("notebook metadata is not normalised")
    for i, cell in enumerate(nb.get("cells", [])):
        extra = set(cell.get("metadata", {})) - set(KEEP_CELL_METADATA)
        if extra:
            found.append(f"cell {i}: metadata keys {sorted(extra)}")
    if not found and text != dumps(nb):
        found.append("not in the canonical JSON layout")
    return found


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", help="notebooks or folders (default: book/; _build is skipped)")
    ap.add_argument("--fix", action="store_true", help="rewrite the notebooks in their clean form")
    args = ap.parse_args(argv)
    notebooks = find_notebooks(args.paths)
    if not notebooks:
        print("check_notebooks: no notebooks found", file=sys.stderr)
        return 1
    bad = 0
    for path in notebooks:
        text = path.read_text(encoding="utf-8")
        try:
            nb = json.loads(text)
        except json.JSONDecodeError as err:
            print(f"{path}: not valid JSON ({err})", file=sys.stderr)
            bad += 1
            continue
        found = problems(path, nb, text)
        if found and args.fix:
            path.write_text(dumps(clean(nb)), encoding="utf-8")
            print(f"{path}: cleaned ({'; '.join(found)})")
        elif found:
            bad += 1
            print(f"{path}: " + "; ".join(found), file=sys.stderr)
    if bad:
        print(f"check_notebooks: {bad} notebook(s) need `python scripts/check_notebooks.py --fix`", file=sys.stderr)
        return 1
    print(f"check_notebooks: {len(notebooks)} notebook(s) clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
