"""Putting a reading on the page: glue its numbers and words for the prose (myst-nb ``glue``).

Chapters 4–7: ``{glue:md}`name``` in a markdown cell shows the value glued under ``name`` by a code cell.
"""
from __future__ import annotations

from typing import Mapping


def glue(values: Mapping[str, object], prefix: str = "") -> None:
    """Glue every value (its ``str()``: a number formatted by its quantity's rule, or verdict words) as Markdown
    under ``prefix + name``, without showing it where the code runs."""
    from IPython.display import Markdown
    from myst_nb import glue as myst_glue

    for name, value in values.items():
        myst_glue(f"{prefix}{name}", Markdown(str(value)), display=False)
