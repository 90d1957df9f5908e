"""bench/zero_shot.py on a tiny CLINC150-shaped folder and the tiny BERT: what it writes, and its refusals."""

from __future__ import annotations

import json
from pathlib import Path

from bench.zero_shot import main
from tests.fixtures.cli import refused

INTENTS = {"pay_bill": ["bill", "invoice"], "lost_card": ["lost", "stolen"], "check_balance": ["balance", "funds"]}


def tiny_clinc(folder: Path) -> Path:
    folder.mkdir()
    rows = lambda n: [[f"please {words[i % 2]} now", intent] for intent, words in INTENTS.items() for i in range(n)]  # noqa: E731
    (folder / "domains.json").write_text(json.dumps({"banking": list(INTENTS)}))
    (folder / "data_full.json").write_text(json.dumps({"train": rows(4), "val": rows(2), "test": rows(3)}))
    return folder


def test_the_zero_shot_bench_reads_every_spelling_alike_and_measures_each_pick(tmp_path, tiny_bert_dir):
    out = tmp_path / "zero_shot.json"
    assert main(["--data", str(tiny_clinc(tmp_path / "clinc")), "--model", str(tiny_bert_dir), "--picks", "0", "1",
                 "--threads", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert (result["labels"], result["queries"]) == (3, 9)
    spelling = result["spelling"]
    # Read as words, kebab-case names are the snake_case names exactly (the tiny model has no capitals).
    assert spelling["kebab-case"]["as_words"] == spelling["snake_case"]["as_words"]
    assert spelling["snake_case"]["underscores_only"] == spelling["snake_case"]["as_words"]
    assert [row["pick"] for row in result["descriptions"]] == [0, 1]
    for row in result["descriptions"]:
        assert all(0.0 <= row[arm] <= 1.0 for arm in ("names_only", "name_and_description", "joined_text", "description_only"))
    assert out.with_suffix(".png").stat().st_size > 0


def test_a_negative_pick_is_refused_before_anything_loads(tmp_path, capsys):
    out = tmp_path / "zero_shot.json"
    assert "--picks must be >= 0" in refused(main, ["--picks", "-1", "--out", str(out)], out, capsys)
