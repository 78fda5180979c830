"""The report section of the ``optimizers`` experiment: our checks (not claims of the paper) of α under
Adam, AdamW with a cosine schedule and weight decay on learned embeddings, beside SGD."""

from __future__ import annotations

import html
import math
from typing import Any


def _f(x: Any, fmt: str = ".3f") -> str:
    return "—" if x is None or not math.isfinite(float(x)) else format(float(x), fmt)


def section(result: dict[str, Any]) -> tuple[str, str]:
    """(title, HTML): one row per setting and a: α with its 95 % interval, α − α_SGD, the local exponent
    at the window's centre, the fitted L0 and the final loss."""
    steps = result.get("fit_steps", [1e3, 1e4])
    head = ("<tr><th>a</th><th>setting</th><th>seeds</th><th>window (t)</th><th>α</th><th>95 % interval</th>"
            "<th>α − α_SGD</th><th>local exponent at the window centre</th><th>L0</th><th>final loss</th></tr>")
    body = []
    for r in sorted(result.get("rows", []), key=lambda r: (r["a"], r["label"])):
        f = r["fit"]
        w = r["window"]
        body.append(
            f"<tr><td>{r['a']:g}</td><td>{html.escape(r['label'])}</td><td>{len(r['seeds'])}</td>"
            f"<td>[{w[0]:.3g}, {w[1]:.3g}]</td><td>{_f(f.get('alpha'))}</td>"
            f"<td>[{_f(f.get('lo'))}, {_f(f.get('hi'))}]</td><td>{_f(r.get('dalpha_sgd'), '+.3f')}</td>"
            f"<td>{_f(r.get('local_mid'))} (t = {r['t_mid']:.3g})</td><td>{_f(f.get('L0'), '.3g')}</td>"
            f"<td>{_f(r.get('final_loss'), '.3g')}</td></tr>")
    text = (f"<p>Our checks, not claims of the paper. Each setting trains {int(steps[1]):d} steps; α of "
            f"L = c t<sup>−α</sup> + L0 is fitted on the paper's window in steps, [{steps[0]:g}, {steps[1]:g}], "
            "mapped to the integrated rate t = Σ<sub>k</sub> lr<sub>k</sub> of the setting (the window column), "
            "with a 95 % percentile bootstrap over seeds (± 1.96 SE for one seed). The local exponent is "
            "−d log L / d log t of the seed-mean curve. α − α<sub>SGD</sub> compares with SGD at the paper's "
            "rate at the same a.</p>")
    return ("Optimizers, schedules and weight decay (our checks)",
            f"{text}<table class='claims'>{head}{''.join(body)}</table>")
