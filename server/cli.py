"""The ``adaptune`` command: subcommands come from the modules in ``COMMAND_MODULES``."""

from __future__ import annotations

import argparse
import copy
import importlib
import logging
import sys

# One line per command module; each has register(subparsers) setting ``func``.
COMMAND_MODULES: list[str] = [
    "server.commands.serve",
    "server.commands.stats",
    "server.commands.rank",
    "server.commands.tune",
    "server.commands.adapters",
    "server.commands.cycle",
    "server.commands.export",
    "server.commands.distill",
    "server.commands.predict",
    "server.commands.log",
    "server.commands.domains",
    "server.commands.review",
]


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Shows an option's default in ``--help`` unless its help already says it (or it has none)."""

    def _format_action(self, action: argparse.Action) -> str:
        if not action.help and _shows_default(action):
            action = copy.copy(action)  # an option without help still shows its default
            action.help = f"default {action.default}"
        return super()._format_action(action)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or not _shows_default(action):
            return text
        return f"{text} (default {action.default})"


def _shows_default(action: argparse.Action) -> bool:
    default = action.default
    shown = default is not None and default is not False and default not in ("", argparse.SUPPRESS)
    return bool(action.option_strings) and shown


class CommandParser(argparse.ArgumentParser):
    """Every ``adaptune`` parser and subparser (argparse hands its class down) shows defaults."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="adaptune",
        description="Recommendation-aware adaptive LoRA tuning service.",
    )
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            # One broken command must not take `serve` down with it; it fails when used.
            _register_unavailable(subparsers, name, exc)
            continue
        module.register(subparsers)
    return parser


def _register_unavailable(subparsers: argparse._SubParsersAction, module: str, error: ImportError) -> None:
    command = module.rsplit(".", 1)[-1]
    parser = subparsers.add_parser(command, help=f"(unavailable: {error})", add_help=False)
    parser.add_argument("rest", nargs=argparse.REMAINDER)

    def fail(args: argparse.Namespace) -> int:
        print(f"adaptune {command}: error: the command cannot be loaded from {module}: {error}", file=sys.stderr)
        return 2

    parser.set_defaults(func=fail)


def main(argv: list[str] | None = None) -> int:
    """Run one command; expected failures print one line and exit 2, bugs keep their traceback."""
    from server.client.base import ClientError
    from server.storage import StoreLockedError, StoreUnreadableError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (StoreLockedError, StoreUnreadableError, ClientError, ValueError, OSError) as exc:
        print(f"adaptune {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
