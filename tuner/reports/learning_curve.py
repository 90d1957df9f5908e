"""Learning curve PNG: step losses and validation loss (and accuracy) over steps."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_learning_curve(step_losses: Sequence[float], history: Sequence, path: Path, title: str = "") -> Path:
    """Write the curve of a TrainResult (``step_losses``, ``history`` of EvalPoints) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(range(1, len(step_losses) + 1), step_losses, color="tab:blue", alpha=0.35, label="train loss (step)")
    evals = [p for p in history if p.val_loss is not None]
    if evals:
        ax.plot([p.step for p in evals], [p.val_loss for p in evals], "o-", color="tab:orange", label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    accuracy = [p for p in evals if p.val_accuracy is not None]
    if accuracy:
        twin = ax.twinx()
        twin.plot([p.step for p in accuracy], [p.val_accuracy for p in accuracy], "s--", color="tab:green", label="validation accuracy")
        twin.set_ylabel("accuracy")
        twin.set_ylim(0, 1)
        twin.legend(loc="upper right")
    ax.legend(loc="upper left")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
