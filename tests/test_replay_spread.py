"""A continued adapter's replayed rows: each trained once, spread over the passes (real tiny model)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from tests.test_tuner_training import toy_split
from tuner.config import TrainConfig
from tuner.cycle.config import CycleConfig
from tuner.cycle.planning import DomainData
from tuner.data import DataSplit
from tuner.training import AdapterTrainer

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def test_each_replayed_row_is_trained_once_and_every_new_row_each_epoch(bert_classifier):
    split = toy_split(300)
    new, replayed = split.train[:60], split.train[60:120]
    config = TrainConfig(epochs=3, batch_size=8, patience=0, progress=False)
    trainer = AdapterTrainer(bert_classifier, new, split.validation, layers=[1], config=config, replay=replayed)
    assert trainer.total_steps == 3 * math.ceil((60 + 60 / 3) / 8) == 30
    both = AdapterTrainer(bert_classifier, [*new, *replayed], split.validation, layers=[1], config=config)
    assert both.total_steps == 3 * math.ceil(120 / 8) == 45

    orders = [trainer._epoch_order() for _ in range(3)]
    shares = [sorted(i for i in order if i >= 60) for order in orders]
    assert all(sorted(i for i in order if i < 60) == list(range(60)) for order in orders)
    assert [len(s) for s in shares] == [20, 20, 20] and sorted(sum(shares, [])) == list(range(60, 120))
    assert orders[0] != sorted(orders[0])  # shuffled


def test_training_with_replay_runs_its_steps_and_covers_the_replayed_labels(bert_classifier):
    split = toy_split(300)
    labels = sorted({e.target for e in split.train})
    new = [e for e in split.train if e.target != labels[0]]
    replayed = [e for e in split.train if e.target == labels[0]][:12]
    config = TrainConfig(epochs=2, batch_size=8, patience=0, progress=False)
    trainer = AdapterTrainer(bert_classifier, new, split.validation, layers=[1], config=config, replay=replayed)
    while not trainer.done:
        trainer.step()
    assert trainer.step_count == trainer.total_steps == 2 * math.ceil((len(new) + 6) / 8)
    assert labels[0] in trainer.adapter.labels


def test_without_replay_the_epoch_order_is_the_plain_shuffle(bert_classifier):
    split = toy_split(120)
    config = TrainConfig(epochs=2, batch_size=8, seed=3, progress=False)
    trainer = AdapterTrainer(bert_classifier, split.train, split.validation, layers=[1], config=config)
    expected = torch.randperm(len(split.train), generator=torch.Generator().manual_seed(3)).tolist()
    assert trainer._epoch_order() == expected


def test_domain_data_splits_its_training_rows_at_what_the_start_learned():
    rows = toy_split(120).train
    seen = sorted(e.seq for e in rows)[len(rows) // 2]
    data = DomainData(DataSplit(rows, [], []), frozenset(), seen_seq=seen, tried_seq=seen)
    new, replayed = data.pass_rows()
    assert new and replayed and len(new) + len(replayed) == len(rows) and data.retried == 0
    assert all(e.seq > seen for e in new) and all(e.seq <= seen for e in replayed)


def test_rows_a_broken_line_trained_on_are_trained_once():
    rows = toy_split(120).train
    seqs = sorted(e.seq for e in rows)
    learned, tried = seqs[len(rows) // 3], seqs[2 * len(rows) // 3]
    data = DomainData(DataSplit(rows, [], []), frozenset(), seen_seq=learned, tried_seq=tried)
    every_pass, once = data.pass_rows()
    assert all(e.seq > tried for e in every_pass) and all(e.seq <= tried for e in once)
    assert data.retried == sum(learned < e.seq <= tried for e in rows) > 0
    # Nothing new since the last candidate: every row gets every pass.
    assert DomainData(DataSplit(rows, [], []), frozenset(), seen_seq=learned, tried_seq=seqs[-1]).pass_rows() == (rows, [])


def test_spread_replay_must_be_a_bool():
    assert CycleConfig().spread_replay is True
    with pytest.raises(ValueError, match="spread_replay must be a bool, got 1"):
        replace(CycleConfig(), spread_replay=1)
