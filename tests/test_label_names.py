"""Label names read as words for zero-shot answers and new heads, however the name joins them;
a declared description counts with the name.

SNIPS-style names (``AddToPlaylist``) read as one long token's word pieces used to start
far from the label's meaning (CLINC150's 150 intents spelled CamelCase: zero-shot 0.490
against 0.684 snake_case; read as words, 0.680).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tuner.config import TrainConfig
from tuner.encoding import label_text
from tuner.heads import embed_texts, label_embeddings, zero_shot_head
from tuner.targeting import prepare_adapter


@pytest.mark.parametrize("name, words", [
    ("pay_bill", "pay bill"),
    ("pay-bill", "pay bill"),
    ("billing/pay.bill", "billing pay bill"),
    ("billing: pay bill", "billing pay bill"),
    ("PayBill", "Pay Bill"),
    ("AddToPlaylist", "Add To Playlist"),
    ("ATMFee", "ATM Fee"),
    ("W2Form", "W2 Form"),
    ("401k", "401k"),
    ("2FA", "2FA"),
    ("_", "_"),  # nothing but a separator: the name itself, never an empty text
])
def test_a_label_name_reads_as_its_words(name, words):
    assert label_text(name) == words


def test_labels_spelled_another_way_get_the_same_zero_shot_head(bert_classifier):
    model, tokenizer = bert_classifier.model, bert_classifier.tokenizer
    snake = zero_shot_head(model, tokenizer, ["pay_bill", "lost_card", "check_balance"], "mean")
    other = zero_shot_head(model, tokenizer, ["pay-bill", "lost.card", "check/balance"], "mean")
    assert torch.equal(snake.weight, other.weight)


def test_a_described_label_starts_from_its_name_and_its_description(bert_classifier):
    model, tokenizer = bert_classifier.model, bert_classifier.tokenizer
    labels = ["pay_bill", "lost_card", "check_balance"]
    names = label_embeddings(model, tokenizer, labels, "mean")
    described = label_embeddings(model, tokenizer, labels, "mean",
                                 descriptions={"lost_card": "stolen", "pay_bill": " ", "check_balance": None})
    assert torch.equal(described[0], names[0]) and torch.equal(described[2], names[2])  # blank or none: the name alone
    meaning = F.normalize(embed_texts(model, tokenizer, ["stolen"], "mean"), dim=-1)[0]
    assert torch.allclose(described[1], F.normalize(names[1] + meaning, dim=0), atol=1e-6)
    assert not torch.allclose(described[1], names[1])
    # A new adapter's head (the cycle's and tune's first candidate) starts from those rows.
    adapter, _ = prepare_adapter(bert_classifier, layers=[1], config=TrainConfig(progress=False), labels=labels,
                                 label_descriptions={"lost_card": "stolen"})
    assert torch.allclose(adapter.head.weight.detach(), described, atol=1e-6)
