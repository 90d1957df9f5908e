"""Forward-pass throughput of mixed-adapter batches: the project's gathered LoRA against PEFT's.

A random-weight model of an embedded model's shape (``random_models.py``), ``adapters``
LoRA adapters of rank ``rank`` on every linear module of every layer (random B), and
one batch of ``batch x seq`` tokens, timed side by side in interleaved rounds (median):

- base: the bare model;
- single: the project's serving forward (``GatheredLora``) with every row on one adapter;
- mixed: the same forward with the rows cycling through all adapters;
- peft_single / peft_mixed: PEFT with one active adapter / ``adapter_names`` per row.

The mixed outputs of both paths are compared (max absolute difference) so a fast wrong
answer cannot pass. Used by ``bench/serving.py`` (CPU: the MiniLM shape; ``--device
cuda``: the SmolLM2-135M shape, 64 x 64 tokens, like the issue's table).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from tqdm import tqdm

from bench.random_models import WORDS, save_random_model
from tuner.adapters import quiet_peft
from tuner.architectures import MODULE_GROUPS, target_module_names
from tuner.device import autocast
from tuner.loading import BaseModel, load_base
from tuner.serving.gathered import GatheredLora
from tuner.serving.lora_weights import read_lora_weights

MODES = ("base", "single", "mixed", "peft_single", "peft_mixed")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_rounds(
    modes: dict[str, Callable[[], torch.Tensor]], *, rounds: int, repeats: int, tokens: int, device: torch.device, desc: str
) -> dict[str, list[float]]:
    """Tokens/s of every mode in each of ``rounds`` rounds (``repeats`` calls each, modes interleaved), after a warm-up."""
    for run in modes.values():  # warm-up (kernels, caches)
        run()
    runs: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in tqdm(range(rounds), desc=desc, leave=False):
        for mode, run in modes.items():
            _sync(device)
            started = time.perf_counter()
            for _ in range(repeats):
                run()
            _sync(device)
            runs[mode].append(tokens * repeats / (time.perf_counter() - started))
    return runs


def peft_with_adapters(base: BaseModel, count: int, rank: int, folder: Path) -> PeftModel:
    """``count`` random rank-``rank`` adapters on every linear of every layer, saved under ``folder``."""
    targets = target_module_names(base.model, list(range(base.num_layers)), list(MODULE_GROUPS))
    config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=targets)
    with quiet_peft():
        peft = get_peft_model(base.fork(), config, adapter_name="a0")
        for i in range(1, count):
            peft.add_adapter(f"a{i}", config)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in peft.named_parameters():
            if "lora_B" in name:
                param.copy_((torch.randn(param.shape, generator=generator) * 0.02).to(param.device))
    peft.save_pretrained(str(folder))
    return peft.eval()


def adapter_folder(root: Path, name: str) -> Path:
    """Where ``save_pretrained`` put adapter ``name`` (the first adapter may sit at the root)."""
    return root / name if (root / name).is_dir() else root


def measure(
    shape: str, device: str, *, batch: int, seq: int, adapters: int = 20, rank: int = 8, rounds: int = 3, repeats: int = 3
) -> dict:
    with tempfile.TemporaryDirectory(prefix="adaptune-forward-") as tmp:
        root = Path(tmp)
        base = load_base(str(save_random_model(shape, root / "model")), "classification", device=device)
        where = base.device
        peft = peft_with_adapters(base, adapters, rank, root / "adapters")
        names = [f"a{i}" for i in range(adapters)]
        gathered = GatheredLora(base.fork(), slots=adapters, rank=rank)
        for name in names:
            gathered.load(name, read_lora_weights(adapter_folder(root / "adapters", name)))
        generator = torch.Generator().manual_seed(1)
        ids = torch.randint(len(base.tokenizer) - WORDS, len(base.tokenizer), (batch, seq), generator=generator).to(where)
        mask = torch.ones_like(ids)
        rows = [names[i % adapters] for i in range(batch)]

        def forward(model, **extra) -> torch.Tensor:
            with autocast(model):
                return model(input_ids=ids, attention_mask=mask, **extra).last_hidden_state

        def gathered_forward(row_names: list[str]) -> Callable[[], torch.Tensor]:
            def run() -> torch.Tensor:
                with gathered.rows(row_names):
                    return forward(gathered.model)

            return run

        def peft_single() -> torch.Tensor:
            peft.set_adapter("a0")
            return forward(peft)

        modes: dict[str, Callable[[], torch.Tensor]] = {
            "base": lambda: forward(base.model),
            "single": gathered_forward([names[0]] * batch),
            "mixed": gathered_forward(rows),
            "peft_single": peft_single,
            "peft_mixed": lambda: forward(peft, adapter_names=rows),
        }
        with torch.inference_mode():
            mixed_out, peft_out = modes["mixed"]().float(), modes["peft_mixed"]().float()
            single_out, peft_single_out = modes["single"]().float(), modes["peft_single"]().float()
            runs = interleaved_rounds(modes, rounds=rounds, repeats=repeats, tokens=batch * seq, device=where,
                                      desc=f"forward rounds ({shape}, {where.type})")
    tokens = {mode: statistics.median(values) for mode, values in runs.items()}
    return {
        "device": torch.cuda.get_device_name(where) if where.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "shape": shape,
        "tokens_per_pass": batch * seq,
        "batch": batch,
        "seq": seq,
        "adapters": adapters,
        "rank": rank,
        "autocast": "bf16" if where.type == "cuda" else "none (float32)",
        **{f"{mode}_tokens_per_s": tokens[mode] for mode in MODES},
        "mixed_vs_single": tokens["mixed"] / tokens["single"],
        "single_vs_base": tokens["single"] / tokens["base"],
        "mixed_vs_peft_mixed": tokens["mixed"] / tokens["peft_mixed"],
        "peft_mixed_vs_peft_single": tokens["peft_mixed"] / tokens["peft_single"],
        "max_abs_diff_mixed_vs_peft_mixed": float((mixed_out - peft_out).abs().max()),
        "max_abs_diff_single_vs_peft_single": float((single_out - peft_single_out).abs().max()),
        "rounds": rounds,
        "repeats": repeats,
        "runs_tokens_per_s": runs,
    }


def table(result: dict) -> str:
    base = result["base_tokens_per_s"]
    lines = [
        f"{result['shape']} shape, random weights, {result['adapters']} rank-{result['rank']} adapters on every linear, "
        f"{result['batch']} x {result['seq']} tokens, {result['device']} ({result['autocast']})",
        "| path | tokens/s | vs base |",
        "| --- | ---: | ---: |",
    ]
    labels = {
        "base": "base, no adapter",
        "single": "one adapter, gathered (ours)",
        "mixed": f"{result['adapters']} adapters mixed, gathered (ours)",
        "peft_single": "one adapter, PEFT unmerged",
        "peft_mixed": f"{result['adapters']} adapters mixed, PEFT adapter_names",
    }
    for mode, label in labels.items():
        value = result[f"{mode}_tokens_per_s"]
        lines.append(f"| {label} | {value:,.0f} | {value / base:.2f} |")
    lines.append(
        f"mixed / single {result['mixed_vs_single']:.2f}, single / base {result['single_vs_base']:.2f}, "
        f"mixed / PEFT mixed {result['mixed_vs_peft_mixed']:.1f}x; max |ours - PEFT| (mixed) "
        f"{result['max_abs_diff_mixed_vs_peft_mixed']:.2e}"
    )
    return "\n".join(lines)
