from __future__ import annotations

import io
from dataclasses import dataclass, field

import pytest
import torch
from PIL import Image

from models.checkpoint import CheckpointError, pack_state, unpack_state
from models.config import GanConfig
from models.errors import DataError
from models.labels import MARGIN, text_width
from models.monitor import Monitor, Progress, Stopped
from models.snapshot import read_pretrained
from models.training import GanCallbacks, TrainResult, train_gan

pytestmark = pytest.mark.usefixtures("one_thread")

CLASSES = ["a", "b"]


def make_config(**overrides) -> GanConfig:
    options = {"resolution": 28, "width": 8, **overrides.pop("options", {})}
    values = dict(architecture="cdcgan", channels=1, class_names=CLASSES, steps=7, batch_size=4, sample_every=2,
                  checkpoint_every=3, options=options)
    values.update(overrides)
    return GanConfig(**values)


def make_data(channels: int = 1, n: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(42)
    images = torch.randint(0, 256, (n, channels, 28, 28), dtype=torch.uint8, generator=gen)
    return images, torch.arange(n) % 2


@dataclass
class Recorder:
    stop_after: int | None = None
    progress: list[Progress] = field(default_factory=list)
    checkpoints: dict = field(default_factory=dict)
    samples: dict = field(default_factory=dict)

    def callbacks(self) -> GanCallbacks:
        return GanCallbacks(save_checkpoint=self.checkpoints.__setitem__, save_sample=self.samples.__setitem__)

    def monitor(self) -> Monitor:
        return Monitor(self.progress.append,
                       lambda: self.stop_after is not None and len(self.progress) >= self.stop_after)

    @property
    def steps(self) -> list[int]:
        return [p.step for p in self.progress]


def run(config: GanConfig, recorder: Recorder | None = None, **kwargs) -> tuple[TrainResult, Recorder]:
    recorder = recorder or Recorder()
    images, labels = make_data(config.channels)
    return train_gan(config, images, labels, recorder.callbacks(), recorder.monitor(), **kwargs), recorder


def stopped(config: GanConfig, after: int, **kwargs) -> tuple[bytes, Recorder]:
    """The training checkpoint that a stop after `after` steps hands over."""
    recorder = Recorder(stop_after=after)
    with pytest.raises(Stopped) as caught:
        run(config, recorder, **kwargs)
    return caught.value.state, recorder


def weights(blob: bytes) -> dict[str, torch.Tensor]:
    tree = unpack_state(blob)["trainer"]
    return {f"{net}.{k}": v for net in ("generator", "discriminator") for k, v in tree[net].items()}


@pytest.mark.parametrize(("architecture", "channels", "rows"), [("cdcgan", 1, 2), ("dcgan", 3, 8)])
def test_callbacks_follow_the_schedule(architecture, channels, rows):
    result, rec = run(make_config(architecture=architecture, channels=channels))
    assert [(p.step, p.total, p.message) for p in rec.progress] == [(s, 7, "training") for s in range(1, 8)]
    for progress in rec.progress:
        assert {"loss_g", "loss_d", "d_real", "d_fake"} <= set(progress.metrics)
        assert all(type(v) is float for v in progress.metrics.values())
    assert list(rec.checkpoints) == [3, 6, 7]
    assert list(rec.samples) == [2, 4, 6, 7]
    for png in rec.samples.values():
        image = Image.open(io.BytesIO(png))
        image.verify()
        image = Image.open(io.BytesIO(png))
        assert image.format == "PNG"
        assert image.mode == ("L" if channels == 1 else "RGB")
        labels = 2 * MARGIN + max(text_width(name) for name in CLASSES) if architecture == "cdcgan" else 0
        assert image.size == (labels + 8 * 30 + 2, rows * 30 + 2)
    assert (result.step, result.checkpoint) == (7, rec.checkpoints[7])
    tree = unpack_state(result.checkpoint)
    assert tree["format"] == "defectgen-gan/1" and tree["step"] == 7
    # augment "auto" is recorded as what it chose for the data: DiffAugment for a dozen images
    assert tree["config"] == make_config(architecture=architecture, channels=channels,
                                         options={"augment": "diffaugment"}).to_dict()
    assert set(tree["rng"]) == {"loop", "torch"}
    assert unpack_state(rec.checkpoints[3])["step"] == 3


def test_a_stop_raises_with_a_checkpoint_to_resume_from():
    state, rec = stopped(make_config(), 2)
    assert rec.steps == [1, 2] and rec.checkpoints == {} and list(rec.samples) == [2]
    assert unpack_state(state)["step"] == 2

    state, rec = stopped(make_config(), 0)
    assert rec.progress == [] and rec.checkpoints == {} and rec.samples == {}
    assert unpack_state(state)["step"] == 0


@pytest.mark.parametrize(("stop_after", "ema_images"), [(2, 0), (3, 0), (3, 8)])
def test_resume_is_bit_identical(stop_after, ema_images):
    config = make_config(options={"ema_images": ema_images})
    full, _ = run(config)
    interrupted, _ = stopped(config, stop_after)
    torch.rand(10)  # the caller's global RNG use in between must not matter
    resumed, rec = run(config, resume_from=interrupted)
    assert rec.steps == list(range(stop_after + 1, 8))
    assert resumed.step == 7
    assert (resumed.checkpoint, resumed.snapshot, resumed.discriminator) == (
        full.checkpoint, full.snapshot, full.discriminator)
    full_weights, resumed_weights = weights(full.checkpoint), weights(resumed.checkpoint)
    assert all(torch.equal(full_weights[k], resumed_weights[k]) for k in full_weights)


def test_the_initial_networks_depend_on_the_seed_alone():
    from models.architectures import get_architecture

    first = get_architecture("cdcgan").make_trainer(make_config()).state_dict()
    torch.rand(10)  # spectral norm's power-iteration vectors must not come from the caller's RNG
    second = get_architecture("cdcgan").make_trainer(make_config()).state_dict()
    for net in ("generator", "discriminator"):
        assert all(torch.equal(first[net][k], second[net][k]) for k in first[net])


def test_the_model_samples_from_the_moving_average_of_g():
    result, _ = run(make_config(options={"ema_images": 8}))
    trainer = unpack_state(result.checkpoint)["trainer"]
    snapshot = unpack_state(result.snapshot)["generator"]
    assert snapshot.keys() == trainer["g_train"].keys()
    assert all(torch.equal(snapshot[k], trainer["generator"][k]) for k in snapshot)
    assert not all(torch.equal(snapshot[k], trainer["g_train"][k]) for k in snapshot)

    plain, _ = run(make_config())
    trainer = unpack_state(plain.checkpoint)["trainer"]
    assert "g_train" not in trainer
    assert all(torch.equal(v, trainer["generator"][k]) for k, v in unpack_state(plain.snapshot)["generator"].items())


def test_resume_can_extend_training_but_not_change_it():
    first, _ = run(make_config())
    longer, rec = run(make_config(steps=9, sample_every=5, checkpoint_every=4), resume_from=first.checkpoint)
    assert longer.step == 9 and rec.steps == [8, 9]
    with pytest.raises(CheckpointError, match="options.lr"):
        run(make_config(options={"lr": 1e-3}), resume_from=first.checkpoint)
    with pytest.raises(CheckpointError, match="batch_size"):
        run(make_config(batch_size=2), resume_from=first.checkpoint)
    with pytest.raises(CheckpointError, match="beyond"):
        run(make_config(steps=5), resume_from=first.checkpoint)
    with pytest.raises(CheckpointError):
        run(make_config(), resume_from=first.snapshot)  # a snapshot is no training checkpoint
    with pytest.raises(CheckpointError):
        run(make_config(), resume_from=b"garbage")


def test_resume_on_another_device_type_reseeds_the_loop_rng():
    interrupted, _ = stopped(make_config(), 3)
    tree = unpack_state(interrupted)
    tree["config"]["device"] = "cuda"
    tree["rng"]["loop"] = torch.zeros(16, dtype=torch.uint8)  # a CUDA generator state would not fit a CPU one
    moved = pack_state(tree)
    resumed, rec = run(make_config(), resume_from=moved)
    again, _ = run(make_config(), resume_from=moved)
    assert rec.steps == [4, 5, 6, 7]
    assert resumed.checkpoint == again.checkpoint


def test_fine_tune_starts_from_the_models_generator_and_discriminator():
    source, _ = run(make_config(options={"resolution": 28, "width": 8, "z_dim": 100}, seed=1))
    fresh, _ = stopped(make_config(seed=2), 0)
    base = read_pretrained(source.snapshot, source.discriminator)
    started, _ = stopped(make_config(seed=2), 0, pretrained=base)
    source_weights, started_weights = weights(source.checkpoint), weights(started)
    assert all(torch.equal(source_weights[k], started_weights[k]) for k in source_weights)
    assert any(not torch.equal(source_weights[k], v) for k, v in weights(fresh).items())
    tree = unpack_state(started)
    assert tree["step"] == 0 and tree["trainer"]["opt_g"]["state"] == {}  # optimisers start fresh
    finished, _ = run(make_config(seed=2), pretrained=base)
    assert finished.step == 7


def test_fine_tune_without_a_discriminator_starts_d_afresh():
    source, _ = run(make_config(seed=1))
    fresh, _ = stopped(make_config(seed=2), 0)
    started, _ = stopped(make_config(seed=2), 0, pretrained=read_pretrained(source.snapshot))
    source_weights, fresh_weights, started_weights = weights(source.checkpoint), weights(fresh), weights(started)
    for key, value in started_weights.items():
        assert torch.equal(value, (source_weights if key.startswith("generator.") else fresh_weights)[key]), key


def test_fine_tune_onto_other_classes_keeps_all_but_the_class_embeddings():
    source, _ = run(make_config(seed=1))
    config = make_config(seed=2, class_names=["x", "y", "z"])
    fresh, _ = stopped(config, 0)
    started, _ = stopped(config, 0, pretrained=read_pretrained(source.snapshot, source.discriminator))
    source_weights, fresh_weights, started_weights = weights(source.checkpoint), weights(fresh), weights(started)
    assert {k for k in started_weights if "embed." in k} == {"generator.embed.weight", "discriminator.embed.weight"}
    for key, value in started_weights.items():
        assert torch.equal(value, (fresh_weights if "embed." in key else source_weights)[key]), key


def test_fine_tune_from_a_legacy_checkpoint_takes_both_networks_from_it():
    source, _ = run(make_config(seed=1))
    started, _ = stopped(make_config(seed=2), 0, pretrained=read_pretrained(source.checkpoint))
    source_weights, started_weights = weights(source.checkpoint), weights(started)
    assert all(torch.equal(source_weights[k], started_weights[k]) for k in source_weights)


def test_fine_tune_rejects_mismatched_networks():
    source, _ = run(make_config(options={"width": 16}, steps=1))
    base = read_pretrained(source.snapshot, source.discriminator)
    with pytest.raises(CheckpointError, match="width"):
        run(make_config(), pretrained=base)
    with pytest.raises(CheckpointError, match="architecture"):
        run(make_config(architecture="dcgan", options={"width": 16}), pretrained=base)
    with pytest.raises(CheckpointError, match="channels"):
        run(make_config(channels=3, options={"width": 16}), pretrained=base)
    with pytest.raises(ValueError):
        run(make_config(), pretrained=base, resume_from=source.checkpoint)


@pytest.mark.parametrize(("images", "labels"), [
    (torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long)),  # float images
    (torch.zeros(4, 1, 32, 32, dtype=torch.uint8), torch.zeros(4, dtype=torch.long)),  # wrong resolution
    (torch.zeros(4, 3, 28, 28, dtype=torch.uint8), torch.zeros(4, dtype=torch.long)),  # wrong channels
    (torch.zeros(0, 1, 28, 28, dtype=torch.uint8), torch.zeros(0, dtype=torch.long)),  # empty
    (torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.zeros(3, dtype=torch.long)),  # count mismatch
    (torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.tensor([0, 1, 2, 0])),  # label out of range
])
def test_bad_training_data_is_rejected(images, labels):
    with pytest.raises(DataError):
        train_gan(make_config(), images, labels, Recorder().callbacks(), Monitor())


def test_evaluate_gets_the_snapshot_of_every_eval_step_and_the_last():
    config = make_config(steps=7)
    images, labels = make_data()
    evaluated: dict[int, bytes] = {}
    plain = train_gan(config, images, labels, Recorder().callbacks(), Monitor())
    callbacks = Recorder().callbacks()
    callbacks.evaluate, callbacks.eval_every = evaluated.__setitem__, 3
    result = train_gan(config, images, labels, callbacks, Monitor())
    assert sorted(evaluated) == [3, 6, 7]
    assert unpack_state(evaluated[3])["step"] == 3
    assert evaluated[7] == result.snapshot == plain.snapshot  # evaluating does not change the training trajectory
    assert result.checkpoint == plain.checkpoint
