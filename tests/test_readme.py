"""Every ```bash and ```python block of README.md runs, in order, against a real server.

So the README cannot drift from the code again. How it works, and how to mark a block:

- Blocks run top to bottom, one test each (``test_readme_block[NN-line-LLL]``), in one
  temporary working folder holding a link to ``examples/`` (``var/`` paths land there).
  Later blocks see what earlier ones did (the quick start logs, then cycles, ...).
- Before the first block the test starts ``adaptune serve`` on a free port over a temp
  database with ``--cycle-config examples/cycle.json`` and, to stay fast, a tiny random
  BERT as ``--model`` (the README's server blocks are skipped, see below).
  ``ADAPTUNE_README_MODEL=minilm-l6`` runs the server on that model instead, as a reader would.
- Rewrites, the only ones: ``$ADAPTUNE_ADDRESS`` is set to that server (every client
  command's default), and the literal ``127.0.0.1:50051`` in a block becomes its
  address. ``adaptune`` on PATH is this checkout's ``python -m server.cli``.
- Bash blocks run with ``bash -euo pipefail``; Python blocks with this interpreter. A
  non-zero exit fails the test, with the block's output.
- A block that cannot run here (it installs, runs until stopped, trains for minutes,
  needs a file no server holds) is skipped ONLY by a marker comment on the line before
  its fence (blank lines between are fine)::

      <!-- readme-test: skip (why it cannot run in a test) -->

  The reason is required; pytest reports each skipped block with it (``-ra``). Blocks
  in other languages (or none, e.g. diagrams) are not code and never run.

Marked ``slow``: a few README snippets train on the embedded MiniLM (about a minute).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from server.process import ServeProcess, start_serve_process

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DEFAULT_ADDRESS = "127.0.0.1:50051"
RUNNABLE = ("bash", "python")
SKIP_MARKER = re.compile(r"^<!--\s*readme-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->$")
BLOCK_TIMEOUT_S = 300

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Block:
    line: int  # the opening fence's line number in README.md
    language: str
    code: str
    skip_reason: str | None

    @property
    def name(self) -> str:
        return f"line-{self.line}-{self.language}"


def readme_blocks(text: str) -> list[Block]:
    """Fenced blocks with their language and skip marker; a marker not followed by a block is an error."""
    blocks: list[Block] = []
    lines = text.splitlines()
    pending: tuple[int, str] | None = None
    index = 0
    while index < len(lines):
        stripped = lines[index].strip()
        marker = SKIP_MARKER.match(stripped)
        if marker:
            pending = (index + 1, marker.group("reason").strip())
        elif stripped.startswith("```"):
            language = stripped[3:].strip()
            end = next(i for i in range(index + 1, len(lines)) if lines[i].strip().startswith("```"))
            reason = pending[1] if pending else None
            if language in RUNNABLE:
                blocks.append(Block(index + 1, language, "\n".join(lines[index + 1 : end]) + "\n", reason))
            elif pending:
                raise ValueError(f"README line {pending[0]}: skip marker before a non-runnable block")
            pending = None
            index = end
        elif stripped and pending:
            raise ValueError(f"README line {pending[0]}: skip marker not directly before a code block")
        index += 1
    if pending:
        raise ValueError(f"README line {pending[0]}: skip marker at the end, before no block")
    return blocks


BLOCKS = readme_blocks(README.read_text())


@dataclass
class Sandbox:
    workdir: Path
    env: dict[str, str]
    server: ServeProcess


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path):
    workdir = tmp_path_factory.mktemp("readme")
    (workdir / "examples").symlink_to(ROOT / "examples")
    bin_dir = workdir / ".bin"
    bin_dir.mkdir()
    shim = bin_dir / "adaptune"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m server.cli "$@"\n')
    shim.chmod(0o755)
    var = workdir / "server"
    model = os.environ.get("ADAPTUNE_README_MODEL") or str(tiny_bert_dir)
    server = start_serve_process(
        var / "adaptune.duckdb",
        extra_args=("--model", model, "--cycle-config", str(ROOT / "examples" / "cycle.json"),
                    "--adapters", str(var / "adapters"), "--reports", str(var / "reports")),
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "ADAPTUNE_TOKEN"}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(ROOT),
        ADAPTUNE_ADDRESS=server.address,
        OMP_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
    )
    try:
        yield Sandbox(workdir, env, server)
    finally:
        server.stop()


def run_block(block: Block, sandbox: Sandbox) -> subprocess.CompletedProcess:
    code = block.code.replace(DEFAULT_ADDRESS, sandbox.server.address)
    command = ["bash", "-euo", "pipefail", "-c", code] if block.language == "bash" else [sys.executable, "-c", code]
    return subprocess.run(
        command, cwd=sandbox.workdir, env=sandbox.env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S
    )


@pytest.mark.parametrize("block", BLOCKS, ids=[b.name for b in BLOCKS])
def test_readme_block(block: Block, sandbox: Sandbox):
    if block.skip_reason:
        pytest.skip(f"README line {block.line}: {block.skip_reason}")
    result = run_block(block, sandbox)
    assert result.returncode == 0, (
        f"README block at line {block.line} ({block.language}) exited {result.returncode}\n"
        f"--- block ---\n{block.code}--- stdout ---\n{result.stdout[-4000:]}--- stderr ---\n{result.stderr[-4000:]}"
    )


def test_the_quick_start_runs_in_full():
    """The quick start's own blocks (after install and serve) are never skipped."""
    text = README.read_text()
    start = text.index("## Quick start")
    end = text.index("\n## ", start + 1)
    first, last = text[:start].count("\n") + 1, text[:end].count("\n") + 1
    quick = [b for b in BLOCKS if first <= b.line <= last]
    assert len(quick) >= 7
    assert [b.skip_reason is None for b in quick].count(False) == 2  # install, serve


def test_markers_need_a_reason_and_a_block():
    with pytest.raises(ValueError, match="line 1: skip marker not directly before a code block"):
        readme_blocks("<!-- readme-test: skip (x) -->\ntext\n```bash\necho\n```\n")
    blocks = readme_blocks("<!-- readme-test: skip (slow) -->\n\n```bash\necho 1\n```\n```python\nprint(2)\n```\n```\ndiagram\n```\n")
    assert [(b.language, b.skip_reason) for b in blocks] == [("bash", "slow"), ("python", None)]
    assert readme_blocks("<!-- readme-test: skip () -->\n```bash\necho\n```\n")[0].skip_reason is None  # no reason: runs
