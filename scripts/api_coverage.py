#!/usr/bin/env python
"""API coverage: public names without a docstring, and objects the API pages document more than once.

Imports every module of ``savae_lite`` and lists

* **undocumented** public names: each module without a docstring, each public function and class *defined* in a
  module (``__module__`` is that module; names re-exported from elsewhere are checked where they are defined) and
  each public method, property, classmethod and staticmethod defined in the body of a public class, that has no
  docstring of its own (``autodoc_inherit_docstrings`` is off in the book, so an inherited one does not count);
* **duplicates**: objects that get more than one entry in the API pages (``book/api.md``, ``book/api/*.md``).
  The ``automodule`` directives of the pages are read with their options and autodoc's choice of members is
  replayed: the names listed in ``:members:``; else the module's ``__all__`` unless ``:ignore-module-all:``; else
  every public name whose ``__module__`` is the module (or that has none); less ``:exclude-members:``; nothing
  with ``:no-members:``; of these, the functions, the classes and the constants that have a doc comment (``#:``)
  in the module's own source. ``--html DIR`` counts the entries of a
  built book instead (the ``id`` of each ``dt.sig-object``, resolved to its object), to check that replay;
* **unlisted** modules: modules of the package that no API page names in an ``automodule`` directive, and
  modules named more than once.

Usage:  python scripts/api_coverage.py [--html book/_build/html] [--quiet]
Exits 1 when any of the three lists is non-empty. ``tests/test_api_docs.py`` runs the same checks.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import re
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import savae_lite  # noqa: E402

API_PAGES = [REPO / "book" / "api.md", *sorted((REPO / "book" / "api").glob("*.md"))]


def modules() -> dict[str, object]:
    """Every module of the package, imported, by dotted name (the package itself first)."""
    out = {"savae_lite": savae_lite}
    for info in pkgutil.walk_packages(savae_lite.__path__, "savae_lite."):
        out[info.name] = importlib.import_module(info.name)
    return out


def _own_doc(obj) -> bool:
    doc = obj.__doc__ if not isinstance(obj, (classmethod, staticmethod)) else obj.__func__.__doc__
    return bool(doc and doc.strip())


def _class_members(cls) -> list[tuple[str, object]]:
    """Public methods and properties defined in the body of ``cls`` (not inherited, not generated)."""
    out = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (classmethod, staticmethod, property)) or inspect.isfunction(value):
            func = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
            if inspect.isfunction(func) and func.__qualname__.split(".")[0] != cls.__qualname__.split(".")[0]:
                continue  # a function assigned from elsewhere (an alias), documented where it is defined
            out.append((name, value))
    return out


def undocumented(mods: dict[str, object] | None = None) -> list[str]:
    """Dotted names of the public modules, functions, classes and methods that have no docstring."""
    mods = modules() if mods is None else mods
    missing = []
    for modname, mod in mods.items():
        if not _own_doc(mod):
            missing.append(modname)
        for name, obj in vars(mod).items():
            if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if getattr(obj, "__module__", None) != modname:
                continue
            if not _own_doc(obj) or (inspect.isclass(obj) and obj.__doc__ == _generated_doc(obj)):
                missing.append(f"{modname}.{name}")
            if inspect.isclass(obj):
                missing += [f"{modname}.{name}.{m}" for m, v in _class_members(obj) if not _own_doc(v)]
    return missing


def _generated_doc(cls) -> str | None:
    """The docstring ``dataclasses`` writes for a class that has none (``Name(field: type, ...)``)."""
    if not hasattr(cls, "__dataclass_fields__"):
        return None
    try:
        return cls.__name__ + str(inspect.signature(cls)).replace(" -> None", "")
    except (TypeError, ValueError):
        return None


# ---- the pages -------------------------------------------------------------------------------------------
_DIRECTIVE = re.compile(r"^\.\. automodule:: *(\S+)\s*$")
_OPTION = re.compile(r"^\s+:([a-z-]+):\s*(.*)$")


def automodules(pages=API_PAGES) -> list[tuple[str, dict[str, str], str]]:
    """The ``automodule`` directives of the pages: (module, {option: value}, page name), in page order."""
    out = []
    for page in pages:
        lines = Path(page).read_text().splitlines()
        for i, line in enumerate(lines):
            m = _DIRECTIVE.match(line.strip())
            if not m:
                continue
            options = {}
            for opt in lines[i + 1:]:
                o = _OPTION.match(opt)
                if not o:
                    break
                options[o.group(1)] = o.group(2).strip()
            out.append((m.group(1), options, Path(page).name))
    return out


def _names(value: str) -> list[str]:
    return [n.strip() for n in value.split(",") if n.strip()]


def documented_members(mod, modname: str, options: dict[str, str]) -> list[str]:
    """The module-level names autodoc documents for one ``automodule`` directive (see the module docstring)."""
    if "no-members" in options:
        return []
    explicit = _names(options.get("members", ""))
    if explicit:
        names = explicit
    elif getattr(mod, "__all__", None) is not None and "ignore-module-all" not in options:
        names = list(mod.__all__)
    else:
        names = [n for n, v in vars(mod).items() if getattr(v, "__module__", None) in (None, modname)]
    excluded = set(_names(options.get("exclude-members", "")))
    commented = _attr_docs(modname)
    return [n for n in names if not n.startswith("_") and n not in excluded and hasattr(mod, n)
            and not inspect.ismodule(getattr(mod, n))
            and (inspect.isfunction(getattr(mod, n)) or inspect.isclass(getattr(mod, n)) or n in commented)]


def _attr_docs(modname: str) -> set[str]:
    """Module-level variables with a doc comment (``#:``) or docstring in the module's own source: the only
    constants autodoc documents (an imported constant has none there)."""
    try:
        from sphinx.pycode import ModuleAnalyzer
    except ImportError:  # without Sphinx: constants are not counted
        return set()
    try:
        attr_docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
    except Exception:  # no source to read (a module made at run time)
        return set()
    return {name for (ns, name) in attr_docs if ns == ""}


def _key(name: str, obj) -> tuple:
    """Objects are the same entry when identical; a constant also needs the same name (small ints, interned
    strings and the like are shared by unrelated names)."""
    if inspect.isfunction(obj) or inspect.isclass(obj):
        return ("object", id(obj))
    return ("data", name, id(obj))


def duplicates(mods: dict[str, object] | None = None, pages=API_PAGES) -> dict[str, list[str]]:
    """{an object's first entry: all its entries} for every object the pages document more than once."""
    mods = modules() if mods is None else mods
    entries: dict[tuple, list[str]] = defaultdict(list)
    for modname, options, _page in automodules(pages):
        mod = mods.get(modname) or importlib.import_module(modname)
        for name in documented_members(mod, modname, options):
            entries[_key(name, getattr(mod, name))].append(f"{modname}.{name}")
    return {v[0]: v for v in entries.values() if len(v) > 1}


def html_duplicates(html_dir: Path) -> dict[str, list[str]]:
    """The same count from a built book: the ids of the module-level entries of the API pages, by object."""
    ids = set()
    for page in [html_dir / "api.html", *sorted((html_dir / "api").glob("*.html"))]:
        if page.exists():
            ids |= set(re.findall(r'<dt class="sig sig-object py" id="([^"]+)"', page.read_text()))
    entries: dict[tuple, list[str]] = defaultdict(list)
    for full in sorted(ids):
        parent, _, name = full.rpartition(".")
        try:
            mod = importlib.import_module(parent)
        except ImportError:
            continue  # a class member: its class is counted
        entries[_key(name, getattr(mod, name))].append(full)
    return {v[0]: v for v in entries.values() if len(v) > 1}


def unlisted(mods: dict[str, object] | None = None, pages=API_PAGES) -> list[str]:
    """Modules no page names, and modules named by more than one directive (``name (xN)``)."""
    mods = modules() if mods is None else mods
    named = [m for m, _, _ in automodules(pages)]
    out = [m for m in mods if m not in named]
    out += [f"{m} (x{named.count(m)})" for m in sorted(set(named)) if named.count(m) > 1]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--html", type=Path, help="count duplicates in this built book (book/_build/html) instead")
    ap.add_argument("--quiet", action="store_true", help="print the counts only")
    args = ap.parse_args(argv)
    mods = modules()
    missing = undocumented(mods)
    dups = html_duplicates(args.html) if args.html else duplicates(mods)
    loose = unlisted(mods)
    if not args.quiet:
        for name in missing:
            print(f"no docstring: {name}")
        for entries in dups.values():
            print(f"documented {len(entries)} times: {', '.join(entries)}")
        for name in loose:
            print(f"not in the API pages once: {name}")
    source = f"built pages {args.html}" if args.html else "API pages (autodoc replayed)"
    print(f"{len(mods)} modules; {len(missing)} public names without a docstring; {len(dups)} objects documented "
          f"more than once ({sum(len(v) - 1 for v in dups.values())} extra entries) in the {source}; "
          f"{len(loose)} modules not listed once")
    return 1 if missing or dups or loose else 0


if __name__ == "__main__":
    sys.exit(main())
