"""The API reference (book/api.md, book/api/*.md): every public module, function, class and method of the package
has a docstring, every module is on an API page once, and no object gets two autodoc entries (a name a package
re-exports is documented in one place). Imports only; ``scripts/api_coverage.py`` prints the same lists."""
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "api_coverage.py"


@pytest.fixture(scope="module")
def coverage():
    spec = importlib.util.spec_from_file_location("api_coverage", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def modules(coverage):
    return coverage.modules()


def test_every_public_name_has_a_docstring(coverage, modules):
    missing = coverage.undocumented(modules)
    assert not missing, f"{len(missing)} public names without a docstring: {', '.join(missing)}"


def test_each_object_is_documented_once(coverage, modules):
    dups = coverage.duplicates(modules)
    assert not dups, "documented more than once: " + "; ".join(", ".join(v) for v in dups.values())


def test_every_module_is_on_an_api_page_once(coverage, modules):
    loose = coverage.unlisted(modules)
    assert not loose, f"modules not listed once in the API pages: {', '.join(loose)}"


def test_the_checker_sees_what_it_should(coverage):
    """The checker itself: a function, a method and a dataclass without docstrings are found (the dataclass's
    generated ``Name(field, ...)`` text does not count), and a re-export listed twice is a duplicate."""
    import dataclasses
    import types

    mod = types.ModuleType("fake_mod")
    exec("def f(x):\n    return x\n\nclass C:\n    '''doc'''\n    def m(self):\n        pass\n", mod.__dict__)
    mod.D = dataclasses.make_dataclass("D", [("a", int)])
    mod.D.__module__ = "fake_mod"
    assert coverage.undocumented({"fake_mod": mod}) == ["fake_mod", "fake_mod.f", "fake_mod.C.m", "fake_mod.D"]
    pkg = types.ModuleType("fake_pkg")
    pkg.f, pkg.__all__ = mod.f, ["f"]
    assert coverage.documented_members(pkg, "fake_pkg", {"members": ""}) == ["f"]
    assert coverage.documented_members(pkg, "fake_pkg", {"no-members": ""}) == []
    assert coverage.documented_members(pkg, "fake_pkg", {"exclude-members": "f"}) == []
    assert coverage.documented_members(mod, "fake_mod", {}) == ["f", "C", "D"]
