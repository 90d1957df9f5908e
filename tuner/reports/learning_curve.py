"""Learning curve PNG: step losses and validation loss (and accuracy) over steps."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tuner.reports.style import COLORS, save, styled  # noqa: E402


@styled()
def plot_learning_curve(step_losses: Sequence[float], history: Sequence, path: Path, title: str = "") -> Path:
    """Write the curve of a TrainResult (``step_losses``, ``history`` of EvalPoints) to ``path``."""
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(range(1, len(step_losses) + 1), step_losses, color=COLORS["train"], alpha=0.35, label="train loss (step)")
    evals = [p for p in history if p.val_loss is not None]
    if evals:
        ax.plot([p.step for p in evals], [p.val_loss for p in evals], "o-", color=COLORS["validation"], label="validation loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (cross-entropy, nats)")
    handles, labels = ax.get_legend_handles_labels()
    accuracy = [p for p in evals if p.val_accuracy is not None]
    if accuracy:
        twin = ax.twinx()
        twin.plot([p.step for p in accuracy], [p.val_accuracy for p in accuracy], "s--", color=COLORS["accuracy"],
                  label="validation accuracy")
        twin.set_ylabel("accuracy (fraction correct)")
        twin.set_ylim(0, 1)
        twin.grid(False)
        more_handles, more_labels = twin.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    # Below the axes (a twin axis owns the right side), never over the curves.
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=len(labels))
    ax.set_title(title)
    return save(fig, path)
