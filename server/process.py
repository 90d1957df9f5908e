"""Run ``adaptune serve`` as a child process and learn its port (demo, tests, benchmarks).

The child binds port 0 unless told otherwise and writes the bound port to a file once it
serves, so callers never race for a free port. Its output goes to a log file (a pipe
nobody reads could fill up and stall the server); failures quote the log's tail.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from server.config import TOKEN_ENV


class ServeProcessError(RuntimeError):
    """The server process did not start, or did not stop when asked."""


@dataclass
class ServeProcess:
    process: subprocess.Popen
    host: str
    port: int
    log_path: Path
    # A temporary folder for the port file (and the log unless one was given); removed on stop.
    workdir: Path | None = None
    _final_log: str | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        if self._final_log is not None:
            return self._final_log
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM (graceful: in-flight batches finish), then wait; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise ServeProcessError(f"server pid {self.pid} ignored SIGTERM for {timeout:g} s and was killed\n{_tail(self.log())}")
        finally:
            self._cleanup()

    def kill(self) -> int:
        """SIGKILL: no cleanup at all (what a crash looks like to the store)."""
        if self.process.poll() is None:
            self.process.kill()
        code = self.process.wait()
        self._cleanup()
        return code

    def _cleanup(self) -> None:
        if self.process.poll() is None or self.workdir is None:
            return
        self._final_log = self.log()
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = None


def start_serve_process(
    db_path: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    extra_args: tuple[str, ...] = (),
    log_path: str | Path | None = None,
    timeout: float = 60.0,
) -> ServeProcess:
    """Start ``adaptune serve --db db_path`` and return once it listens.

    The token travels in the environment, not on the command line where ``ps`` shows it.
    Raises ServeProcessError with the server's own message when it exits early (e.g. the
    database is locked by another server).
    """
    workdir = Path(tempfile.mkdtemp(prefix="adaptune-serve-"))
    port_file = workdir / "port"
    log_path = Path(log_path) if log_path else workdir / "server.log"
    env = dict(os.environ)
    env.pop(TOKEN_ENV, None)
    if token:
        env[TOKEN_ENV] = token
    command = [
        sys.executable, "-m", "server.cli", "serve",
        "--db", str(db_path), "--host", host, "--port", str(port), "--port-file", str(port_file),
        *extra_args,
    ]  # fmt: skip
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_file.exists():
            return ServeProcess(process, host, int(port_file.read_text()), log_path, workdir)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    if process.poll() is None:
        process.kill()
        process.wait()
        problem = f"server did not start within {timeout:g} s"
    else:
        problem = f"server exited with code {process.returncode} before serving"
    output = log_path.read_text(errors="replace")
    shutil.rmtree(workdir, ignore_errors=True)
    raise ServeProcessError(f"{problem}\n{_tail(output)}")


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
