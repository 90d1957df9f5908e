"""``adaptune serve``: run the gRPC server on one DuckDB file until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from server.config import (
    DEFAULT_DB_PATH,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_REPORTS_DIR,
    TOKEN_ENV,
    resolve_token,
    ServerConfig,
)
from server.executor_args import add_executor_arguments, executor_config_from_args
from server.commands.device_option import add_device_argument
from tuner.serving.config import parse_byte_size


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the gRPC server",
        description="Serve the adaptune gRPC API on one DuckDB file (the server is its only writer). "
        "Stops gracefully on SIGTERM or Ctrl-C, finishing in-flight batches.",
    )
    parser.add_argument("--db", type=Path, default=DEFAULT_DB_PATH, help=f"DuckDB file (default {DEFAULT_DB_PATH})")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port, 0 for any free one (default {DEFAULT_PORT})")
    parser.add_argument(
        "--token",
        default=None,
        help=f"require 'authorization: Bearer TOKEN' on every call but health (default ${TOKEN_ENV}, else no auth)",
    )
    parser.add_argument("--http-port", type=int, default=None,
                        help="serve the dashboard and /metrics over HTTP on this port (default off; 0 picks a free one)")
    parser.add_argument("--http-host", default=DEFAULT_HOST, help=f"address of the HTTP side (default {DEFAULT_HOST})")
    parser.add_argument("--token-file", type=Path, default=None, help="scoped tokens per tenant (JSON; README, Security)")
    parser.add_argument("--port-file", type=Path, default=None, help="write the bound port here once serving")
    tls = parser.add_argument_group("TLS (PEM files; see README, Security)")
    tls.add_argument("--tls-cert", type=Path, default=None, help="serve TLS with this certificate (chain)")
    tls.add_argument("--tls-key", type=Path, default=None, help="the certificate's private key")
    tls.add_argument("--tls-client-ca", type=Path, default=None, help="mutual TLS: require client certificates signed by this CA")
    defaults = ServerConfig()
    parser.add_argument("--max-message-bytes", type=int, default=defaults.max_message_bytes)
    parser.add_argument("--max-events-per-batch", type=int, default=defaults.max_events_per_batch)
    parser.add_argument("--grace", type=float, default=defaults.grace_seconds, help=f"seconds in-flight calls get on stop (default {defaults.grace_seconds:g})")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="concurrent calls served")
    parser.add_argument("--max-streams", type=int, default=None, help="streams open at once (default workers - 2)")
    parser.add_argument("--stream-idle", type=float, default=defaults.stream_idle_seconds, help="cancel a client stream silent this many seconds")
    parser.add_argument("--adapters", type=Path, default=defaults.adapters_dir, help=f"adapter folders of the registry (default {defaults.adapters_dir})")
    serving = defaults.serving
    parser.add_argument("--model", default=serving.base_model, help=f"base model Predict serves (default {serving.base_model}; loaded on the first call)")
    parser.add_argument("--task", default=serving.task, choices=["classification", "generation"], help=f"task of --model (default {serving.task})")
    parser.add_argument("--max-adapters", type=int, default=serving.max_adapters, help=f"adapters kept resident (LRU, default {serving.max_adapters})")
    parser.add_argument(
        "--adapter-memory", default=None, metavar="SIZE",
        help="byte budget of the resident adapters' LoRA + head tensors, e.g. 256MB or 1GiB (LRU eviction; default: no limit)",
    )  # fmt: skip
    add_device_argument(parser)
    cycle = parser.add_argument_group("tuning cycles (on --model/--task; see tuner.cycle.config.CycleConfig)")
    cycle.add_argument("--cycle-config", type=Path, default=None, help="JSON file of CycleConfig fields (its train: TrainConfig fields)")
    cycle.add_argument("--nightly-at", default=None, metavar="HH:MM", help="run a cycle every day at this local time")
    add_executor_arguments(cycle)
    cycle.add_argument("--reports", type=Path, default=DEFAULT_REPORTS_DIR, help=f"cycle reports (default {DEFAULT_REPORTS_DIR})")
    parser.set_defaults(func=run)


def cycle_config_from_args(args: argparse.Namespace):
    """The --cycle-config file (or the defaults), tuning the base model the server serves."""
    from tuner.cycle.config import CycleConfig

    config = CycleConfig.from_file(args.cycle_config) if args.cycle_config else CycleConfig()
    return replace(config, base_model=args.model, task=args.task, device=args.device)


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        db_path=args.db,
        host=args.host,
        port=args.port,
        token=resolve_token(args.token),
        token_file=args.token_file,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
        max_message_bytes=args.max_message_bytes,
        max_events_per_batch=args.max_events_per_batch,
        grace_seconds=args.grace,
        workers=args.workers,
        max_streams=args.max_streams,
        stream_idle_seconds=args.stream_idle,
        adapters_dir=args.adapters,
        serving=replace(
            ServerConfig().serving,
            base_model=args.model,
            task=args.task,
            max_adapters=args.max_adapters,
            adapter_memory_bytes=None if args.adapter_memory is None else parse_byte_size(args.adapter_memory),
            device=args.device,
        ),
        cycle=cycle_config_from_args(args),
        executor=executor_config_from_args(args),
        nightly_at=args.nightly_at,
        reports_dir=args.reports,
        http_port=args.http_port,
        http_host=args.http_host,
    )


def run(args: argparse.Namespace) -> int:
    from server.app import serve
    from tuner.device import resolve_device

    config = config_from_args(args)
    if config.nightly_at:
        print(nightly_notice(config.nightly_at, datetime.now()), flush=True)
    resolve_device(args.device, "--device")  # 'cuda' without CUDA: refused before the file is opened
    return serve(config, port_file=args.port_file)


def nightly_notice(at: str, now: datetime) -> str:
    """When the first scheduled cycle runs, said at start-up so nobody waits for the wrong night."""
    from server.scheduler import next_run, parse_time_of_day

    due = next_run(now, parse_time_of_day(at))
    minutes = int((due - now).total_seconds() // 60)
    return f"nightly cycle every day at {at} local time; the next one runs at {due:%Y-%m-%d %H:%M} (in {minutes // 60} h {minutes % 60} min)"
