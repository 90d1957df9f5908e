"""CLI subcommands: each module has ``register(subparsers)`` and is listed in ``server.cli.COMMAND_MODULES``.

Keep heavy imports (torch, tuner) inside the command's function so ``adaptune serve``
and ``--help`` stay quick.
"""
