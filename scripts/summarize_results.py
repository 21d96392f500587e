"""Print a Markdown table of the README's CPU runs from their committed records in results/.

    python scripts/summarize_results.py            # every results/ptb-small-*.json

Every number comes from a run record: ``results/NAME.json`` is the ``results.json`` that
``savae-lite train --preset ptb-small --mode MODE`` wrote (config, seed, device, commit, per-epoch metrics, and
the test report: with and without test-time SVI, and the IW-NLL on a subset spread evenly over the test set).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "results"
HEADER = ("| mode | epochs | train s/epoch | test, encoder's λ₀: NLL bound / KL / MI / AU / PPL bound "
          "| test, after K SVI steps: the same | IW subset: sentences, bound / IW-NLL (S) | commit |")


def cell(m: dict) -> str:
    return f"{m['nll_bound']:.2f} / {m['kl']:.3f} / {m['mi']:.3f} / {m['au']} / {m['ppl_bound']:.1f}"


def row(path: Path) -> str:
    rec = json.loads(path.read_text())
    test, tc = rec["test"], rec["config"]["train"]
    no_refine = cell(test["no_refine"]) if "no_refine" in test else "–"
    iw = test.get("iw")
    iw_cell = (f"{iw['examples']}, {iw['nll_bound_same_examples']:.2f} / {iw['iw_nll']:.2f} ({iw['iw_samples']})"
               if iw else "–")
    return (f"| `{tc['mode']}` | {len(rec['epochs'])} | {rec['train_time_per_epoch_s']:.0f} | {no_refine} | "
            f"{cell(test['refine'])} (K = {test['refine']['svi_steps']}) | {iw_cell} | "
            f"{rec['environment']['git_commit'][:7]} |")


def main() -> int:
    print(HEADER)
    print("|---|---|---|---|---|---|---|")
    for path in sorted(ROOT.glob("ptb-small-*.json")):
        print(row(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
