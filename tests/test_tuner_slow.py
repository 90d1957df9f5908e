"""The real embedded models: minilm-l6 on CLINC150, smollm2-135m generation (slow)."""

from __future__ import annotations

import pytest
import torch

from recsys.datasets import clinc150
from tests.fixtures.toy_data import toy_interactions
from tuner.adapters import load_adapter, save_adapter
from tuner.config import TrainConfig
from tuner.data import split_interactions
from tuner.evaluation import evaluate
from tuner.loading import load_base
from tuner.predict import predict
from tuner.sources import clinc_split
from tuner.training import train_adapter

# One torch thread: on a busy shared machine two threads spin against other processes.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("torch_single_thread")]


@pytest.mark.skipif(not clinc150.available(), reason=f"CLINC150 not found at {clinc150.default_path()}")
def test_minilm_beats_zero_shot_on_clinc_banking_after_a_few_steps():
    base = load_base("minilm-l6", "classification")
    split = clinc_split(None, "banking", per_label=20)
    config = TrainConfig(max_steps=15, batch_size=32, max_length=32, lr=2e-3, head_lr=5e-3, progress=False)
    result = train_adapter(base, split.train, split.validation[::5], layers=[4, 5], config=config)
    labels = list(result.adapter.labels)
    assert len(labels) == 15
    zero_shot = evaluate(base, split.test, labels=labels, max_length=32)
    tuned = evaluate(base, split.test, result.adapter, max_length=32)
    assert tuned["accuracy"] > zero_shot["accuracy"] + 0.05
    assert tuned["macro_f1"] > zero_shot["macro_f1"]


def test_smollm2_generation_trains_on_top_layers_and_reloads_exactly(tmp_path):
    base = load_base("smollm2-135m", "generation")
    assert base.num_layers == 30
    split = split_interactions(toy_interactions(40, generation=True), validation=0.25, test=0.0)
    config = TrainConfig(max_steps=4, batch_size=8, max_length=48, lr=2e-3, rank=4, alpha=8, progress=False)
    result = train_adapter(base, split.train, split.validation, layers=[28, 29], groups=["attention"], config=config)
    assert result.history[-1].val_loss < result.history[0].val_loss
    save_adapter(result.adapter, tmp_path / "a")
    loaded = load_adapter(base, tmp_path / "a")
    saved, back = result.adapter.lora_state(), loaded.lora_state()
    assert all(torch.equal(saved[k], back[k]) for k in saved)
    texts = [e.text for e in split.validation[:2]]
    assert predict(base, texts, loaded, max_new_tokens=4) == predict(base, texts, result.adapter, max_new_tokens=4)
