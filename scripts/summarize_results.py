"""Print Markdown tables of the README's CPU runs and machine benchmarks from their records in results/.

    python scripts/summarize_results.py            # results/ptb-small-*.json, sharing.json, bench-distributed.json

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


def sharing_table(rec: dict) -> list[str]:
    """``savae-lite bench --only sharing``: steps/s alone and next to one busy process, per thread policy."""
    sh = rec["sharing"]
    lines = ["| policy | threads | alone steps/s | loaded steps/s | loaded / alone | alone / best alone "
             "| loaded / best alone |", "|---|---|---|---|---|---|---|"]
    for name, p in sh["policies"].items():
        lines.append(f"| {name} | {p['threads']} | {p['alone_steps_per_s']:.3f} | {p['loaded_steps_per_s']:.3f} | "
                     f"{p['loaded_over_alone']:.2f} | {p['alone_over_best_alone']:.2f} | "
                     f"{p['loaded_over_best_alone']:.2f} |")
    lines.append(f"\n({sh['recipe']}, {sh['steps_per_measurement']} steps x {sh['rounds']} rounds, medians; "
                 f"commit {rec['environment']['git_commit'][:7]})")
    return lines


def distributed_table(rec: dict) -> list[str]:
    """``python -m savae_lite.bench.distributed``: examples/s of N gloo processes against one."""
    eps = rec["examples_per_s"]
    return ["| processes | batch per process | examples/s | speed-up |", "|---|---|---|---|",
            f"| 1 | {rec['batch_size']} | {eps['one']:.1f} | 1.00 |",
            f"| {rec['world']} | {rec['batch_size'] // rec['world']} (same global batch) | "
            f"{eps['same_global_batch']:.1f} | {rec['speedup_same_global_batch']:.2f} |",
            f"| {rec['world']} | {rec['batch_size']} | {eps['same_batch_per_process']:.1f} | "
            f"{rec['speedup_same_batch_per_process']:.2f} |",
            f"\n({rec['mode']}, {rec['preset']} model, one thread per process, medians of {rec['rounds']} "
            f"rounds; commit {rec['environment']['git_commit'][:7]})"]


def main() -> int:
    print(HEADER)
    print("|---|---|---|---|---|---|---|")
    for path in sorted(ROOT.glob("ptb-small-*.json")):
        print(row(path))
    for name, table in (("sharing.json", sharing_table), ("bench-distributed.json", distributed_table)):
        if (ROOT / name).exists():
            print(f"\n`{name}`:\n")
            print("\n".join(table(json.loads((ROOT / name).read_text()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
