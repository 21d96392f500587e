"""What was reproduced: one row per claim of the paper (and of He et al. 2019 where the book tests it), with the
paper's number, ours, the difference in scale and a verdict computed from the committed records.

Chapter: *What we reproduced* (the closing page). Verdicts: ``reproduced`` (the claim holds in our records, judged
against 2 standard deviations of the seeds where there are seeds), ``partly`` (the direction holds, the size or
part of the claim does not), ``not reproduced`` (our records contradict it), ``not measured yet`` (the study that
tests it is not complete). The paper's numbers are quoted, never computed; ours are read from the records.
"""
from __future__ import annotations

from collections.abc import Mapping

from savae_lite.records.collapsed import COLLAPSED_KL  # the chapters' threshold, so a verdict agrees with them
from savae_lite.records.comparisons import separated
from savae_lite.records.documents_epoch import at_epoch, cut_short_row
from savae_lite.records.tables import PM, Num

REPRODUCED, PARTLY, NOT, PENDING = "reproduced", "partly", "not reproduced", "not measured yet"
TEXT_SCALE = ("PTB sentences of at most 20 words, 10,000 for training; LSTM 128, z 16, K = 5 "
              "(paper: Yahoo documents of about 80 words, LSTM 1024, z 32, K = 20)")
DOC_SCALE = ("PTB documents of at most 70 tokens (ours), 6,000 for training; LSTM 128, z 16, K = 10 "
             "(paper: Yahoo, 100,000 documents, LSTM 1024, z 32, K = 20)")
IMAGE_SCALE = ("Omniglot 28 x 28, 5,000 training images, 4-layer gated PixelCNN, 12 epochs, K = 5 "
               "(He et al.: the full set, 12 layers, until convergence, K = 10)")


def in_words(verdict: str) -> str:
    """A verdict as it reads after "is" in a sentence: ``partly`` -> ``"only partly reproduced"``; the others
    as they are."""
    return "only partly reproduced" if verdict == PARTLY else verdict


def entry(rec: Mapping | None, setting: str) -> Mapping | None:
    """The summary entry of ``setting`` in a study record (None when the record or the setting is missing)."""
    if not rec:
        return None
    return next((e for e in rec.get("summary", []) if e.get("setting") == setting), None)


def _pm(e: Mapping, key: str, d: int = 2) -> str:
    return str(PM.of(e, key, d))


def better_than(a: Mapping | None, b: Mapping | None, key: str = "iw_nll") -> str:
    """The verdict for "``a`` is better (lower ``key``) than ``b``": reproduced when better by more than 2 sd,
    not reproduced otherwise (equal within the spread, or worse), not measured yet when either is missing."""
    if a is None or b is None or a.get(key) is None or b.get(key) is None:
        return PENDING
    words = separated(a[key], a.get(f"{key}_sd"), b[key], b.get(f"{key}_sd"))
    if words.startswith("better"):
        return REPRODUCED
    if words.startswith("not judged"):  # one seed: no spread to judge by
        return REPRODUCED if a[key] < b[key] else NOT
    return NOT


def _text_scales(collapse: Mapping, documents: Mapping | None) -> tuple:
    """The two text studies with their scale and their name in a row: sentences, then documents (ours)."""
    return (collapse, TEXT_SCALE, "sentences"), (documents, DOC_SCALE, "documents (ours)")


def text_likelihood(collapse: Mapping, documents: Mapping | None) -> list[dict]:
    """SA-VAE against the LSTM language model, on sentences and on documents."""
    rows = []
    for rec, scale, where in _text_scales(collapse, documents):
        sa, lm = entry(rec, "savae"), entry(rec, "autoreg")
        ours = (f"{where}: SA-VAE {_pm(sa, 'iw_nll')} vs LM {_pm(lm, 'iw_nll')} (IW-NLL; "
                f"{Num(sa['iw_nll'] - lm['iw_nll'], 2, signed=True)} nats, "
                f"{separated(sa['iw_nll'], sa.get('iw_nll_sd'), lm['iw_nll'], lm.get('iw_nll_sd'))})"
                if sa and lm else f"{where}: LM {_pm(lm, 'iw_nll')}; SA-VAE still to run" if lm else f"{where}: –")
        rows.append({"key": f"text-nll-{where.split()[0]}",
                     "claim": "SA-VAE reaches a better NLL than the LSTM language model on text",
                     "source": "Kim et al. 2018, Table 2", "paper": "Yahoo: SA-VAE ≤ 327.5; LM 328.1 (He et al.)",
                     "ours": ours, "scale": scale, "verdict": better_than(sa, lm), "chapter": "05_text_vaes"})
    return rows


def text_latent_use(collapse: Mapping, documents: Mapping | None = None) -> list[dict]:
    """SA-VAE keeps z in use on text where the VAE collapses: one row for sentences, one for documents (ours).
    Reproduced when the annealed VAE's KL is below ``COLLAPSED_KL`` and SA-VAE's at least a quarter of the
    paper's 7.19 nats; partly when only the direction holds."""
    rows = []
    for rec, scale, where in _text_scales(collapse, documents):
        sa, va = entry(rec, "savae"), entry(rec, "vae+anneal")
        if sa is None or va is None:
            verdict = PENDING
        elif va["kl"] < COLLAPSED_KL < sa["kl"]:
            verdict = REPRODUCED if sa["kl"] >= 0.25 * 7.19 else PARTLY  # the direction; the size vs the paper's
        else:
            verdict = NOT
        ours = (f"{where}: SA-VAE KL {_pm(sa, 'kl', 3)}; annealed VAE KL {_pm(va, 'kl', 3)}" if sa and va
                else f"{where}: SA-VAE still to run" if va else f"{where}: –")
        rows.append({"key": f"latent-{where.split()[0]}",
                     "claim": "SA-VAE keeps the latent in use on text (KL > 0) where the VAE collapses",
                     "source": "Kim et al. 2018, Table 2", "paper": "Yahoo: SA-VAE KL 7.19; VAE KL ≈ 0",
                     "ours": ours, "scale": scale, "verdict": verdict, "chapter": "05_text_vaes"})
    return rows


def refinement(collapse: Mapping) -> dict:
    """Test-time SVI refinement improves SA-VAE's bound."""
    sa = entry(collapse, "savae")
    verdict = PENDING
    if sa is not None and sa.get("nll_bound_no_refine") is not None:
        words = separated(sa["nll_bound_refine"], sa.get("nll_bound_refine_sd"), sa["nll_bound_no_refine"],
                          sa.get("nll_bound_no_refine_sd"))
        verdict = REPRODUCED if words.startswith("better") else NOT
    ours = (f"bound {_pm(sa, 'nll_bound_no_refine')} → {_pm(sa, 'nll_bound_refine')}; KL "
            f"{_pm(sa, 'kl_no_refine', 3)} → {_pm(sa, 'kl_refine', 3)}" if sa else "–")
    return {"key": "refinement", "claim": "Refining the encoder's q with SVI at test time improves SA-VAE's bound",
            "source": "Kim et al. 2018, Section 5.2", "paper": "Yahoo: PPL 62.0 → 60.4, KL 6.65 → 7.19",
            "ours": ours, "scale": TEXT_SCALE, "verdict": verdict, "chapter": "05_text_vaes"}


def aggressive(collapse: Mapping, sweeps: Mapping | None, documents: Mapping | None = None) -> list[dict]:
    """He et al.'s aggressive training keeps z in use: one row for sentences, one for documents (ours). On
    sentences it is judged by their rule (MI checked every epoch), ``partly`` when z stays in use only with the
    check every 3,125 updates (their Yahoo epoch); on documents (the check every 3,125 updates) by its KL, at
    test or, for a run cut short (:func:`~savae_lite.records.documents_epoch.cut_short_row`), on validation at its
    last epoch, beside the language model at the same epoch."""
    per_epoch, scaled = entry(collapse, "aggressive"), entry(sweeps, "aggressive-every3125")
    lm = entry(collapse, "autoreg")
    if per_epoch is None:
        verdict = PENDING
    elif per_epoch["kl"] > COLLAPSED_KL:  # their rule (a check every epoch) works at our scale too
        verdict = REPRODUCED
    elif scaled is not None and scaled["kl"] > COLLAPSED_KL:  # only with the check at their update count
        verdict = PARTLY
    else:
        verdict = NOT
    parts = [f"MI checked at every epoch's end, KL {_pm(per_epoch, 'kl', 3)}" if per_epoch else None,
             (f"every 3,125 updates, KL {_pm(scaled, 'kl', 3)}, IW-NLL {_pm(scaled, 'iw_nll')}"
              + (f" (LM {_pm(lm, 'iw_nll')})" if lm else "")) if scaled else "every 3,125 updates still to run"]
    doc, doc_lm = entry(documents, "aggressive+anneal"), entry(documents, "autoreg")
    short = cut_short_row(documents, "aggressive+anneal") if documents else None
    if short is not None:  # its first epochs only: validation at that epoch, beside the LM's
        n = int(short["epochs_run"])
        a, lm_n = at_epoch(documents, "aggressive+anneal", n), at_epoch(documents, "autoreg", n)
        doc_verdict = REPRODUCED if a["kl"] > COLLAPSED_KL else NOT
        doc_ours = (f"documents (ours): MI checked every 3,125 updates; its first {n} epochs only, validation KL "
                    f"{Num(a['kl'], 3)}, bound {Num(a['nll_bound'])}"
                    + (f" (LM at epoch {n}: {PM.of(lm_n, 'nll_bound')})" if lm_n else ""))
    else:
        doc_verdict = PENDING if doc is None else REPRODUCED if doc["kl"] > COLLAPSED_KL else NOT
        doc_ours = (f"documents (ours): MI checked every 3,125 updates, KL {_pm(doc, 'kl', 3)}, IW-NLL "
                    f"{_pm(doc, 'iw_nll')}" + (f" (LM {_pm(doc_lm, 'iw_nll')})" if doc_lm else "") if doc
                    else "documents (ours): still to run")
    row = {"claim": "Aggressive encoder training keeps the latent in use (KL > 0)",
           "source": "He et al. 2019, Table 2", "paper": "Yahoo: KL 5.4, MI 3.0; IW-NLL 328.0 (LM 328.1)",
           "chapter": "05_text_vaes"}
    return [{"key": "aggressive-sentences", **row, "ours": "sentences: " + "; ".join(p for p in parts if p),
             "scale": TEXT_SCALE, "verdict": verdict},
            {"key": "aggressive-documents", **row, "ours": doc_ours, "scale": DOC_SCALE, "verdict": doc_verdict}]


def images(latent_use: Mapping) -> list[dict]:
    """The Omniglot claims: SA-VAE uses z more than the VAE, at a better NLL; both beat the PixelCNN alone."""
    sa, va, pc = entry(latent_use, "savae"), entry(latent_use, "vae"), entry(latent_use, "autoreg")
    more = PENDING
    if sa and va:
        words = separated(sa["kl"], sa.get("kl_sd"), va["kl"], va.get("kl_sd"), lower_is_better=False)
        more = REPRODUCED if words.startswith("better") else NOT
    beats = PENDING
    if va and pc:
        beats = REPRODUCED if pc["iw_nll"] - va["iw_nll"] > 2 * (va.get("iw_nll_sd") or 0) else NOT
    common = {"scale": IMAGE_SCALE, "chapter": "06_image_vaes"}
    return [
        {"key": "image-kl",
         "claim": "On images SA-VAE uses the latent more than the VAE", "source": "He et al. 2019, Table 3",
         "paper": "Omniglot: KL 3.4 (SA-VAE + anneal) vs 1.5 (VAE)",
         "ours": f"KL {_pm(sa, 'kl', 3)} vs {_pm(va, 'kl', 3)}" if sa and va else "–", "verdict": more, **common},
        {"key": "image-nll",
         "claim": "On images SA-VAE reaches a better NLL than the VAE", "source": "Kim et al. 2018; He et al. 2019",
         "paper": "Omniglot: 89.01 vs 89.41 (He et al.); SA-VAE ≤ 90.05 (Kim et al.)",
         "ours": f"IW-NLL {_pm(sa, 'iw_nll')} vs {_pm(va, 'iw_nll')}" if sa and va else "–",
         "verdict": better_than(sa, va), **common},
        {"key": "image-pixelcnn",
         "claim": "A VAE with a PixelCNN decoder beats the PixelCNN alone", "source": "He et al. 2019, Table 3",
         "paper": "Omniglot: 89.41 vs 89.76",
         "ours": f"IW-NLL {_pm(va, 'iw_nll')} vs {Num(pc['iw_nll'])} (one seed)" if va and pc else "–",
         "verdict": beats, **common},
    ]


def cost(collapse: Mapping, latent_use: Mapping) -> dict:
    """SA-VAE's epoch costs about ten VAE epochs."""
    text, img = entry(collapse, "savae"), entry(latent_use, "savae")
    ratios = [e.get("time_vs_vae") for e in (text, img) if e and e.get("time_vs_vae")]
    verdict = PENDING if not ratios else REPRODUCED if all(3 <= r <= 30 for r in ratios) else NOT
    ours = ", ".join(f"{w} {Num(e['time_vs_vae'], 1)}×" for w, e in (("text", text), ("images", img))
                     if e and e.get("time_vs_vae"))
    return {"key": "cost", "claim": "An SA-VAE epoch costs about ten VAE epochs", "source": "He et al. 2019, Table 4",
            "paper": "9.9× (Yahoo), 15.2× (Omniglot), K = 10, GPU",
            "ours": f"{ours} (K = 5, one CPU thread)", "scale": "K = 5 on one CPU thread, not K = 10 on a GPU",
            "verdict": verdict, "chapter": "06_image_vaes"}


def synthetic(rec: Mapping | None) -> dict:
    """On data from a known generator, SA-VAE's bound beats the VAE's (the amortization gap, closed by SVI)."""
    rows = [e for e in (rec or {}).get("summary", []) if e.get("setting") == "Oracle Gen"]
    by = {e["mode"]: e for e in rows}
    sa, va = by.get("savae"), by.get("vae")
    verdict = better_than(sa, va, "bound")
    truth = (rec or {}).get("true_nll", {}).get("true_nll")
    ours = (f"bound {_pm(sa, 'bound')} vs VAE {_pm(va, 'bound')} (true NLL {Num(truth)})" if sa and va else "–")
    return {"key": "synthetic", "claim": "With the generator known and fixed, SA-VAE's bound beats the VAE's",
            "source": "Kim et al. 2018, Table 1", "paper": "Oracle generator: SA-VAE below the VAE, near the "
            "true NLL", "ours": ours, "scale": "our reading of the paper's synthetic set-up, K = 10",
            "verdict": verdict, "chapter": "04_savae"}


def saliency(rec: Mapping | None) -> dict:
    """The paper's Figure 4: output saliency higher for content words than for function words."""
    verdict, ours = PENDING, "–"
    if rec:
        from savae_lite.records.saliency_findings import answers

        a = answers(rec)
        verdict = (REPRODUCED if a["pairs_above"] == a["pairs"] else PARTLY if a["pairs_above"] * 2 > a["pairs"]
                   else NOT)
        ours = (f"{a['pairs_above']} of {a['pairs']} content/function pairs in the paper's order; "
                f"mean output saliency, content words {a['content_mean']} vs function words "
                f"{a['function_mean']}")
    return {"key": "saliency",
            "claim": "The latent matters most for content words (NN, JJ, VB, CD) and least for function words "
                     "(CC, DT, IN, TO)", "source": "Kim et al. 2018, Figure 4",
            "paper": "grouped output saliency, Yahoo", "ours": ours, "scale": TEXT_SCALE, "verdict": verdict,
            "chapter": "07_saliency"}


def claims(collapse: Mapping, latent_use: Mapping, documents: Mapping | None = None,
           sweeps: Mapping | None = None, synthetic_rec: Mapping | None = None,
           saliency_rec: Mapping | None = None) -> list[dict]:
    """Every row of the page, in the order of the book: the synthetic experiment, text (likelihood, latent use,
    refinement, aggressive training), images, cost, saliency. Each row: ``key`` (a short name, e.g.
    ``"text-nll-documents"``), ``claim``, ``source``, ``paper``, ``ours``, ``scale``, ``verdict``, ``chapter``."""
    return [synthetic(synthetic_rec), *text_likelihood(collapse, documents), *text_latent_use(collapse, documents),
            refinement(collapse), *aggressive(collapse, sweeps, documents), *images(latent_use),
            cost(collapse, latent_use), saliency(saliency_rec)]


def tally(rows: list[dict]) -> dict:
    """How many rows have each verdict, e.g. ``{"reproduced": 4, "partly": 1, ...}`` (every verdict present)."""
    return {v: sum(r["verdict"] == v for r in rows) for v in (REPRODUCED, PARTLY, NOT, PENDING)}
