"""``adaptune log FILE.jsonl|FILE.csv|-``: send interactions from a file to a running server.

The file is read and checked whole first (a bad line, or a time without a zone, is an
error naming the line and nothing is sent), then streamed in batches through the client
SDK. The server's summary is printed with each rejected event's line number; the exit
code is 1 when the server rejected any event, so scripts notice.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import TextIO

from server.commands.connection import add_client_arguments, connect

FORMATS = ("auto", "jsonl", "csv")
_BATCH_POSITION = re.compile(r"^interactions\[\d+\] \(event_id '[^']*'\): ")
NAIVE_HINT = ", or pass --assume-utc to read such times as UTC"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "log",
        help="send interactions from a JSONL or CSV file (or stdin) to the server",
        description="Stream interactions to a running server in batches and print what it stored and rejected. "
        "JSONL lines carry the fields of recsys.events.model.Interaction (format in recsys/events/files.py).",
    )
    parser.add_argument("file", help="a .jsonl or .csv file, or - for standard input")
    parser.add_argument("--format", choices=FORMATS, default="auto", help="auto: csv for a .csv file, else jsonl")
    parser.add_argument("--map", default="", metavar="FIELD=COLUMN,...",
                        help="CSV: columns of the interaction fields, e.g. input=text,domain=area,attributes.region=region "
                        "(unmapped fields use their own name)")  # fmt: skip
    parser.add_argument("--assume-utc", action="store_true", help="read times without a timezone as UTC")
    parser.add_argument("--batch-size", type=int, default=1000, help="events per streamed batch")
    add_client_arguments(parser)
    parser.set_defaults(func=run)


def read_events(path: str, fmt: str, mapping_text: str, assume_utc: bool, stdin: TextIO) -> tuple[list[int], list]:
    """(line numbers, interactions) of the whole input; EventFileError names the first bad line."""
    from recsys.events.files import parse_mapping, read_csv, read_jsonl

    if fmt == "auto":
        fmt = "csv" if path.lower().endswith(".csv") else "jsonl"
    if mapping_text and fmt != "csv":
        raise ValueError("--map is for CSV input (--format csv or a .csv file)")
    mapping = parse_mapping(mapping_text)
    if path == "-":
        text = stdin.read()
    else:
        file = Path(path)
        if not file.exists():
            raise FileNotFoundError(f"file {path!r} does not exist")
        if not file.is_file():
            raise ValueError(f"{path!r} is not a file")
        text = file.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=fmt == "csv")
    if fmt == "csv":
        numbered = list(read_csv(lines, mapping, assume_utc=assume_utc, naive_hint=NAIVE_HINT))
    else:
        numbered = list(read_jsonl(lines, assume_utc=assume_utc, naive_hint=NAIVE_HINT))
    where = "standard input" if path == "-" else repr(path)
    if not numbered:
        raise ValueError(f"{where} holds no interactions")
    return [n for n, _ in numbered], [event for _, event in numbered]


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    line_numbers, events = read_events(args.file, args.format, args.map, args.assume_utc, sys.stdin)
    with connect(args, timeout=120) as client:
        result = client.log_interactions(events, batch_size=args.batch_size)
    print(
        f"{len(events)} interactions read: {result.accepted} stored, {result.duplicates} duplicates, "
        f"{result.rejected} rejected ({result.batches} batches)"
    )
    for rejection in result.rejections:
        line = line_numbers[rejection.batch_index * args.batch_size + rejection.index]
        reason = _BATCH_POSITION.sub("", rejection.reason, count=1)  # the line number replaces the batch position
        print(f"  line {line} (event_id {rejection.event_id!r}): {reason} [{rejection.code}]")
    if result.rejections_truncated:
        print(f"  ... {result.rejected - len(result.rejections)} more rejections not listed")
    return 1 if result.rejected else 0
