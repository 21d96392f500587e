"""Print a Markdown table of the README's CPU runs from their committed records in results/.

    python scripts/summarize_results.py            # all runs found in results/
Every number comes from a results file: *.train.json (the training run), *.test.json (`savae-lite eval` on the
whole test split) and *.iw500.json (`savae-lite eval --iw-samples 500` on 200 test sentences spread evenly).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "results"


def row(name: str) -> str:
    train = json.loads((ROOT / f"{name}.train.json").read_text())
    test = json.loads((ROOT / f"{name}.test.json").read_text())
    iw = json.loads((ROOT / f"{name}.iw500.json").read_text())
    mode = train["config"]["train"]["mode"]
    k = train["config"]["train"]["svi"]["steps"]
    epochs = len(train["epochs"])
    per_epoch = train["train_time_per_epoch_s"]
    cells = []
    for key in ("no_refine", "refine"):
        m = test[key]
        cells.append(f"{m['nll_bound']:.2f} / {m['kl']:.3f} / {m['mi']:.3f} / {m['au']} / {m['ppl_bound']:.1f}")
    sub = iw["refine"]
    return (f"| `{mode}` | {epochs} | {per_epoch:.0f} | {cells[0]} | {cells[1]} | {sub['nll_bound']:.2f} / "
            f"{sub['iw_nll']:.2f} | {train['environment']['git_commit'][:7]} |")


def main() -> int:
    names = sorted({p.name.split(".")[0] for p in ROOT.glob("*.train.json")})
    print("| mode | epochs | train s/epoch | test, encoder's λ₀: NLL bound / KL / MI / AU / PPL bound "
          "| test, after K=5 SVI steps: the same | 200 test sentences, refined: bound / IW-NLL (S=500) | run |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        print(row(name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
