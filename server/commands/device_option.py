"""The one ``--device`` option every command that runs a model shares."""

from __future__ import annotations

import argparse

from tuner.device_names import DEVICES


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        default="auto",
        choices=list(DEVICES),
        help="where models run: auto takes CUDA when present (bf16 autocast there), else the CPU (default auto)",
    )
