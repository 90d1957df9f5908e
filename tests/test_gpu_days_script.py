"""bench/gpu_days.sh, the GPU machine's side-by-side days runs: refused without an output folder.

The runs themselves need CUDA, the wheels and the packed model (README "GPU"); here only
what the script says before it starts anything.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_days.sh"


def test_without_an_output_folder_it_says_how_to_call_it_and_starts_nothing(tmp_path: Path) -> None:
    done = subprocess.run(["bash", str(SCRIPT)], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "usage: bench/gpu_days.sh OUT_DIR [SECONDS] [bench/days.py options...]" in done.stderr
    assert list(tmp_path.iterdir()) == []
