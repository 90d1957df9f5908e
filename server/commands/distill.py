"""``adaptune distill``: train a smaller student on a domain variant's outputs.

The teacher is the domain's adapter (its champion, or ``--version``) on its base model.
The student is another model (``--student minilm-l6`` or a checkpoint folder) or the
teacher's own base cut to its first layers (``--student same --student-layers 2``).
It is trained on the teacher's answers to the domain's training inputs (``--data``:
stored interactions, a JSONL file or a CLINC150 folder) and compared with the teacher
on held-out gold examples. The student is saved merged, as a standalone export.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from server.commands.device_option import add_device_argument
from server.commands.export import add_data_arguments, open_registry
from tuner.config import DEFAULT_MAX_LENGTH


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "distill",
        help="train a smaller student on a variant's outputs and compare it with the teacher",
        description="Distil a domain's variant (base + adapter) into a smaller student trained on the teacher's "
        "answers; report both accuracies and their agreement on held-out examples.",
    )
    parser.add_argument("--domain", required=True, help="the teacher variant's domain")
    parser.add_argument("--version", default=None, help="teacher adapter version (default: the domain's champion)")
    parser.add_argument("--student", default="minilm-l6", help="catalog name, checkpoint folder, or 'same' (default minilm-l6)")
    parser.add_argument("--student-layers", type=int, default=None, help="keep only the student's first N layers")
    parser.add_argument("--out", type=Path, required=True, help="folder for the student export (must not exist)")
    add_data_arguments(parser)
    hyper = parser.add_argument_group("student training (see tuner.config.TrainConfig)")
    hyper.add_argument("--rank", type=int, default=8)
    hyper.add_argument("--lr", type=float, default=2e-3)
    hyper.add_argument("--batch-size", type=int, default=32)
    hyper.add_argument("--epochs", type=int, default=3)
    hyper.add_argument("--max-steps", type=int, default=None)
    hyper.add_argument("--patience", type=int, default=3)
    hyper.add_argument("--max-length", type=int, default=DEFAULT_MAX_LENGTH,
                       help=f"tokens an input keeps (default {DEFAULT_MAX_LENGTH})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_device_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from server.commands.tune import load_split
    from tuner.adapters import load_adapter
    from tuner.config import TrainConfig
    from tuner.serving.export_variant import find_record
    from tuner.loading import load_base
    from tuner.serving.distill import DistillConfig, distill, save_student

    train = TrainConfig(
        rank=args.rank, lr=args.lr, batch_size=args.batch_size, epochs=args.epochs, max_steps=args.max_steps,
        patience=args.patience, max_length=args.max_length, seed=args.seed, progress=not args.quiet,
    )  # fmt: skip
    config = DistillConfig(student=args.student, student_layers=args.student_layers, train=train, batch_size=args.batch_size)
    if Path(args.out).exists():
        raise FileExistsError(f"--out {str(args.out)!r} already exists")
    registry = open_registry(args)
    try:
        record = find_record(registry, args.domain, args.version)
        split = load_split(args, registry.db)
    finally:
        registry.db.close()
    teacher_base = load_base(record.base_model, record.task, device=args.device)
    teacher = load_adapter(teacher_base, record.path)
    outcome = distill(teacher_base, teacher, split, config, teacher_name=f"{record.base_model} + {record.domain} {record.version}")
    folder = save_student(outcome, args.out, domain=record.domain, teacher_version=record.version)
    report = outcome.report
    if args.json:
        print(json.dumps({"folder": str(folder), **report.to_json()}, indent=2))
    else:
        print(format_report(report, folder))
    return 0


def format_report(report, folder: Path) -> str:
    c = report.comparison
    score = lambda value: "-" if value is None else f"{value:.4f}"  # noqa: E731
    metric = "accuracy" if report.task == "classification" else "exact match"
    return "\n".join([
        f"student {report.student} ({report.student_layers} layers, {report.student_params:,} parameters, "
        f"{report.size_ratio:.2f}x the teacher's) saved to {folder}",
        f"  teacher {report.teacher} ({report.teacher_layers} layers, {report.teacher_params:,} parameters)",
        f"  trained on {report.n_train} teacher-labelled examples ({report.train_steps} steps, {report.train_seconds:.1f} s)",
        f"  on {c.n} held-out examples: {metric} teacher {score(c.reference_accuracy)}, student "
        f"{score(c.candidate_accuracy)}; agreement {c.agreement:.4f}",
    ])
