from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from models.architectures import get_architecture
from models.checkpoint import CheckpointError, pack_state, unpack_state
from models.config import GanConfig
from models.labels import MARGIN, text_width
from models.monitor import Stopped
from models.snapshot import ModelWeights, load_sampler, model_info, read_pretrained
from models.training import TrainResult, train_gan
from tests.models.recording import Recorder

pytestmark = pytest.mark.usefixtures("one_thread")

CLASSES = ["a", "b"]
# ADA moves p by 0.1 per minibatch; R1 and path length run every other minibatch. With near-white real images,
# D tells them from the fakes at once: p rises at every step.
OPTIONS = {"resolution": 32, "z_dim": 8, "width": 2, "w_dim": 8, "ada_images": 40, "ada_interval": 1,
           "ada_target": 0.01, "r1_interval": 2, "pl_weight": 1.0, "pl_interval": 2, "ema_images": 50}


def make_config(**overrides) -> GanConfig:
    values = dict(architecture="stylegan2-ada", channels=1, class_names=CLASSES, steps=5, batch_size=4, seed=2,
                  sample_every=5, checkpoint_every=5, options=OPTIONS)
    values.update(overrides)
    return GanConfig(**values)


def run(config: GanConfig, recorder: Recorder | None = None, **kwargs) -> tuple[TrainResult, Recorder]:
    recorder = recorder or Recorder()
    r = config.resolution
    images = torch.randint(250, 256, (12, config.channels, r, r), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(42))
    labels = torch.arange(12) % config.num_classes
    return train_gan(config, images, labels, recorder.callbacks(), recorder.monitor(), **kwargs), recorder


def stopped(config: GanConfig, after: int, **kwargs) -> bytes:
    with pytest.raises(Stopped) as caught:
        run(config, Recorder(stop_after=after), **kwargs)
    return caught.value.state


def nets(blob: bytes) -> dict[str, torch.Tensor]:
    tree = unpack_state(blob)["trainer"]
    return {f"{net}.{k}": v for net in ("generator", "g_ema", "discriminator") for k, v in tree[net].items()}


@pytest.fixture(scope="module")
def full() -> tuple[TrainResult, Recorder]:
    return run(make_config())


@pytest.fixture(scope="module")
def pretrained(full) -> ModelWeights:
    """The model `full` registers: its snapshot and discriminator blob."""
    return read_pretrained(full[0].snapshot, full[0].discriminator)


@pytest.fixture(scope="module")
def base(pretrained) -> dict[str, torch.Tensor]:
    """The base model's networks as a fine-tune starts from them: G and G_ema from the snapshot, D from its blob."""
    return {**{f"{net}.{k}": v for net in ("generator", "g_ema") for k, v in pretrained.generator.items()},
            **{f"discriminator.{k}": v for k, v in pretrained.discriminator.items()}}


def test_metrics_and_sample_grid(full):
    result, rec = full
    assert len(rec.progress) == 5
    for metrics in rec.progress:
        assert set(metrics) == {"loss_g", "loss_d", "d_real", "d_fake", "augment_p", "r1", "pl"}
        assert all(type(v) is float and v == v for v in metrics.values())
    assert [m["augment_p"] for m in rec.progress] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    image = Image.open(io.BytesIO(rec.samples[5]))
    labels = 2 * MARGIN + max(text_width(name) for name in CLASSES)
    assert image.mode == "L" and image.size == (labels + 8 * 34 + 2, 2 * 34 + 2)  # a named row per class
    trainer = unpack_state(result.checkpoint)["trainer"]
    assert (trainer["cur_nimg"], trainer["minibatch"]) == (20, 5)


@pytest.mark.parametrize("stop_after", [2, 3])
def test_resume_is_bit_identical_and_restores_p_and_the_image_count(full, stop_after):
    interrupted = stopped(make_config(), stop_after)
    state = unpack_state(interrupted)["trainer"]
    assert state["cur_nimg"] == 4 * stop_after
    assert state["ada"]["p"] == full[1].progress[stop_after - 1]["augment_p"] > 0
    torch.rand(10)  # the caller's global RNG use in between must not matter
    resumed, rec = run(make_config(), resume_from=interrupted)
    assert rec.progress == full[1].progress[stop_after:]
    assert (resumed.checkpoint, resumed.snapshot) == (full[0].checkpoint, full[0].snapshot)


@pytest.mark.parametrize(("augment", "p"), [("diffaugment", 1.0), ("none", 0.0)])
def test_other_augmentations_train(augment, p):
    _, rec = run(make_config(steps=2, channels=3, options={**OPTIONS, "augment": augment}))
    assert [m["augment_p"] for m in rec.progress] == [p, p]


def test_the_snapshot_holds_g_ema(full):
    g_ema = unpack_state(full[0].checkpoint)["trainer"]["g_ema"]
    snapshot = unpack_state(full[0].snapshot)["generator"]
    assert snapshot.keys() == g_ema.keys() and all(torch.equal(snapshot[k], g_ema[k]) for k in g_ema)


def test_fine_tune_with_the_same_classes_keeps_every_weight(pretrained, base):
    started = stopped(make_config(seed=5), 0, pretrained=pretrained)
    tuned = nets(started)
    assert tuned.keys() == base.keys() and all(torch.equal(base[k], tuned[k]) for k in base)
    state = unpack_state(started)["trainer"]
    assert state["opt_g"]["state"] == {} and state["cur_nimg"] == 0 and state["ada"]["p"] == 0.0


def test_fine_tune_with_freeze_d_keeps_the_pretrained_first_blocks(pretrained, base):
    config = make_config(seed=5, steps=2, options={**OPTIONS, "freeze_d": 2})
    tuned = nets(run(config, pretrained=pretrained)[0].checkpoint)
    frozen = {k for k in base if k.startswith(("discriminator.blocks.0.", "discriminator.blocks.1."))}
    assert frozen and all(torch.equal(tuned[k], base[k]) for k in frozen)
    trained = {k for k in base if k.startswith("discriminator.") and k not in frozen}
    assert trained and all(not torch.equal(tuned[k], base[k]) for k in trained)


def test_fine_tune_onto_other_classes_reinitialises_only_the_class_embeddings(pretrained, base):
    config = make_config(seed=5, class_names=["x", "y", "z"])
    fresh, tuned = nets(stopped(config, 0)), nets(stopped(config, 0, pretrained=pretrained))
    class_keys = {k for k in tuned if ".mapping.embed." in k or ".projection." in k}
    assert class_keys == {"generator.mapping.embed.weight", "g_ema.mapping.embed.weight",
                          "discriminator.projection.fc.weight", "discriminator.projection.fc.bias",
                          "discriminator.projection.embed.weight"}
    for key in class_keys:
        assert torch.equal(tuned[key], fresh[key]), key
    for key in set(tuned) - class_keys:
        if key.endswith("mapping.w_avg"):  # every new class starts at the base classes' mean
            assert torch.equal(tuned[key], base[key].mean(0, keepdim=True).expand(3, -1)), key
        else:
            assert torch.equal(tuned[key], base[key]), key
    finished, _ = run(config, pretrained=pretrained)
    assert finished.step == 5


@pytest.mark.parametrize(("overrides", "named"), [
    ({"options": {**OPTIONS, "resolution": 64}}, "resolution"),
    ({"options": {**OPTIONS, "width": 4}}, "width"),
    ({"options": {**OPTIONS, "z_dim": 16}}, "z_dim"),
    ({"options": {**OPTIONS, "w_dim": 16}}, "w_dim"),
    ({"options": {**OPTIONS, "mapping_layers": 3}}, "mapping_layers"),
    ({"architecture": "cdcgan", "options": {"resolution": 32}}, "architecture"),
    ({"class_names": ["a"]}, "unconditional"),
])
def test_fine_tune_rejects_other_networks(pretrained, overrides, named):
    with pytest.raises(CheckpointError, match=named):
        run(make_config(steps=1, **overrides), pretrained=pretrained)


def test_freeze_d_keeps_the_first_blocks():
    config = make_config(options={**OPTIONS, "freeze_d": 2})
    trainer = get_architecture("stylegan2-ada").make_trainer(config)
    before = {k: v.clone() for k, v in trainer.discriminator.state_dict().items()}
    gen = torch.Generator().manual_seed(0)
    for _ in range(2):
        trainer.train_step(torch.rand(4, 1, 32, 32) * 2 - 1, torch.tensor([0, 1, 0, 1]), gen)
    after = trainer.discriminator.state_dict()
    frozen = {k for k in before if k.startswith(("blocks.0.", "blocks.1."))}
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    assert all(not torch.equal(before[k], after[k]) for k in set(before) - frozen)


@pytest.mark.parametrize("edit", [
    lambda trainer: trainer.__setitem__("cur_nimg", -1),
    lambda trainer: trainer.__setitem__("minibatch", 1.5),
    lambda trainer: trainer.__setitem__("ada", None),
    lambda trainer: trainer["ada"].__setitem__("p", 2.0),
    lambda trainer: trainer["g_ema"].popitem(),
    lambda trainer: trainer["generator"].pop("mapping.embed.weight"),
])
def test_invalid_trainer_state_is_rejected_on_resume(full, edit):
    tree = unpack_state(full[0].checkpoint)
    edit(tree["trainer"])
    with pytest.raises(CheckpointError):
        run(make_config(steps=6), resume_from=pack_state(tree))


def test_generation_from_a_stylegan_snapshot(full):
    blob = full[0].snapshot
    assert model_info(blob)["config"] == make_config().to_dict()
    sampler = load_sampler(blob)
    images = sampler.generate([0, 1, 1, 0], [7, 7, 8, 7], truncation_psi=0.7)
    assert images.shape == (4, 1, 32, 32) and images.dtype == torch.uint8
    assert torch.equal(images[0], images[3]) and not torch.equal(images[1], images[2])
    assert torch.equal(load_sampler(blob).generate([0, 1, 1, 0], [7, 7, 8, 7], truncation_psi=0.7), images)
    # Alone, an image may differ by float rounding (CPU kernels block differently by batch size): one grey level.
    alone = load_sampler(blob).generate([1], [8], truncation_psi=0.7)[0]
    assert (alone.int() - images[2].int()).abs().max() <= 1
    collapsed = sampler.generate([0, 0, 1], [1, 2, 3], truncation_psi=0.0)
    assert torch.equal(collapsed[0], collapsed[1]) and not torch.equal(collapsed[0], collapsed[2])
