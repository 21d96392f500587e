"""The records layer: the book reads every result through it.

Chapters 4–7. A study's JSON record becomes a typed, validated :class:`~savae_lite.records.schema.Record` (rows,
summary, provenance) through :func:`~savae_lite.records.schema.load` or
:func:`~savae_lite.records.loading.load_or_quick` (the committed record, or the quick study run on the page, with a
one-line provenance); numbers are written by one set of rules (:func:`~savae_lite.records.tables.pm`,
:func:`~savae_lite.records.tables.number`) and tables by one helper (:func:`~savae_lite.records.tables.table`);
differences between means over seeds are judged by :func:`~savae_lite.records.comparisons.separated`; and each
chapter's conclusions are functions of its record (the ``*_findings`` modules) that return numbers and short
verdict words for the prose to glue (:func:`~savae_lite.records.page.glue`). The package re-exports the names
chapters use (``records.load_or_quick``, ``records.table``, ``records.pm``, ...), and
:func:`~savae_lite.study_record.summarize`, the one mean ± sd summary of a study's rows.

=======================  ===============================================================================
module                   what
=======================  ===============================================================================
``schema``               the record, its provenance, loading and validation
``loading``              the committed record or the quick study; timing; a unit's folder
``tables``               numbers, ``mean ± sd`` and the one table helper
``comparisons``          difference, separated by more than k sd, trend, rank
``page``                 glue for the prose
``original_findings``    chapter 3's: the original code's backward pass (audit) and the cost against K
``synthetic_findings``   chapter 4's readings (the synthetic experiment)
``collapsed``            when a latent counts as collapsed; how a setting's use of it reads
``collapse_findings``    chapter 5's (text VAEs and posterior collapse)
``collapse_sweeps``      chapter 5's sweeps: K = 10, aggressive training's MI check at He et al.'s scale
``documents_findings``   chapter 5's documents study (ours): multi-sentence PTB, the original-gradient unit
``latent_use_findings``  chapter 6's (image VAEs)
``latent_use_runs``      chapter 6's long runs, the IW-NLL's images and why its NLLs differ in level
``saliency_findings``    chapter 7's (saliency)
``reproduced``           the closing page: each claim of the paper, ours beside it, a verdict
``reproduced_page``      the closing page's glued values and its list of claims
=======================  ===============================================================================
"""
from savae_lite.records.comparisons import Comparison, compare, difference, rank, separated, trend, yes_no
from savae_lite.records.loading import load_or_quick, record_path, run_quick, timed, unit_folder
from savae_lite.records.page import glue
from savae_lite.records.schema import Provenance, Record, from_dict, load
from savae_lite.records.tables import PM, Num, counted, frame, html, missing, number, pct, pm, pm_of, table
from savae_lite.study_record import summarize

__all__ = ["Comparison", "Num", "PM", "Provenance", "Record", "compare", "counted", "difference", "frame", "from_dict",
           "glue", "html", "load", "load_or_quick", "missing", "number", "pct", "pm", "pm_of", "rank",
           "record_path", "run_quick", "separated", "summarize", "table", "timed", "trend", "unit_folder",
           "yes_no"]
