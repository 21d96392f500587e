"""Figure 3 of Kim et al. (2018), Section 5.4: a sentence's words shaded by their saliency, with posterior samples
listed below, as an HTML string that Jupyter and a Jupyter Book page display (inline CSS only, no script).

Chapter: *What the latent encodes*. The saliencies come from :mod:`savae_lite.saliency`; the names here are
importable from there too (``saliency.render_html``).
"""
from __future__ import annotations

import html
from collections.abc import Sequence

# ------------------------------------------------------------------------------------------ Figure 3 (HTML)


class SaliencyHTML(str):
    """An HTML string that Jupyter (and a Jupyter Book page) displays as HTML."""

    def _repr_html_(self) -> str:
        return str(self)


def render_html(words: Sequence[str], saliency: Sequence[float], samples: Sequence[str | Sequence[str]] | None = None,
                *, vmax: float | None = None, rgb: tuple[int, int, int] = (214, 39, 40),
                title: str | None = None) -> SaliencyHTML:
    """Figure 3: ``words`` shaded by ``saliency`` (one value each; opacity saliency / ``vmax``, default the
    maximum), each value in the word's tooltip; ``samples`` (sentences, strings or token lists) listed below as
    posterior samples. Inline CSS only, no script: readable offline."""
    if len(words) != len(saliency):
        raise ValueError(f"render_html: {len(words)} words but {len(saliency)} saliency values")
    vals = [float(s) for s in saliency]
    top = vmax if vmax is not None else max(vals, default=0.0)
    r, g, b = rgb
    spans = []
    for w, s in zip(words, vals):
        alpha = min(max(s / top, 0.0), 1.0) if top > 0 else 0.0
        fg = "#fff" if alpha > 0.6 else "#000"
        spans.append(f'<span title="{s:.4g}" style="background:rgba({r},{g},{b},{alpha:.3f});color:{fg};'
                     f'padding:1px 3px;margin:1px;border-radius:3px;display:inline-block">{html.escape(w)}</span>')
    parts = ['<div class="savae-saliency" style="font-family:sans-serif;line-height:1.9;margin:0.5em 0">']
    if title:
        parts.append(f'<div style="font-weight:bold">{html.escape(title)}</div>')
    parts.append("<div>" + " ".join(spans) + "</div>")
    if samples:
        items = "".join(f"<li>{html.escape(s if isinstance(s, str) else ' '.join(s))}</li>" for s in samples)
        parts.append('<div style="font-size:90%;color:#444">Posterior samples:<ul style="margin:0.2em 0">'
                     f"{items}</ul></div>")
    parts.append("</div>")
    return SaliencyHTML("".join(parts))
