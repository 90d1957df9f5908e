"""Your own intent set as CSV files: splits, the held-out validation share, and every bad file named."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from bench import long_messages
from bench.days import main as days_main
from recsys.datasets import clinc150, intent_csv
from recsys.datasets.intents import load_intents
from tests.fixtures.cli import refused


def write_csv(path: Path, header: list[str], rows: list[tuple[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def queries(label: str, count: int, start: int = 0) -> list[tuple[str, str]]:
    return [(f"{label.replace('_', ' ')} question, number {i}", label) for i in range(start, start + count)]


@pytest.fixture
def bank(tmp_path: Path) -> Path:
    folder = tmp_path / "My Bank-77"
    folder.mkdir()
    write_csv(folder / "train.csv", ["text", "category"],
              queries("card_arrival", 20) + queries("Refund_not_showing_up", 10) + queries("top_up_failed", 1))
    write_csv(folder / "test.csv", ["text", "category"],
              queries("card_arrival", 3, 100) + queries("Refund_not_showing_up", 2, 100))
    return folder


def test_a_csv_set_loads_with_a_stratified_repeatable_validation_share(bank: Path):
    data = intent_csv.load(bank)
    assert data.domains == {"my_bank_77": ["Refund_not_showing_up", "card_arrival", "top_up_failed"]}
    held = {label: sum(r.intent == label for r in data.val) for label in data.domains["my_bank_77"]}
    # 10% of each label's rows, and never a label's last training row.
    assert held == {"card_arrival": 2, "Refund_not_showing_up": 1, "top_up_failed": 0}
    assert len(data.train) + len(data.val) == 31 and not {r.text for r in data.train} & {r.text for r in data.val}
    assert [(r.text, r.intent) for r in data.test][:1] == [("card arrival question, number 100", "card_arrival")]
    assert {r.domain for r in [*data.train, *data.val, *data.test]} == {"my_bank_77"}
    assert intent_csv.load(bank) == data  # the same rows held out on a rerun
    assert len(intent_csv.load(bank, val_share=0.5).val) == 10 + 5


def test_a_val_file_is_used_as_given_and_other_column_names_are_read(tmp_path: Path):
    write_csv(tmp_path / "train.csv", ["Utterance", "Intent"], queries("alarm_set", 4))
    # A spreadsheet's export starts with a byte-order mark; the header still reads.
    (tmp_path / "train.csv").write_bytes(b"\xef\xbb\xbf" + (tmp_path / "train.csv").read_bytes())
    write_csv(tmp_path / "val.csv", ["utterance", "intent"], queries("alarm_set", 1, 50))
    write_csv(tmp_path / "test.csv", ["utterance", "intent"], queries("alarm_set", 2, 60))
    data = intent_csv.load(tmp_path)
    assert len(data.train) == 4 and [r.text for r in data.val] == ["alarm set question, number 50"]


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "test.csv").unlink(), "expected train.csv and test.csv"),
    (lambda f: write_csv(f / "train.csv", ["text", "answer"], [("hi", "x")]), "needs a text column"),
    (lambda f: write_csv(f / "train.csv", ["text", "label"], [("hi", "x"), ("", "x")]), "line 3: column 'text' is empty"),
    (lambda f: write_csv(f / "train.csv", ["text", "label"], [("hi", "")]), "line 2: column 'label' is empty"),
    (lambda f: write_csv(f / "train.csv", ["text", "label"], []), "has a header but no rows"),
    (lambda f: write_csv(f / "test.csv", ["text", "category"], [("lost my pin", "pin_blocked")]),
     "labels with no training row: ['pin_blocked']"),
])
def test_a_bad_set_is_refused_naming_the_file_and_what_is_wrong(bank: Path, damage, message):
    damage(bank)
    with pytest.raises(intent_csv.IntentCsvError) as error:
        intent_csv.load(bank)
    assert message in str(error.value)


def test_load_intents_tells_clinc150_from_csv_and_names_both_layouts_when_neither(bank: Path, tmp_path: Path):
    clinc = tmp_path / "clinc"
    clinc.mkdir()
    (clinc / "domains.json").write_text(json.dumps({"banking": ["balance"]}))
    (clinc / "data_full.json").write_text(json.dumps(
        {"train": [["what is my balance", "balance"]], "val": [["balance please", "balance"]], "test": [["balance?", "balance"]]}))
    assert load_intents(clinc) == clinc150.load(clinc)
    assert load_intents(bank) == intent_csv.load(bank)
    with pytest.raises(FileNotFoundError, match="expected CLINC150 .* or train.csv and test.csv"):
        load_intents(tmp_path / "empty")


def test_the_days_benchmark_refuses_more_intents_than_the_set_holds(bank: Path, tmp_path: Path, capsys):
    threads = str(torch.get_num_threads())  # main sets torch's threads: leave them as they are
    out = tmp_path / "days.json"
    err = refused(days_main, ["--data", str(bank), "--intents", "5", "--threads", threads, "--out", str(out)], out, capsys)
    assert "--intents 5: my_bank_77 has 3 intents" in err
    assert not out.with_suffix(".png").exists()


def test_the_days_benchmark_refuses_more_distinct_queries_than_the_intents_hold(bank: Path, tmp_path: Path, capsys):
    threads = str(torch.get_num_threads())
    out = tmp_path / "days.json"
    held = len(intent_csv.load(bank).train)
    # Refused before the first day, not when the queries run out.
    err = refused(days_main, ["--data", str(bank), "--intents", "3", "--per-day", str(held), "--days", "2",
                              "--intents-seeds", "0", "--threads", threads, "--out", str(out)], out, capsys)
    assert (f"--per-day {held} x --days 2 = {2 * held} distinct queries, but the 3 intents of --intents-seeds 0 hold "
            f"{held} training queries") in err


def test_the_long_message_set_puts_an_opening_before_each_query_and_reads_back(tmp_path: Path):
    clinc = tmp_path / "clinc"
    clinc.mkdir()
    queries = [f"how do i {verb} my card" for verb in ("freeze", "activate", "replace", "cancel", "renew", "lock")]
    (clinc / "domains.json").write_text(json.dumps({"banking": ["card"]}))
    (clinc / "data_full.json").write_text(json.dumps(
        {"train": [[q, "card"] for q in queries], "val": [[queries[0], "card"]], "test": [[queries[1], "card"]]}))
    out = tmp_path / "long"
    assert long_messages.main(["--clinc", str(clinc), "--out", str(out)]) == 0
    first = (out / "train.csv").read_bytes()
    loaded = intent_csv.load(out)
    texts = [row.text for row in loaded.train]
    assert [row.intent for row in loaded.train] == ["card"] * len(queries)
    assert all(text.endswith(query) for text, query in zip(texts, queries))  # the question comes last, whole
    assert any(len(text) > len(query) + 40 for text, query in zip(texts, queries))  # some behind a long opening
    assert long_messages.main(["--clinc", str(clinc), "--out", str(out)]) == 0
    assert (out / "train.csv").read_bytes() == first  # the same files on every run
