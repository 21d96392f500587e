"""The closing page, *What we reproduced*: the records it reads, every value its prose glues, and its list of
claims, so the page holds narrative and calls only (its verdicts come from :mod:`savae_lite.records.reproduced`).

``tests/test_reproduced.py`` checks the values on the committed records and on made-up ones.
"""
from __future__ import annotations

from collections.abc import Mapping

from savae_lite.records import collapse_findings, documents_findings
from savae_lite.records.loading import record_path
from savae_lite.records.reproduced import NOT, PARTLY, PENDING, REPRODUCED, claims, entry, in_words, tally
from savae_lite.records.schema import load
from savae_lite.records.tables import Num

#: each argument of :func:`~savae_lite.records.reproduced.claims` and the committed record it reads
RECORDS = {"collapse": "collapse", "latent_use": "latent_use", "documents": "documents",
           "sweeps": "collapse-sweeps", "synthetic_rec": "synthetic", "saliency_rec": "saliency"}
#: the chapter each claim is tested in, by its file name, as the page names it
CHAPTERS = {"04_savae": "SA-VAE", "05_text_vaes": "Text VAEs", "06_image_vaes": "Image VAEs",
            "07_saliency": "Saliency"}
#: the verdicts the page's prose glues, each glue name with the ``key`` of its claim's row
VERDICTS = {"v_latent": "latent-sentences", "v_latent_docs": "latent-documents", "v_text": "text-nll-sentences",
            "v_docs": "text-nll-documents", "v_img_kl": "image-kl", "v_img_nll": "image-nll",
            "v_aggr": "aggressive-sentences"}


def load_records() -> dict:
    """The committed records the page reads, keyed as :func:`~savae_lite.records.reproduced.claims` takes them."""
    return {arg: load(record_path(name)) for arg, name in RECORDS.items()}


def _kl(rec: Mapping | None, setting: str, digits: int):
    e = entry(rec, setting)
    return Num(e["kl"], digits) if e else "–"


def values(recs: Mapping) -> dict:
    """Every value the page glues, from the records ``recs`` (as :func:`load_records` returns them): the count of
    claims by verdict (``n_claims``, ``n_reproduced``, ``n_partly``, ``n_not``, ``n_pending``), the verdicts its
    prose names in words (:data:`VERDICTS`), the numbers beside them, and the documents study's answers on
    aggressive training and on the original code's backward pass."""
    rows = claims(**recs)
    by_key = {r["key"]: r for r in rows}
    count = tally(rows)
    collapse, documents = recs["collapse"], recs["documents"]
    lm = entry(collapse, "autoreg")
    out = {"n_claims": len(rows), "n_reproduced": count[REPRODUCED], "n_partly": count[PARTLY],
           "n_not": count[NOT], "n_pending": count[PENDING]}
    out.update({name: in_words(by_key[key]["verdict"]) for name, key in VERDICTS.items()})
    out.update(
        sa_kl=_kl(collapse, "savae", 2), vae_kl=_kl(collapse, "vae+anneal", 3),
        doc_sa_kl=_kl(documents, "savae", 2), doc_vae_kl=_kl(documents, "vae+anneal", 3),
        # the numbers of the likelihood rows, without the row's "sentences: " or "documents (ours): "
        text_nll=by_key["text-nll-sentences"]["ours"].split(": ", 1)[1],
        doc_nll=by_key["text-nll-documents"]["ours"].split(": ", 1)[1],
        img_kl=by_key["image-kl"]["ours"], img_nll=by_key["image-nll"]["ours"],
        ag_kl=_kl(collapse, "aggressive", 3),
        lm_nll=Num(lm["iw_nll"], 2) if lm else "–",
        ag_sweep=collapse_findings.aggressive_reading(collapse, recs.get("sweeps"))["ag_sweep"],
        doc_original=documents_findings.original_answer(documents, with_early=False),
        doc_original_length=documents_findings.original_length(documents),
        doc_aggressive=documents_findings.answers(documents)["doc_aggressive"])
    return out


def claims_markdown(rows: list[dict]) -> str:
    """The page's numbered list of claims: each with its verdict, the paper's number, ours, our scale and the
    chapter that tests it (Markdown)."""
    return "\n".join(
        f"{n}. **{r['claim']}**: *{r['verdict']}*  \n"
        f"   The paper ({r['source']}): {r['paper']}.  \n"
        f"   Ours: {r['ours']}.  \n"
        f"   Our scale: {r['scale']}. Chapter: {CHAPTERS[r['chapter']]}."
        for n, r in enumerate(rows, 1))
