"""Benchmark: serving many adapters on one minilm-l6, against a merged model; int8 vs float32.

Adapters: 20 domain adapters on ``minilm-l6`` (CLINC150's 10 domains, two versions of
each under distinct domain names), LoRA rank 8 on the top 3 of 6 layers (attention and
MLP, what a 50% layer budget picks), **random small LoRA weights** (B ~ N(0, 0.02)) and
**real heads** built from each domain's CLINC150 intent names (the project's own
zero-shot head initialisation). Accuracy is not the point of these 20; throughput and
memory are.

Throughput and latency, measured side by side in one run (``--rounds`` interleaved
rounds, median): ``--clients`` threads each send requests of ``--inputs`` CLINC150 test
queries, with pre-resolved variants so only serving differs:

- single: every request for the same adapter;
- mixed: requests cycle through all 20 adapters (concurrent requests share one
  mixed-adapter forward pass);
- merged: the first adapter merged into a copy of the base (``adaptune export
  --merged``), the same batching and forward code without LoRA.

Then the full Predict path over gRPC (an in-process server on 127.0.0.1:0: variant
resolution in DuckDB, serialization) for single and mixed traffic: its p50/p99 are the
headline latencies. Memory: resident set size with 1, 10 and 20 adapters loaded, the
per-adapter increase as a share of the base model's parameter bytes. int8: one CLINC150
banking adapter trained for real, exported merged (float32) and int8, timed on the
banking test set (batches of 32, and single inputs) and scored.

Forward tokens (``forward_tokens.py``): the serving forward itself, gathered LoRA
against PEFT's ``adapter_names`` path, base and one adapter, on random weights of a
model's shape with 20 rank-8 adapters on every linear module. On the CPU it runs on the
MiniLM shape (256 x 32 tokens; quick 32 x 32) after the four parts above; with
``--device cuda`` it is the whole run, on the SmolLM2-135M shape, 64 x 64 tokens, into
``bench/results/gpu/serving.json`` (the machines there have neither CLINC150 nor the
embedded weights).

    .venv/bin/python bench/serving.py [--quick] [--threads 1]
    .venv/bin/python bench/serving.py --forward-only [--quick]      # just the forward tokens, CPU
    python3 bench/serving.py --device cuda                           # bench/gpu.sh runs this
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tuner.reports.style import legend_outside, save, styled  # noqa: E402
import psutil  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recsys.datasets import clinc150  # noqa: E402
from recsys.store import open_database  # noqa: E402
from server.app import create_server, stop_server  # noqa: E402
from server.client import AdaptuneClient  # noqa: E402
from server.config import ServerConfig  # noqa: E402
from tuner.config import TrainConfig  # noqa: E402
from tuner.encoding import encode_texts  # noqa: E402
from tuner.loading import BaseModel, load_base  # noqa: E402
from tuner.registry import AdapterRegistry  # noqa: E402
from tuner.serving.batching import SharedBatcher  # noqa: E402
from tuner.serving.compare import Runner  # noqa: E402
from tuner.serving.config import ServingConfig  # noqa: E402
from tuner.serving.engine import ServingEngine  # noqa: E402
from tuner.serving.export import ExportInfo, load_export, merged_copy, write_export  # noqa: E402
from tuner.serving.forward import Row, classify_rows  # noqa: E402
from tuner.sources import clinc_split  # noqa: E402
from tuner.targeting import prepare_adapter  # noqa: E402
from tuner.training import train_adapter  # noqa: E402
from bench import forward_tokens  # noqa: E402

MODEL = "minilm-l6"
LAYERS = [3, 4, 5]
ADAPTERS = 20
MAX_LENGTH = 32
RESULTS = ROOT / "bench" / "results"


@dataclass
class Workload:
    clients: int
    requests_per_client: int
    inputs: int


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


# -- the 20 adapters ------------------------------------------------------------------------


def make_adapters(base: BaseModel, registry: AdapterRegistry, data: clinc150.Clinc150) -> list[str]:
    """Random small LoRA weights + heads from the intent names, registered and promoted."""
    domains = sorted(data.domains)
    names = []
    for i in tqdm(range(ADAPTERS), desc="adapters", leave=False):
        clinc_domain = domains[i % len(domains)]
        name = clinc_domain if i < len(domains) else f"{clinc_domain}-v2"
        config = TrainConfig(seed=i, progress=False, max_length=MAX_LENGTH)
        adapter, _ = prepare_adapter(base, layers=LAYERS, config=config, labels=sorted(data.domains[clinc_domain]))
        generator = torch.Generator().manual_seed(100 + i)
        with torch.no_grad():
            for key, param in adapter.model.named_parameters():
                if "lora_B" in key:
                    param.copy_(torch.randn(param.shape, generator=generator) * 0.02)
        record = registry.register(adapter, domain=name)
        registry.promote(name, record.version)
        names.append(name)
    return names


def queries(data: clinc150.Clinc150, domain: str) -> list[str]:
    clinc_domain = domain.removesuffix("-v2")
    return [row.text for row in data.test if row.domain == clinc_domain]


# -- memory ---------------------------------------------------------------------------------


def memory_child(db_path: str, adapters: str, names: list[str], threads: int, queue) -> None:
    """In a fresh process (no freed heap from building the adapters to hide growth): base, engine, then adapters."""
    torch.set_num_threads(threads)
    before = rss_mb()
    base = load_base(MODEL, "classification")
    base_bytes = sum(p.numel() * p.element_size() for p in base.model.parameters())
    db = open_database(db_path, read_only=True)
    engine = ServingEngine(base, AdapterRegistry(db, adapters), ServingConfig(base_model=MODEL, max_adapters=ADAPTERS))
    loaded = rss_mb()
    result = measure_memory(engine, names, base_bytes)
    result["rss_mb"]["0"] = loaded
    result["base_load_rss_mb"] = loaded - before
    engine.close()
    db.close()
    queue.put(result)


def measure_memory_in_child(db_path: Path, adapters: Path, names: list[str], threads: int) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=memory_child, args=(str(db_path), str(adapters), names, threads, queue))
    child.start()
    result = queue.get(timeout=600)
    child.join(60)
    return result


def measure_memory(engine: ServingEngine, names: list[str], base_bytes: int) -> dict:
    """RSS with 1, 10 and 20 adapters resident (plus the LoRA + head tensor bytes per adapter)."""
    points = {}
    for count in (1, 10, 20):
        for name in names[:count]:
            with engine.lease(engine.resolver.resolve("", name)):
                pass
        points[count] = rss_mb()
    peft = engine.pool.model
    lora_bytes = sum(p.numel() * p.element_size() for n, p in peft.named_parameters() if "lora_" in n) / len(names)
    with engine.lease(engine.resolver.resolve("", names[0])) as lease:
        head = lease.head
    head_bytes = sum(p.numel() * p.element_size() for p in head.parameters())
    per_adapter_mb = (points[20] - points[1]) / 19
    return {
        "rss_mb": {str(k): v for k, v in points.items()},
        "base_param_mb": base_bytes / 2**20,
        "per_adapter_rss_mb": per_adapter_mb,
        "memory_per_adapter_ratio": per_adapter_mb * 2**20 / base_bytes,
        "per_adapter_tensor_mb": (lora_bytes + head_bytes) / 2**20,
        "tensor_ratio": (lora_bytes + head_bytes) / base_bytes,
    }


# -- traffic ----------------------------------------------------------------------------------


def drive(workload: Workload, call) -> dict:
    """``clients`` threads each make ``requests_per_client`` calls ``call(client, i)``; rps and latency."""
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def client(c: int) -> None:
        mine = []
        try:
            for i in range(workload.requests_per_client):
                started = time.perf_counter()
                call(c, i)
                mine.append(time.perf_counter() - started)
        except BaseException as error:  # noqa: BLE001 - re-raised below
            errors.append(error)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(workload.clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    n = workload.clients * workload.requests_per_client
    return {
        "requests": n,
        "seconds": seconds,
        "rps": n / seconds,
        "inputs_per_s": n * workload.inputs / seconds,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def texts_for(pool: list[str], c: int, i: int, size: int) -> list[str]:
    start = (c * 97 + i * size) % max(1, len(pool) - size)
    return pool[start : start + size]


def in_process_modes(engine: ServingEngine, names: list[str], data, workload: Workload, rounds: int, merged: Runner) -> dict:
    """single / mixed / merged, interleaved ``rounds`` times; medians per mode."""
    leases = {name: engine.lease(engine.resolver.resolve("", name)) for name in names}
    texts = {name: queries(data, name) for name in names}
    merged_lock = threading.Lock()
    merged_batcher: SharedBatcher[Row, object] = SharedBatcher(
        lambda rows: classify_rows(
            merged.model, rows, pooling=merged.pooling, pad_id=merged.tokenizer.pad_token_id, batch_size=64
        ),
        merged_lock,
        64,
    )

    def single(c: int, i: int) -> None:
        engine.run(leases[names[0]], texts_for(texts[names[0]], c, i, workload.inputs))

    def mixed(c: int, i: int) -> None:
        name = names[(c * workload.requests_per_client + i) % len(names)]
        engine.run(leases[name], texts_for(texts[name], c, i, workload.inputs))

    def merged_call(c: int, i: int) -> None:
        ids = encode_texts(merged.tokenizer, texts_for(texts[names[0]], c, i, workload.inputs), MAX_LENGTH)
        merged_batcher.submit([Row(row, "", merged.head, merged.labels) for row in ids])

    modes = {"single": single, "mixed": mixed, "merged": merged_call}
    runs: dict[str, list[dict]] = {mode: [] for mode in modes}
    for _ in tqdm(range(rounds), desc="in-process rounds", leave=False):
        for mode, call in modes.items():
            before = engine.batcher.stats.passes, engine.batcher.stats.rows
            result = drive(workload, call)
            passes = engine.batcher.stats.passes - before[0]
            result["mean_rows_per_pass"] = (engine.batcher.stats.rows - before[1]) / passes if passes else None
            runs[mode].append(result)
    for lease in leases.values():
        lease.release()
    return {mode: summarize(results) for mode, results in runs.items()}


def summarize(results: list[dict]) -> dict:
    keys = ("rps", "inputs_per_s", "p50_ms", "p99_ms", "seconds")
    summary = {key: statistics.median(r[key] for r in results) for key in keys}
    rows = [r.get("mean_rows_per_pass") for r in results if r.get("mean_rows_per_pass")]
    summary["mean_rows_per_pass"] = statistics.median(rows) if rows else None
    summary["runs"] = results
    return summary


def grpc_modes(db_path: Path, adapters: Path, names: list[str], data, workload: Workload, rounds: int) -> dict:
    """The whole Predict path (resolution, leasing, batching, protobuf) through a real server."""
    serving = ServingConfig(base_model=MODEL, max_adapters=ADAPTERS, max_length=MAX_LENGTH, refresh_events=10**9)
    config = ServerConfig(db_path=db_path, port=0, adapters_dir=adapters, serving=serving, workers=workload.clients + 2)
    server, port, context = create_server(config)
    server.start()
    texts = {name: queries(data, name) for name in names}
    clients = [AdaptuneClient(f"127.0.0.1:{port}", timeout=120) for _ in range(workload.clients)]
    try:
        clients[0].wait_ready()
        for name in names:  # load every adapter once: steady state, not cold starts
            clients[0].predict("bench", texts[name][:1], domain=name)

        def single(c: int, i: int) -> None:
            clients[c].predict("bench", texts_for(texts[names[0]], c, i, workload.inputs), domain=names[0])

        def mixed(c: int, i: int) -> None:
            name = names[(c * workload.requests_per_client + i) % len(names)]
            clients[c].predict("bench", texts_for(texts[name], c, i, workload.inputs), domain=name)

        runs: dict[str, list[dict]] = {"single": [], "mixed": []}
        for _ in tqdm(range(rounds), desc="gRPC rounds", leave=False):
            runs["single"].append(drive(workload, single))
            runs["mixed"].append(drive(workload, mixed))
    finally:
        for client in clients:
            client.close()
        stop_server(server, context, grace=1.0)
    return {mode: summarize(results) for mode, results in runs.items()}


# -- int8 -----------------------------------------------------------------------------------


def time_classify(runner: Runner, texts: list[str], batch: int, repeats: int) -> float:
    """Median seconds to classify ``texts`` in batches of ``batch``."""
    runner.batch_size = batch
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        runner.logits(texts)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def int8_comparison(base: BaseModel, data_path, workdir: Path, quick: bool) -> dict:
    split = clinc_split(data_path, "banking", per_label=10 if quick else 30)
    config = TrainConfig(epochs=1 if quick else 2, lr=3e-3, batch_size=32, max_length=MAX_LENGTH, progress=True)
    adapter = train_adapter(base, split.train, split.validation[:60], layers=LAYERS, config=config).adapter
    test = split.test[:150] if quick else split.test
    texts, gold = [e.text for e in test], [e.target for e in test]
    info = dict(task=base.task, family=base.family, pooling=base.pooling, labels=adapter.labels, source_base_model=base.name, domain="banking")
    merged = merged_copy(base, adapter)
    write_export(workdir / "fp32", merged, base, adapter.head, ExportInfo(kind="merged", **info))
    write_export(workdir / "int8", merged, base, adapter.head, ExportInfo(kind="int8", quantization="dynamic-int8", **info), int8=True)
    fp32, int8 = load_export(workdir / "fp32").runner(max_length=MAX_LENGTH), load_export(workdir / "int8").runner(max_length=MAX_LENGTH)
    repeats = 1 if quick else 3
    single = texts[:40] if quick else texts[:100]
    result = {"test_examples": len(texts), "train_examples": len(split.train)}
    for name, runner in (("fp32", fp32), ("int8", int8)):
        labels = runner.labels_of(runner.logits(texts))
        result[f"{name}_accuracy"] = sum(a == b for a, b in zip(labels, gold)) / len(gold)
    for name, runner in (("fp32", fp32), ("int8", int8)):
        result[f"{name}_batch32_seconds"] = time_classify(runner, texts, 32, repeats)
        result[f"{name}_single_ms"] = time_classify(runner, single, 1, repeats) / len(single) * 1000
    result["int8_speedup"] = result["fp32_batch32_seconds"] / result["int8_batch32_seconds"]
    result["int8_single_speedup"] = result["fp32_single_ms"] / result["int8_single_ms"]
    result["int8_accuracy_delta"] = result["int8_accuracy"] - result["fp32_accuracy"]
    result["disk_mb"] = {
        name: sum(p.stat().st_size for p in (workdir / name).glob("*.safetensors")) / 2**20 for name in ("fp32", "int8")
    }
    return result


# -- report -----------------------------------------------------------------------------------


@styled()
def plot(results: dict, path: Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.2), layout="constrained")
    modes = results["in_process"]
    names = ["single", "mixed", "merged"]
    axes[0].bar(names, [modes[m]["rps"] for m in names], color=["tab:blue", "tab:orange", "tab:green"])
    grpc = results["grpc"]
    axes[0].bar(["gRPC single", "gRPC mixed"], [grpc["single"]["rps"], grpc["mixed"]["rps"]], color=["tab:blue", "tab:orange"], alpha=0.5)
    axes[0].set_ylabel("requests / s")
    axes[0].set_title(f"Predict throughput ({results['workload']['inputs']} inputs per request)")
    axes[0].tick_params(axis="x", rotation=20)
    memory = results["memory"]
    counts = [1, 10, 20]
    axes[1].plot(counts, [memory["rss_mb"][str(c)] for c in counts], "o-")
    budget = [memory["rss_mb"]["1"] + memory["base_param_mb"] * 0.02 * (c - 1) for c in (1, 20)]
    axes[1].plot([1, 20], budget, color="tab:red", linestyle="--", label="target: 2% of the base per adapter")
    axes[1].set_xlabel("adapters resident")
    axes[1].set_ylabel("resident memory (MB)")
    axes[1].set_title(f"memory: {memory['memory_per_adapter_ratio'] * 100:.2f}% of base per adapter")
    legend_outside(axes[1])
    int8 = results["int8"]
    x = range(2)
    axes[2].bar([i - 0.2 for i in x], [int8["fp32_batch32_seconds"], int8["int8_batch32_seconds"]], width=0.4, label="seconds (test set, batch 32)")
    twin = axes[2].twinx()
    twin.bar([i + 0.2 for i in x], [int8["fp32_accuracy"], int8["int8_accuracy"]], width=0.4, color="tab:green", label="accuracy")
    twin.set_ylim(0, 1)
    twin.set_ylabel("accuracy (fraction)")
    axes[2].set_ylabel("seconds")
    axes[2].set_xticks(list(x), ["float32", "int8"])
    axes[2].set_title(f"int8: {int8['int8_speedup']:.2f}x faster, accuracy {int8['int8_accuracy_delta'] * 100:+.1f} points")
    handles, labels = axes[2].get_legend_handles_labels()
    more_handles, more_labels = twin.get_legend_handles_labels()
    legend_outside(twin, handles=handles + more_handles, labels=labels + more_labels, bbox_to_anchor=(1.15, 1.0))
    save(fig, path)


def table(results: dict) -> str:
    modes, grpc, memory, int8 = results["in_process"], results["grpc"], results["memory"], results["int8"]
    single = modes["single"]["rps"]
    lines = [
        "| traffic (in process)   | requests/s | vs single | p50 ms | p99 ms | rows per pass |",
        "| ---------------------- | ---------: | --------: | -----: | -----: | ------------: |",
    ]
    for mode in ("single", "mixed", "merged"):
        m = modes[mode]
        rows = f"{m['mean_rows_per_pass']:.1f}" if m["mean_rows_per_pass"] else "-"
        lines.append(f"| {mode:<22} | {m['rps']:>10.1f} | {m['rps'] / single:>8.2f}x | {m['p50_ms']:>6.1f} | {m['p99_ms']:>6.1f} | {rows:>13} |")
    for mode in ("single", "mixed"):
        m = grpc[mode]
        lines.append(f"| gRPC Predict, {mode:<8} | {m['rps']:>10.1f} | {m['rps'] / grpc['single']['rps']:>8.2f}x | {m['p50_ms']:>6.1f} | {m['p99_ms']:>6.1f} | {'-':>13} |")
    lines += [
        "",
        f"memory: RSS {memory['rss_mb']['0']:.0f} / {memory['rss_mb']['1']:.0f} / {memory['rss_mb']['10']:.0f} / "
        f"{memory['rss_mb']['20']:.0f} MB with 0 / 1 / 10 / 20 adapters (loading the base: +{memory['base_load_rss_mb']:.0f} MB); {memory['per_adapter_rss_mb']:.2f} MB per adapter = {memory['memory_per_adapter_ratio'] * 100:.2f}% of the "
        f"base's {memory['base_param_mb']:.1f} MB (tensors alone: {memory['tensor_ratio'] * 100:.2f}%)",
        f"int8 vs float32 on {int8['test_examples']} CLINC150 banking test queries: {int8['int8_speedup']:.2f}x faster in batches "
        f"of 32 ({int8['int8_single_speedup']:.2f}x one at a time), accuracy {int8['fp32_accuracy']:.4f} -> {int8['int8_accuracy']:.4f} "
        f"({int8['int8_accuracy_delta'] * 100:+.2f} points), weights {int8['disk_mb']['fp32']:.0f} -> {int8['disk_mb']['int8']:.0f} MB",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests, one round, a smaller int8 run")
    parser.add_argument("--data", type=Path, default=None, help="CLINC150 folder (default ../shared/data/clinc150)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads (default 8)")
    parser.add_argument("--inputs", type=int, default=4, help="texts per Predict request (default 4)")
    parser.add_argument("--out", type=Path, default=None, help="JSON (default bench/results/serving[_quick].json; gpu/ with cuda)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="cuda: the forward tokens on the SmolLM2 shape only")
    parser.add_argument("--forward-only", action="store_true", help="only the forward-token comparison")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.clients < 1 or args.inputs < 1:
        parser.error("--threads, --clients and --inputs must be >= 1")
    torch.set_num_threads(args.threads)
    if args.device == "cuda" or args.forward_only:
        return forward_main(args)
    args.out = args.out or RESULTS / ("serving_quick.json" if args.quick else "serving.json")
    data = clinc150.load(args.data)
    workload = Workload(args.clients, 8 if args.quick else 30, args.inputs)
    rounds = 1 if args.quick else 3

    with tempfile.TemporaryDirectory(prefix="adaptune-serving-bench-") as tmp:
        workdir = Path(tmp)
        base = load_base(MODEL, "classification")
        db = open_database(workdir / "bench.duckdb")
        registry = AdapterRegistry(db, workdir / "adapters")
        names = make_adapters(base, registry, data)
        db.close()  # the memory child reads the registry (DuckDB allows one process to hold a writable file)
        print("[1/5] memory with 1, 10, 20 adapters (a fresh process)", flush=True)
        memory = measure_memory_in_child(workdir / "bench.duckdb", workdir / "adapters", names, args.threads)
        db = open_database(workdir / "bench.duckdb")
        registry = AdapterRegistry(db, workdir / "adapters")
        engine = ServingEngine(base, registry, ServingConfig(base_model=MODEL, max_adapters=ADAPTERS, max_length=MAX_LENGTH))

        print("[2/5] in-process traffic: single vs mixed vs merged", flush=True)
        first = registry.load(base, names[0])
        merged = Runner(merged_copy(base, first), base.tokenizer, base.task, base.pooling, first.head, first.labels, MAX_LENGTH)
        in_process = in_process_modes(engine, names, data, workload, rounds, merged)
        engine.close()
        db.close()

        print("[3/5] gRPC Predict: single vs mixed", flush=True)
        grpc = grpc_modes(workdir / "bench.duckdb", workdir / "adapters", names, data, workload, rounds)

        print("[4/5] int8 vs float32 on CLINC150 banking", flush=True)
        int8 = int8_comparison(base, args.data, workdir, args.quick)

    print("[5/5] forward tokens: gathered vs PEFT mixed batches (MiniLM shape, random weights)", flush=True)
    forward = cpu_forward(args.quick)

    single = in_process["single"]["rps"]
    results = {
        "quick": args.quick,
        "model": MODEL,
        "adapters": ADAPTERS,
        "adapter_layers": LAYERS,
        "adapter_weights": "random LoRA B ~ N(0, 0.02), heads from CLINC150 intent names",
        "torch_threads": args.threads,
        "load_average": list(os.getloadavg()),
        "workload": {"clients": workload.clients, "requests_per_client": workload.requests_per_client, "inputs": workload.inputs, "rounds": rounds},
        "single_rps": single,
        "mixed_rps": in_process["mixed"]["rps"],
        "merged_rps": in_process["merged"]["rps"],
        "mixed_to_single": in_process["mixed"]["rps"] / single,
        "merged_to_single": in_process["merged"]["rps"] / single,
        "p50_ms": grpc["mixed"]["p50_ms"],
        "p99_ms": grpc["mixed"]["p99_ms"],
        "memory_per_adapter_ratio": memory["memory_per_adapter_ratio"],
        "int8_speedup": int8["int8_speedup"],
        "int8_accuracy_delta": int8["int8_accuracy_delta"],
        "targets": {
            "memory_per_adapter_under_2pct": memory["memory_per_adapter_ratio"] < 0.02,
            "mixed_at_least_0_95_of_single": in_process["mixed"]["rps"] / single >= 0.95,
            "forward_mixed_at_least_0_95_of_single": forward["mixed_vs_single"] >= 0.95,
            "int8_at_least_1_5x": int8["int8_speedup"] >= 1.5,
            "int8_accuracy_within_1_point": abs(int8["int8_accuracy_delta"]) <= 0.01,
        },
        "in_process": in_process,
        "grpc": grpc,
        "memory": memory,
        "int8": int8,
        "forward": forward,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    plot(results, args.out.with_suffix(".png"))
    print(table(results))
    print(forward_tokens.table(forward))
    print(f"targets: {results['targets']}")
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return 0


def cpu_forward(quick: bool) -> dict:
    """The MiniLM shape at 256 x 32 tokens (quick: 32 x 32, one round)."""
    batch, rounds = (32, 1) if quick else (256, 3)
    return forward_tokens.measure("minilm-l6", "cpu", batch=batch, seq=32, rounds=rounds, repeats=1 if quick else 2)


def forward_main(args: argparse.Namespace) -> int:
    """``--device cuda`` or ``--forward-only``: the forward-token comparison alone, with its own JSON."""
    if args.device == "cuda":
        rounds, repeats = (2, 2) if args.quick else (5, 5)
        result = forward_tokens.measure("smollm2-135m", "cuda", batch=64, seq=64, rounds=rounds, repeats=repeats)
        result["targets"] = {
            "mixed_at_least_0_9_of_single": result["mixed_vs_single"] >= 0.9,
            "single_at_least_0_6_of_base": result["single_vs_base"] >= 0.6,
            "mixed_at_least_10x_peft_mixed": result["mixed_vs_peft_mixed"] >= 10,
        }
        default = RESULTS / "gpu" / ("serving_quick.json" if args.quick else "serving.json")
    else:
        result = cpu_forward(args.quick)
        result["targets"] = {"mixed_at_least_0_95_of_single": result["mixed_vs_single"] >= 0.95}
        default = RESULTS / ("serving_forward_quick.json" if args.quick else "serving_forward.json")
    result.update(quick=args.quick, torch_threads=torch.get_num_threads(), load_average=list(os.getloadavg()))
    out = args.out or default
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    plot_forward(result, out.with_suffix(".png"))
    print(forward_tokens.table(result))
    print(f"targets: {result['targets']}")
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


@styled()
def plot_forward(result: dict, path: Path) -> None:
    modes = ["base", "single", "mixed", "peft_single", "peft_mixed"]
    fig, axis = plt.subplots(figsize=(8, 4))
    axis.bar(modes, [result[f"{m}_tokens_per_s"] for m in modes], color=["tab:gray", "tab:blue", "tab:orange", "tab:cyan", "tab:red"])
    axis.set_ylabel("tokens / s")
    axis.set_title(f"{result['shape']} on {result['device']}: mixed {result['mixed_vs_peft_mixed']:.1f}x PEFT mixed")
    save(fig, path)


if __name__ == "__main__":
    sys.exit(main())
