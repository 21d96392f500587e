"""The measured costs that the introduction and *Run it yourself* quote (pages of Markdown, which cannot glue)
are the committed records' own: a page that keeps an old number after a record grows fails here."""
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "book" / "results"


def cost(name: str) -> str:
    """A record's cost as the pages write it: a study's summed training time in hours (``compute_time_s``),
    otherwise its wall time in minutes."""
    rec = json.loads((RESULTS / f"{name}.json").read_text())
    if rec.get("compute_time_s"):
        return f"{rec['compute_time_s'] / 3600:.1f} h"
    return f"{round(rec['wall_time_s'] / 60)} min"


def row(page: str, start: str) -> str:
    """The text of the table row of ``page`` that begins with ``start`` (up to the next row)."""
    text = (ROOT / "book" / page).read_text()
    at = text.index(start)
    end = min((i for i in (text.find("\n| ", at + 1), text.find("\n* - ", at + 1)) if i > 0), default=len(text))
    return text[at:end]


@pytest.mark.parametrize("record, chapter", [
    ("bench", "03_differentiable_svi"), ("original-backward", "03_differentiable_svi"),
    ("synthetic", "04_savae"), ("collapse", "05_text_vaes"), ("collapse-sweeps", "05_text_vaes"),
    ("documents", "05_text_vaes"), ("latent_use", "06_image_vaes"), ("saliency", "07_saliency"),
])
def test_the_introductions_costs_are_the_records(record, chapter):
    assert cost(record) in row("intro.md", f"| {{doc}}`{chapter}`"), f"intro.md: {record} costs {cost(record)}"


@pytest.mark.parametrize("record", ["bench", "original-backward", "synthetic", "collapse", "collapse-sweeps",
                                    "documents", "latent_use", "saliency"])
def test_run_it_yourself_quotes_each_records_cost(record):
    assert cost(record) in row("run_it_yourself.md", f"* - `book/results/{record}.json`"), \
        f"run_it_yourself.md: {record} costs {cost(record)}"


@pytest.mark.parametrize("record", ["collapse", "collapse-sweeps", "documents", "latent_use"])
def test_run_it_yourself_says_whether_each_study_is_partial(record):
    """A partial record is called partial with its count of units; a complete one is not."""
    rec = json.loads((RESULTS / f"{record}.json").read_text())
    text = row("run_it_yourself.md", f"* - `book/results/{record}.json`")
    missing = len(rec.get("missing_units") or [])
    if missing:
        done = len(rec["rows"])
        assert f"**partial**, {done} of {done + missing} units" in text, f"run_it_yourself.md: {record}"
    else:
        assert "partial" not in text, f"run_it_yourself.md: {record} is complete"


def test_the_introduction_quotes_the_text_studies_lstm_size():
    """The introduction's "LSTMs of N units" is the size every text record trained (its encoder and decoder)."""
    sizes = {(m["enc_hidden"], m["dec_hidden"]) for name in ("collapse", "documents")
             for m in [json.loads((RESULTS / f"{name}.json").read_text())["config"]["model"]]}
    assert len(sizes) == 1 and len(set(next(iter(sizes)))) == 1, sizes
    hidden = next(iter(sizes))[0]
    assert f"LSTMs of {hidden} units" in (ROOT / "book" / "intro.md").read_text()
