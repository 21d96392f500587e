"""The saliency experiment of the book (Kim et al. 2018, Section 5.4, Figures 3 and 4): which words the latent
variable of a text VAE helps to predict, and which words move it, grouped by part of speech, position, frequency
and log-likelihood, for the annealed VAE and the SA-VAE of the text chapter.

Chapter: *What the latent encodes: saliency*. Its record is written by::

    savae-lite experiment saliency --out book/results/saliency.json

Set-up (full mode): the two committed PTB models of the chapter *Text VAEs and posterior collapse*
(``book/checkpoints/collapse-vae_anneal-s1.pt``, collapsed, and ``collapse-savae-s1.pt``, one active unit),
each with its own test-time posterior -- the encoder's lambda_0 refined by the training config's SVI (K = 5) --
and input saliency differentiated through that refinement (:mod:`savae_lite.saliency`). Every test sentence of
the chapter's data set, S = ``StudyConfig.samples`` posterior draws per expectation, fixed seeds. POS tags come
from spaCy (:func:`savae_lite.pos.tag`, PTB's ``N`` and ``<unk>`` replaced by stand-ins); the tagger's accuracy
is measured on UD English-EWT gold XPOS as written and normalised like the Mikolov PTB text
(:func:`savae_lite.pos.ptb_normalise`). Quick mode trains two tiny models from the ``ptb-collapse-quick`` preset
instead (seconds) and uses a few sentences.

The record holds the grouped tables (:func:`savae_lite.saliency_tables.figure4_tables` plus coarse tags) of output and
input saliency per model, rows as dicts; the Figure-3 examples with one value per token; the tagger's name,
version and accuracies; and the provenance (configs, checkpoints with their embedded run summaries, environment,
git commit, wall time).
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from savae_lite import generate, pos, results, saliency
from savae_lite.evaluate import test_time_q
from savae_lite.presets import preset

#: The two models of the chapter, each a committed checkpoint (paths relative to the working directory).
CHECKPOINTS = {"vae+anneal": "book/checkpoints/collapse-vae_anneal-s1.pt",
               "savae": "book/checkpoints/collapse-savae-s1.pt"}
#: The sentence written for the chapter; every word is in the 5,000-word PTB vocabulary.
WRITTEN = tuple("the company said it will sell its stock to investors next year".split())
#: The record's panels (panel name -> grouping column), Figure 4's (``saliency.FIGURE4``) and coarse POS groups.
PANELS = {**saliency.FIGURE4, "coarse tag": "coarse_tag"}
_COARSE_PREFIXES = ("NN", "VB", "JJ", "RB")
_COARSE = {"PRP$": "PRP", "WP$": "WP"}


@dataclass
class StudyConfig:
    """Sizes of the saliency experiment."""

    samples: int = 10  # S posterior draws in each expectation E_q[...]
    max_sentences: int | None = None  # test sentences (spread evenly over the split); None: all
    examples: int = 3  # Figure-3 test sentences (of example_len words, without <unk>, spread over the split)
    example_len: tuple[int, int] = (8, 14)
    decodes: int = 2  # greedy decodes of posterior samples under each example
    through_svi: bool = True  # input saliency: differentiate through the SVI refinement
    tagger: str = "spacy"
    ewt_split: str = "test"  # gold tags for the tagger's accuracy
    ewt_limit: int | None = None  # first EWT sentences (None: the whole split)
    written: tuple[str, ...] = WRITTEN
    # Monte Carlo floor: a gradient whose expectation is 0 still has a norm of order 1/sqrt(S) when averaged over
    # S draws, so the mean saliency is measured again with these S on ``noise_sentences`` sentences
    noise_samples: tuple[int, ...] = (1, 10, 100)
    noise_sentences: int = 200


#: The sizes of quick mode (a few sentences, few samples, a small EWT sample).
QUICK = StudyConfig(samples=3, max_sentences=48, examples=2, ewt_limit=100, noise_samples=(1, 4),
                    noise_sentences=16)


def coarse_tag(tag: str) -> str:
    """Penn tag -> coarse group: NN* -> NN (nouns, proper nouns included), VB* -> VB, JJ* -> JJ, RB* -> RB,
    PRP$ -> PRP, WP$ -> WP; any other tag (CD, DT, IN, ``</s>``, ...) is its own group."""
    for prefix in _COARSE_PREFIXES:
        if tag.startswith(prefix):
            return prefix
    return _COARSE.get(tag, tag)


def _rows(frame) -> list[dict]:
    """A DataFrame as JSON-ready rows (NaN -> None, numpy scalars -> Python)."""
    out = []
    for rec in frame.to_dict(orient="records"):
        row = {}
        for k, v in rec.items():
            v = v.item() if hasattr(v, "item") else v
            row[k] = None if isinstance(v, float) and math.isnan(v) else (str(v) if k in PANELS.values() else v)
        out.append(row)
    return out


def tagger_accuracy(tagger: str = "spacy", split: str = "test", limit: int | None = None,
                    vocab=None) -> dict:
    """The tagger's token accuracy against UD English-EWT gold XPOS: on the text as written, normalised like
    the Mikolov PTB (:func:`savae_lite.pos.ptb_normalise`, tagged with :data:`~savae_lite.pos.PTB_PLACEHOLDERS`)
    and, with ``vocab`` (a collection of words), normalised with words outside it replaced by ``<unk>``."""
    words, gold = pos.ewt_gold(split, limit=limit)
    out = {"split": split, "sentences": len(words), "tokens": sum(map(len, words)),
           "as_written": pos.accuracy(pos.tag(words, tagger), gold)}
    variants = {"ptb_normalised": None}
    if vocab is not None:
        variants["ptb_normalised_unk"] = vocab
    for name, vs in variants.items():
        pairs = [pos.ptb_normalise(w, g, vs) for w, g in zip(words, gold)]
        pairs = [(w, g) for w, g in pairs if w]
        nw, ng = [w for w, _ in pairs], [g for _, g in pairs]
        out[name] = pos.accuracy(pos.tag(nw, tagger, pos.PTB_PLACEHOLDERS), ng)
        out[f"{name}_tokens"] = sum(map(len, nw))
        if name == "ptb_normalised_unk":
            out["unk_share"] = sum(w == "<unk>" for s in nw for w in s) / max(1, out[f"{name}_tokens"])
    return out


def _ids(vocab, words) -> torch.Tensor:
    """(1, T) ids of ``<s> words </s>``."""
    return torch.tensor([[vocab.bos_idx, *vocab.encode(list(words)), vocab.eos_idx]])


def example(model, vocab, words, refine, *, samples: int, decodes: int, seed: int, through_svi: bool = True,
            device: torch.device | str = "cpu") -> dict:
    """Figure 3 for one sentence (a list of words): ``words`` (its targets, ``</s>`` last), their
    ``output_saliency`` and ``input_saliency`` (one value per target; ``<s>``'s input saliency apart) and
    ``samples``: ``decodes`` sentences decoded greedily from draws z ~ q(z; lambda), lambda the refined posterior.
    """
    x = _ids(vocab, words).to(device)
    with saliency.seeded(seed, device):
        lam = test_time_q(model, x, "encoder", refine)
    gen = torch.Generator().manual_seed(seed)
    out = saliency.output_saliency(model, x, lam=lam, samples=samples, generator=gen)
    inp = saliency.input_saliency(model, x, refine, samples=samples, through_svi=through_svi, generator=gen,
                                  seed=seed)
    mu, logvar = (t.detach().cpu() for t in lam)
    z = mu + (0.5 * logvar).exp() * torch.randn(decodes, mu.shape[1], generator=gen)
    decoded = generate.decode(model, z, vocab, unk=False)
    return {"words": vocab.decode(x[0, 1:].tolist()), "output_saliency": out[0].tolist(),
            "input_saliency": inp[0, 1:].tolist(), "input_saliency_bos": float(inp[0, 0]),
            "kl": float(0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum()),
            "samples": [generate.sentence(s) for s in decoded]}


def pick_examples(test_ids: list[list[int]], vocab, n: int, lengths: tuple[int, int]) -> list[int]:
    """Indices of ``n`` test sentences of ``lengths`` words (inclusive), spread evenly over the split: those
    without ``<unk>`` when there are ``n`` of them, else any of that length."""
    fits = [i for i, s in enumerate(test_ids) if lengths[0] <= len(s) - 2 <= lengths[1]]
    ok = [i for i in fits if vocab.unk_idx not in test_ids[i]]
    ok = ok if len(ok) >= n else fits
    if not ok or n <= 0:
        return []
    step = len(ok) / n
    return [ok[int(k * step)] for k in range(n)][:len(ok)]


def noise_floor(pre, test_ids: list[list[int]], cfg: StudyConfig, *, seed: int, device: torch.device,
                batch_size: int = 32) -> list[dict]:
    """Mean output and input saliency of one model on ``cfg.noise_sentences`` sentences of ``test_ids`` (every
    len // n-th, the same for every S) for each S in ``cfg.noise_samples``: a saliency that is Monte Carlo noise
    (the expected gradient 0) falls like 1/sqrt(S), one that measures a real dependence on z stays. Rows:
    samples, sentences, tokens, means."""
    from savae_lite import data

    ids = test_ids[::max(1, len(test_ids) // cfg.noise_sentences)][:cfg.noise_sentences]  # spread
    rows = []
    for s in cfg.noise_samples:
        batches = data.text_batches(ids, batch_size, pad_idx=pre.vocab.pad_idx, by_length=True)
        t = saliency.saliency_table(pre.model.to(device), (b.to(device) for b in batches), pre.vocab,
                                    pre.config.test_svi(), samples=s, tagger=None,
                                    through_svi=cfg.through_svi, seed=seed,
                                    generator=torch.Generator().manual_seed(seed))
        rows.append({"samples": s, "sentences": len(ids), "tokens": len(t),
                     "output_saliency_mean": float(t["output_saliency"].mean()),
                     "input_saliency_mean": float(t["input_saliency"].mean())})
    return rows


def model_study(pre, test_ids: list[list[int]], counts, cfg: StudyConfig, *, seed: int,
                example_ids: list[int], device: torch.device, batch_size: int = 32) -> dict:
    """Token table and grouped tables of one model (:class:`~savae_lite.pretrained.Pretrained`) on the test
    sentences ``test_ids`` (id lists ``<s> .. </s>``), plus the Figure-3 examples; the refined posterior is the
    model's own test-time SVI (``pre.config.test_svi()``)."""
    from scipy import stats

    from savae_lite import data

    model, vocab = pre.model.to(device), pre.vocab
    refine = pre.config.test_svi()
    batches = data.text_batches(test_ids, batch_size, pad_idx=vocab.pad_idx, by_length=True)
    t0 = time.perf_counter()
    table = saliency.saliency_table(model, (b.to(device) for b in batches), vocab, refine, samples=cfg.samples,
                                    counts=counts, tagger=cfg.tagger, through_svi=cfg.through_svi,
                                    generator=torch.Generator().manual_seed(seed), seed=seed,
                                    placeholders=pos.PTB_PLACEHOLDERS)
    table["coarse_tag"] = table["tag"].map(coarse_tag)
    seconds = time.perf_counter() - t0
    panels = {value: {name: _rows(saliency.aggregate(table, col, value)) for name, col in PANELS.items()}
              for value in ("output_saliency", "input_saliency")}
    rho_pos = stats.spearmanr(table["position"], table["output_saliency"])
    rho_rel = stats.spearmanr(table["rel_position"], table["output_saliency"])
    summary = {
        "sentences": int(table["sentence"].nunique()), "tokens": len(table),
        "output_saliency_mean": float(table["output_saliency"].mean()),
        "output_saliency_median": float(table["output_saliency"].median()),
        "output_saliency_max": float(table["output_saliency"].max()),
        "input_saliency_mean": float(table["input_saliency"].mean()),
        "input_saliency_median": float(table["input_saliency"].median()),
        "log_lik_mean": float(table["log_lik"].mean()),
        "unk_share": float((table["word"] == "<unk>").mean()),
        "spearman_position": float(rho_pos.statistic), "spearman_position_p": float(rho_pos.pvalue),
        "spearman_rel_position": float(rho_rel.statistic), "spearman_rel_position_p": float(rho_rel.pvalue),
        "seconds": round(seconds, 2),
    }
    written = [list(cfg.written)]
    sents = [vocab.decode(test_ids[i][1:-1]) for i in example_ids] + written
    kinds = ["test"] * len(example_ids) + ["written"]
    examples = []
    for k, (kind, words) in enumerate(zip(kinds, sents)):
        ex = example(model, vocab, words, refine, samples=cfg.samples, decodes=cfg.decodes, seed=seed + k,
                     through_svi=cfg.through_svi, device=device)
        ex.update(kind=kind, test_index=example_ids[k] if kind == "test" else None,
                  tags=pos.tag([ex["words"]], cfg.tagger, pos.PTB_PLACEHOLDERS)[0])
        examples.append(ex)
    noise = noise_floor(pre, test_ids, cfg, seed=seed, device=device, batch_size=batch_size)
    return {"source": pre.source, "record": pre.record, "train_config": pre.config.to_dict(),
            "refine": dataclasses.asdict(refine), "summary": summary, "tables": panels, "examples": examples,
            "noise_floor": noise}


def _quick_models(work_dir: Path, device: torch.device) -> dict:
    """Two tiny models trained (or resumed) in ``work_dir`` from the ``ptb-collapse-quick`` preset: the settings
    ``vae+anneal`` and ``savae`` of the text study, seed 1."""
    from savae_lite import collapse, pretrained, study

    base = preset("ptb-collapse-quick")
    base.train.device = str(device)
    settings = {s.name: s for s in collapse.SETTINGS}
    return {name: pretrained.load_or_train(study.unit_config(base, settings[name], 1, work_dir))
            for name in CHECKPOINTS}


def run(quick: bool = False, seed: int = 3435, device: str = "auto", work_dir: str | Path | None = None,
        checkpoints: dict[str, str | Path] | None = None, config: StudyConfig | None = None) -> dict:
    """The experiment's record (see the module docstring). ``checkpoints``: model name -> path (default
    :data:`CHECKPOINTS`; not used when ``quick``); ``config``: sizes (default ``StudyConfig()``, ``QUICK``
    when ``quick``); ``work_dir``: where quick mode trains its models (default ``runs/saliency-quick.units``)."""
    from savae_lite import data, pretrained
    from savae_lite.runtime import pick_device

    dev = pick_device(device)
    if dev.type == "cpu":
        torch.set_num_threads(1)  # small LSTMs: one thread is as fast, and leaves the other cores free
    cfg = config or (QUICK if quick else StudyConfig())
    started, t0 = results.stamp(), time.perf_counter()
    if quick:
        models = _quick_models(Path(work_dir or "runs/saliency-quick.units"), dev)
        paths = {name: None for name in models}
    else:
        paths = {name: str(p) for name, p in {**CHECKPOINTS, **(checkpoints or {})}.items()}
        models = {name: pretrained.load(p) for name, p in paths.items()}
    first = next(iter(models.values()))
    for name, m in models.items():
        if m.vocab.itos != first.vocab.itos:
            raise ValueError(f"saliency study: {name}'s vocabulary differs from {next(iter(models))}'s")
    dc = first.config.data
    corpus = data.load_text(dc.name, dc.data_dir, max_len=dc.max_len, vocab_size=dc.vocab_size,
                            max_sentences=dc.max_sentences, genre=dc.genre, download=dc.download)
    test_ids = corpus.test
    if cfg.max_sentences is not None and cfg.max_sentences < len(test_ids):
        step = len(test_ids) / cfg.max_sentences
        test_ids = [test_ids[int(k * step)] for k in range(cfg.max_sentences)]
    counts = saliency.word_counts(corpus.vocab.decode(s[1:-1]) for s in corpus.train)
    example_ids = pick_examples(test_ids, corpus.vocab, cfg.examples, cfg.example_len)
    missing = [w for w in cfg.written if w not in corpus.vocab.stoi]
    if missing:
        raise ValueError(f"saliency study: written sentence has words outside the vocabulary: {missing}")

    t_tag = time.perf_counter()
    accuracy = tagger_accuracy(cfg.tagger, cfg.ewt_split, cfg.ewt_limit, set(corpus.vocab.stoi))
    accuracy["seconds"] = round(time.perf_counter() - t_tag, 2)
    per_model = {}
    for name, m in models.items():
        per_model[name] = {"checkpoint": paths[name],
                           **model_study(m, test_ids, counts, cfg, seed=seed, example_ids=example_ids,
                                         device=dev, batch_size=dc.batch_size)}
    return {
        "experiment": "saliency",
        "quick": quick,
        "started": started,
        "finished": results.stamp(),
        "environment": results.environment(dev),
        "git_commit": results.git_commit(),
        "seed": seed,
        "wall_time_s": round(time.perf_counter() - t0, 2),
        "config": {**dataclasses.asdict(cfg), "placeholders": pos.PTB_PLACEHOLDERS, "panels": PANELS},
        "data": {"config": dataclasses.asdict(dc), "test_sentences": len(test_ids),
                 "test_sentences_in_split": len(corpus.test), "vocab_size": len(corpus.vocab)},
        "tagger": {**pos.tagger_version(cfg.tagger), "accuracy": accuracy},
        "models": per_model,
    }
