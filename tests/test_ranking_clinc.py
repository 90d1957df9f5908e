"""Slow: ranking on simulated CLINC150 traffic, and the probe on the embedded MiniLM."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
import torch

from recsys.datasets import clinc150
from recsys.events.log import append_interactions
from recsys.events.validate import EventLimits
from recsys.metrics import evaluate_rankings, popularity_ranking
from recsys.ranking import DomainRanker
from recsys.store import open_database
from recsys.traffic import TrafficConfig, simulate_clinc_traffic

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not clinc150.available(), reason="CLINC150 not found (set ADAPTUNE_CLINC150)"),
]


BIG_BATCHES = EventLimits(max_batch_events=20_000)


@pytest.fixture(scope="module")
def dataset():
    return clinc150.load()


def test_the_domain_the_model_fails_ranks_first(dataset, tmp_path):
    config = TrafficConfig(n_users=300, n_events=12_000, error_rates={"utility": 0.6}, default_error_rate=0.1, seed=3)
    db = open_database(tmp_path / "clinc.duckdb")
    append_interactions(db, simulate_clinc_traffic(dataset, config), limits=BIG_BATCHES)
    top = DomainRanker().fit(db).rank_domains(top_k=3)
    assert top[0].domain == "utility"
    assert top[0].error_rate == pytest.approx(0.6, abs=0.05)


def test_personal_rankings_beat_popularity_on_held_out_traffic(dataset, tmp_path):
    config = TrafficConfig(n_users=300, n_events=15_000, n_segments=6, domains_per_segment=3, seed=5)
    events = simulate_clinc_traffic(dataset, config)
    train, test = events[: int(0.8 * len(events))], events[int(0.8 * len(events)) :]
    db = open_database(tmp_path / "held.duckdb")
    append_interactions(db, train, limits=BIG_BATCHES)
    ranker = DomainRanker().fit(db)
    held: dict[str, Counter] = defaultdict(Counter)
    for e in test:
        held[e.user_id][e.domain] += 1
    personal = {u: [d.domain for d in ranker.recommend(u, 3, objective="affinity").domains] for u in held}
    popular = popularity_ranking(Counter(e.domain for e in train))
    mine = evaluate_rankings(personal, held, 3)
    baseline = evaluate_rankings({u: popular for u in held}, held, 3)
    assert mine.users == baseline.users > 250
    assert mine.ndcg > baseline.ndcg + 0.1


def test_probe_on_the_embedded_minilm(dataset):
    from tuner.loading import load_base
    from tuner.probe import probe_layers

    base = load_base("minilm-l6", "classification")
    texts = [row.text for row in dataset.train if row.domain == "banking"][:16]
    batches = []
    for start in range(0, len(texts), 8):
        encoded = base.tokenizer(texts[start : start + 8], return_tensors="pt", padding=True)
        batches.append({"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]})

    def embedding_loss(model, batch):
        # Pull the pooled sentence embeddings of one domain's queries together.
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1)
        return (pooled - pooled.mean(0, keepdim=True)).pow(2).sum(-1).mean()

    before = {k: v.clone() for k, v in base.model.state_dict().items()}
    first = probe_layers(base.model, batches, embedding_loss, show_progress=False)
    assert probe_layers(base.model, batches, embedding_loss, show_progress=False) == first
    assert [(o.layer, o.module_group) for o in first] == [(l, g) for l in range(6) for g in ("attention", "mlp")]
    assert all(o.grad_norm > 0 and o.n_examples == 16 for o in first)
    assert all(torch.equal(before[k], v) for k, v in base.model.state_dict().items())
    assert not any(p.requires_grad for p in base.model.parameters())
