"""Zero-shot accuracy before any traffic: how label names are read, and what descriptions add.

A domain answers zero-shot until its first cycle (and a new head starts from the same
label embeddings), so how a label's name and declared description become a vector
decides its first answers. On CLINC150's test queries, over all its intents at once:

- ``spelling``: the intents' names written snake_case (CLINC's own), kebab-case and
  CamelCase (SNIPS-style), each read as words (``tuner.encoding.label_text``) and as the
  code read them before (underscores to spaces, nothing else);
- ``descriptions``: names only, against names with a description
  (``tuner.heads.label_embeddings``: the mean of the name's and the description's
  embeddings), the two joined into one text, and the description alone. CLINC150 has no
  descriptions; the stand-in is one of the intent's validation queries (``--picks``: which
  one, so a lucky pick shows), as a user might describe a label by an example.

    .venv/bin/python bench/zero_shot.py            # bench/results/zero_shot.json and .png
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from recsys.datasets import clinc150  # noqa: E402
from tuner.config import DEFAULT_MAX_LENGTH  # noqa: E402
from tuner.encoding import label_text  # noqa: E402
from tuner.heads import embed_texts, label_embeddings  # noqa: E402
from tuner.loading import load_base  # noqa: E402
from tuner.reports.style import save, styled  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SPELLINGS = {
    "snake_case": lambda name: name,
    "kebab-case": lambda name: name.replace("_", "-"),
    "CamelCase": lambda name: "".join(word.capitalize() for word in name.split("_")),
}


def underscores_only(name: str) -> str:
    """How label names were read before ``label_text``: underscores to spaces, nothing else."""
    return name.replace("_", " ")


def accuracy(queries: torch.Tensor, gold: torch.Tensor, rows: torch.Tensor) -> float:
    """Share of queries whose most similar label row (cosine) is their own label's."""
    return float(((queries @ rows.T).argmax(dim=1) == gold).float().mean())


def description_picks(val, labels: list[str], pick: int) -> dict[str, str]:
    """Each intent's ``pick``-th validation query, as its description."""
    seen: dict[str, list[str]] = defaultdict(list)
    for row in val:
        seen[row.intent].append(row.text)
    short = [label for label in labels if len(seen[label]) <= pick]
    if short:
        raise ValueError(f"--picks {pick}: intent {short[0]!r} has only {len(seen[short[0]])} validation queries")
    return {label: seen[label][pick] for label in labels}


def run(args) -> dict:
    data = clinc150.load(args.data)
    base = load_base(args.model, "classification")
    labels = sorted({row.intent for row in data.test})
    embed = lambda texts: F.normalize(  # noqa: E731
        embed_texts(base.model, base.tokenizer, texts, base.pooling, max_length=args.max_length), dim=-1
    )
    queries = embed([row.text for row in data.test])
    gold = torch.tensor([labels.index(row.intent) for row in data.test])
    spelling = {}
    for name, spell in SPELLINGS.items():
        written = [spell(label) for label in labels]
        spelling[name] = {
            "as_words": accuracy(queries, gold, embed([label_text(w) for w in written])),
            "underscores_only": accuracy(queries, gold, embed([underscores_only(w) for w in written])),
        }
    names_only = accuracy(queries, gold, label_embeddings(base.model, base.tokenizer, labels, base.pooling, args.max_length))
    descriptions = []
    for pick in args.picks:
        described = description_picks(data.val, labels, pick)
        descriptions.append({
            "pick": pick,
            "names_only": names_only,
            "name_and_description": accuracy(queries, gold, label_embeddings(
                base.model, base.tokenizer, labels, base.pooling, args.max_length, described)),
            "joined_text": accuracy(queries, gold, embed([f"{label_text(label)}: {described[label]}" for label in labels])),
            "description_only": accuracy(queries, gold, embed([described[label] for label in labels])),
        })
    return {"labels": len(labels), "queries": len(data.test), "spelling": spelling, "descriptions": descriptions}


@styled()
def plot(result: dict, path: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    names = list(result["spelling"])
    for offset, (reading, color) in enumerate((("underscores_only", "C7"), ("as_words", "C0"))):
        left.bar([i + (offset - 0.5) * 0.4 for i in range(len(names))], [result["spelling"][n][reading] for n in names],
                 width=0.4, color=color, label=reading.replace("_", " "))
    left.set_xticks(range(len(names)), names)
    left.set_ylabel("zero-shot accuracy (fraction, 0-1)")
    left.set_title(f"label names, {result['labels']} intents", fontsize=9)
    left.legend(fontsize=7)
    arms = ["names_only", "description_only", "joined_text", "name_and_description"]
    for offset, row in enumerate(result["descriptions"]):
        width = 0.8 / len(result["descriptions"])
        right.bar([i + (offset - (len(result["descriptions"]) - 1) / 2) * width for i in range(len(arms))],
                  [row[arm] for arm in arms], width=width, color=f"C{offset}", label=f"pick {row['pick']}")
    right.set_xticks(range(len(arms)), [arm.replace("_", " ") for arm in arms], fontsize=7)
    right.set_ylabel("zero-shot accuracy (fraction, 0-1)")
    right.set_title("with a description per label", fontsize=9)
    right.legend(fontsize=7)
    save(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="CLINC150 folder (default: $ADAPTUNE_CLINC150 or ../shared/data/clinc150)")
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--picks", type=int, nargs="+", default=[0, 1, 2],
                        help="which validation query of each intent stands in for its description")
    parser.add_argument("--max-length", type=int, default=DEFAULT_MAX_LENGTH)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "zero_shot.json")
    args = parser.parse_args(argv)
    if any(pick < 0 for pick in args.picks):
        parser.error(f"--picks must be >= 0, got {args.picks}")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    result = {"benchmark": "zero_shot", "model": args.model, **run(args), "seconds": time.perf_counter() - started}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    plot(result, args.out.with_suffix(".png"))
    for name, row in result["spelling"].items():
        print(f"{name:>11}: as words {row['as_words']:.4f}, underscores only {row['underscores_only']:.4f}")
    for row in result["descriptions"]:
        print(f"pick {row['pick']}: names {row['names_only']:.4f}, name and description {row['name_and_description']:.4f}, "
              f"joined {row['joined_text']:.4f}, description only {row['description_only']:.4f}")
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
