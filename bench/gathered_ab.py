"""A/B of two gathered-LoRA implementations in one process: the current one against ``--before``.

GPU serving ratios of a small model move with the host (a fresh H100 measured the same
code at 0.57 and 0.79 of base), so a change to ``tuner/serving/gathered.py`` is judged
against the version before it on the same model, adapters and tokens, in interleaved
rounds: base, single (every row on one adapter) and mixed (rows cycling through all
adapters), each implementation in turn. Per round, each path's tokens/s over the base's
in that round; the JSON has every round, the medians, how many rounds the current one
won and the Wilcoxon signed-rank p-value of the paired ratios, and the relative output
difference between the two (they must agree).

    git show REV:tuner/serving/gathered.py > /tmp/before.py
    python3 bench/gathered_ab.py --before /tmp/before.py --device cuda --rounds 30
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import torch
from scipy.stats import wilcoxon

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.forward_tokens import adapter_folder, interleaved_rounds, peft_with_adapters  # noqa: E402
from bench.random_models import SHAPES, WORDS, save_random_model  # noqa: E402
from tuner.device import autocast  # noqa: E402
from tuner.loading import load_base  # noqa: E402
from tuner.serving import gathered as current  # noqa: E402
from tuner.serving.lora_weights import read_lora_weights  # noqa: E402


def load_module(path: Path) -> ModuleType:
    """Import ``path`` as a module of its own (the implementation to compare against)."""
    spec = importlib.util.spec_from_file_location("gathered_before", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"--before {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def paired(after: list[float], before: list[float]) -> dict:
    """Median ratios, the rounds ``after`` won, and the signed-rank test of the pairs."""
    return {
        "after_median": statistics.median(after),
        "before_median": statistics.median(before),
        "median_paired_difference": statistics.median(a - b for a, b in zip(after, before)),
        "rounds_after_won": sum(a > b for a, b in zip(after, before)),
        "rounds": len(after),
        "wilcoxon_p": float(wilcoxon(after, before).pvalue) if len(after) > 1 and after != before else 1.0,
    }


def measure(before: ModuleType, *, device: str, shape: str, batch: int, seq: int, adapters: int, rounds: int,
            repeats: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="adaptune-gathered-ab-") as tmp:
        root = Path(tmp)
        base = load_base(str(save_random_model(shape, root / "model")), "classification", device=device)
        peft_with_adapters(base, adapters, 8, root / "adapters")  # random adapters, saved as PEFT folders
        names = [f"a{i}" for i in range(adapters)]
        slots = {}
        for tag, module in (("after", current), ("before", before)):
            lora = module.GatheredLora(base.fork(), slots=adapters, rank=8)
            for name in names:
                lora.load(name, read_lora_weights(adapter_folder(root / "adapters", name)))
            slots[tag] = lora
        ids = torch.randint(len(base.tokenizer) - WORDS, len(base.tokenizer), (batch, seq),
                            generator=torch.Generator().manual_seed(1)).to(base.device)
        mask = torch.ones_like(ids)
        row_sets = {"single": [names[0]] * batch, "mixed": [names[i % adapters] for i in range(batch)]}

        def forward(model) -> torch.Tensor:
            with autocast(model):
                return model(input_ids=ids, attention_mask=mask).last_hidden_state

        def through(tag: str, rows: list[str]):
            def run() -> torch.Tensor:
                with slots[tag].rows(rows):
                    return forward(slots[tag].model)
            return run

        modes = {"base": lambda: forward(base.model)}
        for kind, rows in row_sets.items():
            for tag in ("after", "before"):
                modes[f"{kind}_{tag}"] = through(tag, rows)
        with torch.inference_mode():
            outputs = {mode: run().float() for mode, run in modes.items()}
            tokens = interleaved_rounds(modes, rounds=rounds, repeats=repeats, tokens=batch * seq, device=base.device,
                                        desc=f"A/B rounds ({shape}, {base.device.type})")
    ratios = {mode: [t / b for t, b in zip(tokens[mode], tokens["base"])] for mode in modes if mode != "base"}
    difference = {kind: float((outputs[f"{kind}_after"] - outputs[f"{kind}_before"]).norm() / outputs[f"{kind}_before"].norm())
                  for kind in row_sets}
    return {
        "device": torch.cuda.get_device_name(base.device) if base.device.type == "cuda" else "cpu",
        "torch": torch.__version__, "shape": shape, "batch": batch, "seq": seq, "adapters": adapters, "rank": 8,
        "rounds": rounds, "repeats": repeats,
        "vs_base": {kind: paired(ratios[f"{kind}_after"], ratios[f"{kind}_before"]) for kind in row_sets},
        "relative_output_difference": difference,
        "ratios_per_round": ratios,
        "tokens_per_s_per_round": tokens,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="the gathered.py to compare against")
    parser.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
    parser.add_argument("--shape", default=None, choices=sorted(SHAPES), help="default: smollm2-135m on cuda, minilm-l6 on cpu")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="JSON (default bench/results[/gpu]/gathered_ab.json)")
    args = parser.parse_args(argv)
    if not args.before.is_file():
        parser.error(f"--before {args.before}: no such file")
    if args.rounds < 2 or args.repeats < 1:
        parser.error("--rounds must be at least 2 and --repeats at least 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device")
    shape = args.shape or ("smollm2-135m" if args.device == "cuda" else "minilm-l6")
    batch, seq = (64, 64) if args.device == "cuda" else (32, 32)
    result = measure(load_module(args.before), device=args.device, shape=shape, batch=batch, seq=seq, adapters=20,
                     rounds=args.rounds, repeats=args.repeats)
    result["before"] = str(args.before)
    out = args.out or ROOT / "bench" / "results" / ("gpu" if args.device == "cuda" else "") / "gathered_ab.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    for kind, summary in result["vs_base"].items():
        print(f"{kind}: {summary['after_median']:.2f} of base (before: {summary['before_median']:.2f}); won "
              f"{summary['rounds_after_won']} of {summary['rounds']} rounds, Wilcoxon p {summary['wilcoxon_p']:.3g}; "
              f"outputs differ by {result['relative_output_difference'][kind]:.1e}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
