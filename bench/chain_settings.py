"""Which child settings move a warm start: a screen beside ``bench/chains.py``.

``bench/chains.py`` compares starts at one set of child settings. This screen trains each
pair's parent once, then, on the same child examples (5 and 10 per label, three samplings)
and all the child's test rows, trains the child under several settings, each given as
``start[:key=value...]``:

- ``start``: ``scratch`` (a fresh adapter, head imprinted) or ``warm`` (from the parent,
  with ``tuner.chains.child_config``: LoRA at ``child_lr_scale`` of the rate), each from
  the settings a cycle gives it (``bench.chains.chains_configs``);
- ``e``: epochs; ``steps``: at most this many steps (0: the start itself, untrained);
  ``s``: ``child_lr_scale``; ``hl``: the head's rate; ``ls``: label smoothing; ``b``: batch size.

``scratch`` and ``warm`` alone are ``bench/chains.py``'s rows exactly (same seeds, same
settings). Accuracy is split into the labels the parent knows (``shared``) and the
child's own (``new``), as there.

    .venv/bin/python bench/chain_settings.py --only 'banking>credit_cards' \\
        --settings scratch,warm,scratch:e=10,warm:e=10,warm:s=0.3,warm:hl=0.02
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.chains import PAIR_SETS, ChainConfigs, chains_configs, select_pairs, setup_pair, train_child  # noqa: E402
from recsys.datasets import clinc150  # noqa: E402
from tuner.chains import child_config  # noqa: E402
from tuner.config import TrainConfig  # noqa: E402
from tuner.loading import load_base  # noqa: E402

RESULTS = ROOT / "bench" / "results"
STARTS = ("scratch", "warm")
KEYS = {"e": ("epochs", int), "steps": ("max_steps", int), "s": ("child_lr_scale", float), "hl": ("head_lr", float),
        "ls": ("label_smoothing", float), "b": ("batch_size", int)}
KINDS = {int: "a whole number", float: "a number"}


def parse_setting(spec: str, configs: ChainConfigs) -> tuple[str, TrainConfig]:
    """``start[:key=value...]`` -> (start, the child's TrainConfig); ValueError names what is wrong.

    Changes apply to the start's settings before a warm start's child rates scale them."""
    start, *pairs = spec.split(":")
    if start not in STARTS:
        raise ValueError(f"--settings {spec!r}: start must be one of {list(STARTS)}, got {start!r}")
    changes = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in KEYS or not value:
            raise ValueError(f"--settings {spec!r}: expected key=value with key in {sorted(KEYS)}, got {pair!r}")
        field, kind = KEYS[key]
        try:
            changes[field] = kind(value)
        except ValueError:
            raise ValueError(f"--settings {spec!r}: {key} must be {KINDS[kind]}, got {value!r}") from None
    if start == "warm":  # TrainConfig validates the values
        return start, child_config(replace(configs.parent_rate, **changes))
    return start, replace(configs.scratch, **changes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", choices=list(PAIR_SETS), default="rotation")
    parser.add_argument("--only", default=None, help="comma-separated pair names of the set (default: all)")
    parser.add_argument("--settings", default="scratch,warm")
    parser.add_argument("--sizes", default="5,10")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", default=None)
    parser.add_argument("--out", type=Path, default=RESULTS / "chain_settings.json")
    args = parser.parse_args(argv)
    configs = chains_configs()
    try:
        settings = [(spec, *parse_setting(spec, configs)) for spec in args.settings.split(",")]
        pairs = select_pairs(args.pairs, args.only)
    except ValueError as error:
        parser.error(str(error))
    torch.set_num_threads(args.threads)
    data = clinc150.load(args.data)
    base = load_base("minilm-l6", "classification")
    layers = list(range(base.num_layers - 2, base.num_layers))
    rows: list[dict] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for pair in pairs:
            setup = setup_pair(base, data, pair, layers=layers, config=configs.scratch, parent_per_label=None,
                               test_per_label=None, work=Path(tmp))
            for n in [int(size) for size in args.sizes.split(",")]:
                for spec, start, child in settings:
                    init = setup.parent_folder if start == "warm" else None
                    splits = [train_child(base, setup, n, seed, layers=layers, config=child, init_from=init)
                              for seed in (1, 2, 3)]
                    row = {"pair": pair.name, "per_label": n, "setting": spec,
                           **{part: statistics.mean(s[part] for s in splits) for part in ("all", "shared", "new")}}
                    rows.append(row)
                    print(f"{pair.name:<34}{n:>4}/label  {spec:<24} all {row['all']:.3f}  shared {row['shared']:.3f}  "
                          f"new {row['new']:.3f}", flush=True)
    result = {"benchmark": "chain_settings", "pairs": [p.name for p in pairs], "settings": args.settings.split(","),
              "rows": rows, "seconds": time.perf_counter() - started, "threads": args.threads}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out} ({result['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
