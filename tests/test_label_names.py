"""Label names read as words for zero-shot answers and new heads, however the name joins them.

SNIPS-style names (``AddToPlaylist``) read as one long token's word pieces used to start
far from the label's meaning (CLINC150's 150 intents spelled CamelCase: zero-shot 0.490
against 0.684 snake_case; read as words, 0.680).
"""

from __future__ import annotations

import pytest
import torch

from tuner.encoding import label_text
from tuner.heads import zero_shot_head


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
