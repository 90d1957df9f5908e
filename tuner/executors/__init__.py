"""Where a cycle's per-domain jobs run: inline, a worker process, or Ray tasks.

Importing this package loads neither torch nor Ray (the server's settings use the config).
"""

from tuner.executors.config import KINDS, ExecutorConfig

__all__ = ["KINDS", "ExecutorConfig"]
