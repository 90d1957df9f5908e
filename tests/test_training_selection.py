"""Checkpoint choice and early stopping on the gate's metric; the learning-rate schedule."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from tests.test_tuner_training import toy_split
from tuner.config import TrainConfig, resolve_monitor
from tuner.objectives import objective_for
from tuner.schedules import lr_factor, scheduler
from tuner.selection import Selection
from tuner.training import AdapterTrainer, _validate, eval_cadence, train_adapter

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def test_loss_rising_while_accuracy_improves_picks_the_accuracy_best_step():
    # The curve: a warm start whose validation loss rises (a more confident head)
    # while accuracy goes 0.87, 0.86, 0.88: loss would keep step 0, accuracy keeps step 20.
    curve = [(0, 0.87, 0.40), (10, 0.86, 0.45), (20, 0.88, 0.52), (30, 0.88, 0.60)]
    by_accuracy, by_loss = Selection("accuracy", patience=3), Selection("loss", patience=3)
    for step, accuracy, loss in curve:
        by_accuracy.offer(step, accuracy, loss)
        by_loss.offer(step, loss, loss)
    assert by_accuracy.best_step == 20 and by_accuracy.best_metric == 0.88
    assert by_loss.best_step == 0


def test_equal_metric_is_broken_by_the_lower_loss():
    selection = Selection("accuracy")
    assert selection.offer(0, 0.8, 0.7)
    assert selection.offer(5, 0.8, 0.6)  # same accuracy, lower loss: better
    assert not selection.offer(10, 0.8, 0.65)
    assert not selection.offer(15, 0.79, 0.1)  # lower loss never outweighs a worse metric
    assert (selection.best_step, selection.best_loss, selection.since_progress) == (5, 0.6, 2)


def test_patience_counts_evaluations_without_a_better_one():
    selection = Selection("token_f1", patience=2)
    selection.offer(1, 0.5, 1.0)
    selection.offer(2, 0.4, 0.9)
    assert not selection.exhausted
    selection.offer(3, 0.45, 0.8)
    assert selection.exhausted
    assert not Selection("loss", patience=0).exhausted


def test_the_start_can_be_kept_but_patience_counts_from_the_best_trained_pass():
    # An imprinted head or a champion: a high start, a dip, a slow recovery past it.
    selection = Selection("accuracy", patience=2)
    selection.offer(0, 0.80, 0.5)
    for step, accuracy in ((10, 0.14), (20, 0.45), (30, 0.61), (40, 0.60)):
        selection.offer(step, accuracy, 1.0)
        assert not selection.exhausted  # each dipping pass is worse than the start, not than training's best
    assert (selection.best_step, selection.progress_step, selection.since_progress) == (0, 30, 1)
    selection.offer(50, 0.55, 1.0)
    assert selection.exhausted and selection.best_step == 0  # training stalled under the start: the start is kept
    recovered = Selection("accuracy", patience=2)
    for step, accuracy in ((0, 0.80), (10, 0.14), (20, 0.45), (30, 0.90)):
        recovered.offer(step, accuracy, 1.0)
    assert recovered.best_step == recovered.progress_step == 30 and not recovered.exhausted
    only_start = Selection("accuracy", patience=1)
    only_start.offer(0, 0.8, 0.5)
    assert not only_start.exhausted and only_start.progress_step is None


@pytest.mark.parametrize(("monitor", "patience"), [("f1", 1), ("loss", -1), ("loss", True)])
def test_selection_refuses_bad_settings_naming_the_field(monitor, patience):
    field = "monitor" if monitor == "f1" else "patience"
    with pytest.raises(ValueError, match=field):
        Selection(monitor, patience)


def test_auto_monitor_is_the_gates_metric_and_a_mismatch_is_refused():
    assert resolve_monitor("auto", "classification") == "accuracy"
    assert resolve_monitor("auto", "generation") == "token_f1"
    assert resolve_monitor("loss", "generation") == "loss"
    with pytest.raises(ValueError, match="monitor 'token_f1' needs task generation"):
        resolve_monitor("token_f1", "classification")


def test_training_keeps_the_step_its_selection_rule_picks_from_the_recorded_history(bert_classifier):
    split = toy_split(160)
    config = TrainConfig(epochs=4, lr=0.02, batch_size=16, eval_every=2, patience=0, progress=False)
    result = train_adapter(bert_classifier, split.train, split.validation, layers=[0, 1], config=config)
    assert result.monitor == "accuracy" and len(result.history) > 5
    replay = Selection("accuracy")
    for point in result.history:
        replay.offer(point.step, point.val_accuracy, point.val_loss)
    assert result.best_step == replay.best_step
    assert result.best_metric == max(p.val_accuracy for p in result.history)
    # The returned weights are that step's: the same validation accuracy again.
    objective = objective_for(bert_classifier, result.adapter.labels, config.max_length)
    _, accuracy = _validate(objective, result.adapter, objective.encode(split.validation), config.batch_size)
    assert accuracy == pytest.approx(result.best_metric)
    assert "kept step" in result.why_stopped() and result.stop_reason == "completed"


def test_early_stop_on_accuracy_says_why(bert_classifier):
    split = toy_split(160)
    # Far too high a rate: accuracy collapses after step 0 and never comes back (patience alone decides).
    config = TrainConfig(epochs=20, lr=0.5, batch_size=16, eval_every=1, patience=2, min_epochs=0.0,
                         patience_epochs=0.0, progress=False)
    result = train_adapter(bert_classifier, split.train, split.validation, layers=[0, 1], config=config)
    assert result.stop_reason == "patience" and result.stopped_early
    assert result.best_step == 0 < result.progress_step  # the start kept; training's own best came later
    # Two passes after training's best (not after the start, which does not run the clock).
    assert result.steps == result.progress_step + config.patience < result.total_steps
    trained_best = max(p.val_accuracy for p in result.history[1:])
    assert result.history[result.progress_step].val_accuracy == trained_best
    assert ("2 evaluations (2 steps) without a better accuracy than training's best "
            f"(step {result.progress_step}); kept step 0") in result.why_stopped()


def test_training_recovers_past_a_high_start_that_patience_used_to_stop_at(bert_classifier):
    # The imprinted head (the default cold start) scores well before training; the first
    # steps at the full rate dip far below it, and the recovery passes it.
    split = toy_split(240)
    config = TrainConfig(epochs=8, lr=5e-3, batch_size=16, patience=3, progress=False)
    result = train_adapter(bert_classifier, split.train, split.validation, layers=[0, 1], config=config)
    start, dip = result.history[0].val_accuracy, result.history[1].val_accuracy
    assert dip < start - 0.3
    # Counted from the start, three passes under it would have stopped training with the start kept.
    under_start = [p.step for p in result.history[1:] if p.val_accuracy <= start]
    assert len(under_start) >= config.patience
    assert result.best_step > under_start[config.patience - 1] and result.best_metric > start


def test_a_start_that_may_not_be_kept_loses_to_the_best_trained_pass(bert_classifier):
    split = toy_split(160)
    # Far too high a rate, as below: every evaluation after step 0 is worse, so only select_start decides.
    config = TrainConfig(epochs=2, lr=0.5, batch_size=16, eval_every=5, patience=0, progress=False)
    kept_start = train_adapter(bert_classifier, split.train, split.validation, layers=[0, 1], config=config)
    assert kept_start.best_step == 0
    trained = train_adapter(bert_classifier, split.train, split.validation, layers=[0, 1],
                            config=replace(config, select_start=False))
    # Step 0 is still scored (the curve starts there), but the pass kept is the best later one.
    start = trained.history[0]
    assert start.step == 0 and start.val_accuracy == kept_start.history[0].val_accuracy
    replay = Selection("accuracy")
    for point in trained.history[1:]:
        replay.offer(point.step, point.val_accuracy, point.val_loss)
    assert trained.best_step == replay.best_step > 0
    assert trained.best_metric == replay.best_metric < start.val_accuracy  # the better start is not kept
    assert f"the start scored {start.val_accuracy:.4f} there and may not be kept" in trained.why_stopped()
    assert kept_start.start_not_kept is None and "the start scored" not in kept_start.why_stopped()
    objective = objective_for(bert_classifier, trained.adapter.labels, config.max_length)
    _, accuracy = _validate(objective, trained.adapter, objective.encode(split.validation), config.batch_size)
    assert accuracy == pytest.approx(trained.best_metric)


def test_patience_never_stops_before_min_epochs_passes_over_the_training_set(bert_classifier):
    split = toy_split(160)
    # As above, every evaluation after step 0 is worse; patience alone stops two passes after training's best.
    config = TrainConfig(epochs=20, lr=0.5, batch_size=16, eval_every=1, patience=2, min_epochs=0.0,
                         patience_epochs=0.0, progress=False)
    steps_per_epoch = math.ceil(len(split.train) / config.batch_size)
    stops = {}
    for min_epochs in (0.0, 2.0):
        result = train_adapter(bert_classifier, split.train, split.validation, layers=[0, 1],
                               config=replace(config, min_epochs=min_epochs))
        assert result.stopped_early and result.best_step == 0
        stops[min_epochs] = (result.steps, result.progress_step)
    assert stops[0.0][0] == stops[0.0][1] + config.patience < 2 * steps_per_epoch
    assert stops[2.0][0] == 2 * steps_per_epoch  # the first evaluation at or after two passes
    with pytest.raises(ValueError, match="min_epochs must be >= 0, got -1"):
        TrainConfig(min_epochs=-1)


def test_patience_waits_an_epoch_after_the_best_pass_when_passes_come_several_an_epoch(bert_classifier):
    split = toy_split(160)
    # As above: the start is kept, and two passes after training's best patience alone would stop.
    config = TrainConfig(epochs=20, lr=0.5, batch_size=16, eval_every=1, patience=2, min_epochs=0.0,
                         patience_epochs=1.5, progress=False)
    steps_per_epoch = math.ceil(len(split.train) / config.batch_size)
    result = train_adapter(bert_classifier, split.train, split.validation, layers=[0, 1], config=config)
    assert result.stopped_early and result.best_step == 0
    # 1.5 epochs after training's best pass, not config.patience passes after it.
    assert result.steps == result.progress_step + math.ceil(1.5 * steps_per_epoch)
    # With passes an epoch apart the window is already covered: patience counts passes as before.
    spaced = train_adapter(bert_classifier, split.train, split.validation, layers=[0, 1],
                           config=replace(config, eval_every=steps_per_epoch, patience_epochs=1.0))
    assert spaced.stopped_early and spaced.steps == spaced.progress_step + config.patience * steps_per_epoch
    with pytest.raises(ValueError, match="patience_epochs must be >= 0, got -0.5"):
        TrainConfig(patience_epochs=-0.5)


def test_generation_monitors_token_f1_by_default(llama_generator):
    split = toy_split(60, generation=True)
    config = TrainConfig(max_steps=2, eval_every=1, lr=5e-3, batch_size=8, max_length=24, progress=False)
    result = train_adapter(llama_generator, split.train, split.validation[:6], layers=[3], config=config)
    assert result.monitor == "token_f1"
    assert [p.val_metric for p in result.history] == [pytest.approx(p.val_metric) for p in result.history]
    assert all(0.0 <= p.val_metric <= 1.0 for p in result.history)
    assert result.best_metric == max(p.val_metric for p in result.history)


def test_eval_cadence_scales_with_the_data(bert_classifier):
    small, large = toy_split(80), toy_split(400)
    config = TrainConfig(epochs=1, batch_size=8, eval_examples=64, eval_share=4.0, progress=False)
    few = AdapterTrainer(bert_classifier, small.train, small.validation, layers=[1], config=config)
    many = AdapterTrainer(bert_classifier, large.train, large.validation, layers=[1], config=config)
    assert few.eval_every == min(math.ceil(len(small.train) / 8), 8)
    assert many.eval_every == 8 and many.total_steps // many.eval_every >= 3  # several passes an epoch


def test_eval_cadence_keeps_validation_a_share_of_the_training_rows():
    config = TrainConfig(batch_size=32, eval_examples=512, eval_share=0.5, progress=False)
    assert eval_cadence(config, steps_per_epoch=75, validation_rows=200) == 16  # 512 rows: the share is not binding
    assert eval_cadence(config, steps_per_epoch=75, validation_rows=1000) == 63  # 2,000 rows between passes
    assert eval_cadence(config, steps_per_epoch=40, validation_rows=1000) == 40  # still once an epoch
    assert eval_cadence(replace(config, eval_share=2.0), steps_per_epoch=75, validation_rows=1000) == 16
    assert eval_cadence(replace(config, eval_every=5), steps_per_epoch=75, validation_rows=1000) == 5


def test_a_large_validation_set_is_scored_less_often(bert_classifier):
    split, share, batch = toy_split(400), 0.5, 4
    config = TrainConfig(epochs=2, batch_size=batch, eval_examples=batch, eval_share=share, patience=0, progress=False)
    trainer = AdapterTrainer(bert_classifier, split.train, split.validation, layers=[1], config=config)
    rows, steps_per_epoch = len(trainer.val_items), math.ceil(len(split.train) / batch)
    assert 1 < trainer.eval_every == math.ceil(rows / share / batch) < steps_per_epoch
    while not trainer.done:
        trainer.step()
    passes_after_step_0 = len(trainer.history) - 1
    # At most the share, plus the pass at the last step that does not fall on the cadence.
    assert (passes_after_step_0 - 1) * rows <= share * trainer.step_count * batch


def test_validation_order_does_not_change_its_metrics(bert_classifier):
    split = toy_split(120)
    validation = [replace(e, text=e.text + " again" * (i % 4)) for i, e in enumerate(split.validation)]
    config = TrainConfig(max_steps=0, batch_size=4, progress=False)
    trainer = AdapterTrainer(bert_classifier, split.train, validation, layers=[1], config=config)
    lengths = [trainer.objective.length(i) for i in trainer.val_items]
    assert lengths == sorted(lengths) and len(set(lengths)) > 1
    given = trainer.objective.encode(validation)
    assert [trainer.objective.length(i) for i in given] != lengths
    ordered = _validate(trainer.objective, trainer.adapter, trainer.val_items, 4)
    assert ordered == pytest.approx(_validate(trainer.objective, trainer.adapter, given, 4), abs=1e-5)


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
def test_schedule_warms_up_then_decays(schedule):
    total, warmup = 100, 0.1
    factors = [lr_factor(step, total, schedule, warmup) for step in range(total)]
    assert factors[:10] == sorted(factors[:10]) and factors[0] < 0.2 and factors[10] == pytest.approx(1.0)
    if schedule == "constant":
        assert set(factors[10:]) == {1.0}
    else:
        assert factors[10:] == sorted(factors[10:], reverse=True) and 0.0 < factors[-1] < 0.05


def test_scheduler_drives_every_parameter_group():
    weights = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    optimizer = torch.optim.AdamW([{"params": [weights[0]], "lr": 1.0}, {"params": [weights[1]], "lr": 2.0}])
    schedule = scheduler(optimizer, 10, "linear", 0.2)
    rates = []
    for _ in range(10):
        rates.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        schedule.step()
    assert rates[0] == pytest.approx([1 / 3, 2 / 3]) and rates[2] == pytest.approx([1.0, 2.0])
    assert rates[-1][1] == pytest.approx(2 * rates[-1][0]) and rates[-1][0] < rates[3][0]


@pytest.mark.parametrize(
    ("args", "field"),
    [((0, 10, "step", 0.1), "schedule"), ((0, 10, "cosine", 1.0), "warmup"), ((10, 10, "cosine", 0.1), "step"),
     ((0, 0, "linear", 0.0), "step")],
)
def test_schedule_refuses_bad_arguments_naming_them(args, field):
    with pytest.raises(ValueError, match=field):
        lr_factor(*args)


def test_label_smoothing_changes_the_training_loss_not_the_reported_one(bert_classifier):
    split = toy_split(80)
    labels = sorted({e.target for e in split.train})
    plain = objective_for(bert_classifier, labels, 32)
    smooth = objective_for(bert_classifier, labels, 32, label_smoothing=0.2)
    trainer = AdapterTrainer(bert_classifier, split.train, split.validation, layers=[1],
                             config=TrainConfig(max_steps=0, progress=False))
    trainer.adapter.eval()  # no dropout: the two objectives see the same logits
    batch = plain.batch(plain.encode(split.train[:16]))
    with torch.no_grad():
        assert float(smooth.loss(trainer.adapter, batch)) != pytest.approx(float(plain.loss(trainer.adapter, batch)))
    assert smooth.score(trainer.adapter, batch) == plain.score(trainer.adapter, batch)
