"""Layer importance heatmap PNG: domains x layers, one panel per module group.

Cells completed by collaborative filtering are hatched so a reader sees at a
glance which numbers were measured by a probe and which were borrowed from
similar domains; chosen layers (when given) carry a dot.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

from recsys.layers import LayerImportance, LayerSelection  # noqa: E402
from tuner.reports.style import save, styled  # noqa: E402


@styled()
def plot_layer_heatmap(
    importance: LayerImportance,
    path: Path | str,
    selections: Mapping[str, LayerSelection] | None = None,
    title: str = "",
) -> Path:
    """Write the heatmap of ``importance`` to ``path`` and return the path."""
    selections = selections or {}
    groups = sorted({group for _, group in importance.targets})
    layers = importance.num_layers
    rows = len(importance.domains)
    labels = [
        f"{domain} ({count} probe{'s' if count != 1 else ''})" if count else f"{domain} (cf)"
        for domain, count in zip(importance.domains, importance.probe_counts)
    ]
    width = min(4 + 0.35 * layers * len(groups), 30)
    height = 1.2 + 0.45 * rows
    fig, axes = plt.subplots(1, len(groups), figsize=(width, height), squeeze=False, sharey=True,
                             layout="constrained")  # constrained: the figure title keeps clear of the panel titles
    image = None
    for ax, group in zip(axes[0], groups):
        columns = [importance.targets.index((layer, group)) for layer in range(layers)]
        values = importance.values[:, columns]
        probed = importance.probed[:, columns]
        image = ax.imshow(values, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
        for i, j in zip(*np.nonzero(~probed)):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="white", lw=0))
        for i, domain in enumerate(importance.domains):
            chosen = [layer for layer, g in (selections[domain].targets if domain in selections else ()) if g == group]
            if chosen:
                ax.plot(chosen, [i] * len(chosen), "o", color="red", markersize=4)
        ax.set_title(f"module group: {group}")
        ax.set_xlabel("layer index (0 = input side)")
        ax.grid(False)
        step = max(1, layers // 15)
        ax.set_xticks(range(0, layers, step))
        ax.set_yticks(range(rows), labels)
    legend = [Patch(facecolor="grey", hatch="///", edgecolor="white", label="completed by CF")]
    if selections:
        legend.append(plt.Line2D([], [], marker="o", color="red", linestyle="", label="selected"))
    fig.colorbar(image, ax=axes[0].tolist(), fraction=0.03, pad=0.04, label="importance\n(1 = top target)")
    # Below the tick labels and axis titles (they reach about 0.35 in under the figure's bottom edge).
    fig.legend(handles=legend, loc="upper center", bbox_to_anchor=(0.45, -0.4 / height), ncol=len(legend), frameon=False)
    # The figure title sits above the panel titles: y > 1 plus bbox_inches="tight" keeps them apart.
    fig.suptitle(title or f"layer importance by domain ({importance.base_model})", y=1.0 + 0.35 / height)
    return save(fig, path)
