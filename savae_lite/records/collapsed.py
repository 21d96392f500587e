"""When a text VAE's latent counts as collapsed, and how a unit's use of it reads (chapter 5's words, shared by
its main-table and sweep readings: :mod:`savae_lite.records.collapse_findings`,
:mod:`savae_lite.records.collapse_sweeps`).

Chapter: *Text VAEs and posterior collapse*.
"""
from __future__ import annotations

from savae_lite.records.tables import PM, counted

#: Below this KL in nats per example the posterior has collapsed (every chapter and the closing page).
COLLAPSED_KL = 0.1


def use(row) -> str:
    """How much a setting (a summary row: mean, ``*_sd`` and ``seeds``) uses z, in the text and image chapters'
    words: ``KL 0.931 ± 0.188, MI 0.912 ± 0.187, AU 1.3 ± 0.6 over 3 seeds`` (``AU 1`` for one seed)."""
    seeds = int(row["seeds"])
    return (f"KL {PM.of(row, 'kl', 3)}, MI {PM.of(row, 'mi', 3)}, AU {PM.of(row, 'au', 1 if seeds > 1 else 0)} "
            f"over {counted(seeds, 'seed')}")


def collapsed(row, threshold: float = COLLAPSED_KL) -> bool:
    """True when the setting's mean KL is below ``threshold`` (nats): its posterior has collapsed."""
    return float(row["kl"]) < threshold


def phase_end(row) -> str:
    """The epoch in which a row's aggressive phase was off for the first time ("never" if it stayed on)."""
    for h in row.get("history", []):
        state = h.get("aggressive", True)
        active = state.get("active", True) if isinstance(state, dict) else bool(state)
        if not active:
            return str(h["epoch"])
    return "never"
