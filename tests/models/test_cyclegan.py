"""CycleGAN and translation on tiny synthetic data: procedural textures as the source, the same textures with a
drawn scratch as the target."""
from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from models.checkpoint import unpack_state
from models.config import GanConfig
from models.cyclegan.networks import PatchDiscriminator, ResnetGenerator, patch_layers
from models.cyclegan.trainer import HistoryPool, Translator
from models.labels import MARGIN, text_width
from models.monitor import Monitor, Stopped
from models.training import GanCallbacks, TrainResult, train_gan
from models.translation import (
    CHANGED_EVERYWHERE,
    UNCHANGED,
    change_flag,
    change_mask,
    load_translator,
    translate_whole,
)

pytestmark = pytest.mark.usefixtures("one_thread")

R = 32


def textures(n: int, seed: int, scratch: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 [n, 1, R, R] smooth grey textures with sensor noise; with `scratch`, a bright vertical line 2 px wide
    in a random column of each. Also the region of each scratch, widened by 2 px (bool [n, R, R])."""
    g = torch.Generator().manual_seed(seed)
    field = F.interpolate(torch.randn(n, 1, 4, 4, generator=g), size=(R, R), mode="bicubic", align_corners=False)
    x = 110 + 15 * field + 6 * torch.rand(n, 1, R, R, generator=g)
    region = torch.zeros(n, R, R, dtype=torch.bool)
    if scratch:
        for i, col in enumerate(torch.randint(4, R - 6, (n,), generator=g).tolist()):
            x[i, :, 4:28, col:col + 2] += 100
            region[i, 2:30, col - 2:col + 4] = True
    return x.clamp(0, 255).round().to(torch.uint8), region


def make_config(**overrides) -> GanConfig:
    options = {"resolution": R, "width": 8, "resnet_blocks": 2, **overrides.pop("options", {})}
    values = dict(architecture="cyclegan", channels=1, class_names=["plain", "scratched"], steps=6, batch_size=4,
                  sample_every=3, checkpoint_every=3, options=options)
    values.update(overrides)
    return GanConfig(**values)


def training_data(targets: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    parts = [textures(16, 1, False)[0]] + [textures(16, 2 + k, True)[0] for k in range(targets)]
    return torch.cat(parts), torch.arange(targets + 1).repeat_interleave(16)


def train(config: GanConfig, stop_after: int | None = None, **kwargs) -> tuple[TrainResult, list, dict]:
    images, labels = training_data(config.num_classes - 1)
    reports, samples = [], {}
    monitor = Monitor(reports.append, lambda: stop_after is not None and len(reports) >= stop_after)
    callbacks = GanCallbacks(lambda *a: None, samples.__setitem__)
    return train_gan(config, images, labels, callbacks, monitor, **kwargs), reports, samples


def test_generator_keeps_the_size_and_d_scores_patches():
    g = ResnetGenerator(3, 4, 1)
    assert g(torch.zeros(2, 3, 36, 44)).shape == (2, 3, 36, 44)
    assert [patch_layers(r) for r in (32, 64, 128, 256)] == [1, 1, 2, 3]
    assert PatchDiscriminator(1, 4, 256)(torch.zeros(1, 1, 256, 256)).shape == (1, 1, 30, 30)  # 70x70 patches


def test_a_whole_image_of_any_size_keeps_its_size():
    network = Translator(make_config())
    image = torch.randint(0, 256, (1, 45, 203), dtype=torch.uint8)
    out = translate_whole(network, image, 0, "forward")
    assert out.shape == image.shape and out.dtype == torch.uint8


def test_minibatches_hold_the_source_and_one_target_in_turn_and_resume_is_bit_identical():
    config = make_config(class_names=["plain", "thin", "thick"], options={"pool_size": 2})
    full, reports, samples = train(config)
    assert {"loss_adversarial", "loss_cycle", "loss_identity", "loss_d", "loss_g"} <= set(reports[-1].metrics)
    with pytest.raises(Stopped) as stopped:
        train(config, stop_after=4)
    resumed, _, _ = train(config, resume_from=stopped.value.state)
    assert (resumed.checkpoint, resumed.snapshot, resumed.discriminator) == (
        full.checkpoint, full.snapshot, full.discriminator)
    trainer = unpack_state(full.checkpoint)["trainer"]
    assert trainer["step"] == 6 and [pair[0]["count"] for pair in trainer["pools"]] == [2, 2]
    # one row of source crops, their translation and its reconstruction per target, named on the left
    grid = Image.open(io.BytesIO(samples[6]))
    assert grid.size == (2 * MARGIN + text_width("-> thick -> back") + 2 + 8 * (R + 2), 2 + 6 * (R + 2))


def test_the_learning_rate_decays_linearly_over_the_last_half():
    _, reports, _ = train(make_config(steps=8, sample_every=8, checkpoint_every=8))
    lrs = [p.metrics["lr"] for p in reports]
    assert lrs[:5] == [2e-4] * 5 and lrs[5:] == pytest.approx([1.5e-4, 1e-4, 0.5e-4])


def test_the_history_pool_fills_then_swaps_half_the_time():
    pool = HistoryPool(4, (1, 2, 2), torch.device("cpu"))
    rng = torch.Generator().manual_seed(0)
    first = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 1, 2, 2)
    assert torch.equal(pool(first, rng), first) and pool.count == 4
    new = torch.arange(100.0, 300.0).view(200, 1, 1, 1).expand(200, 1, 2, 2)
    shown = pool(new, rng)[:, 0, 0, 0]
    older = shown != new[:, 0, 0, 0]
    assert 70 < int(older.sum()) < 130  # about half are stored images ...
    assert set(shown[older].tolist()) <= {0.0, 1.0, 2.0, 3.0, *new[:, 0, 0, 0].tolist()}  # ... made before
    assert all(shown[i] < new[i, 0, 0, 0] for i in older.nonzero()[:, 0].tolist())


def test_the_mask_rule():
    source = torch.full((3, 32, 32), 100, dtype=torch.uint8)
    output = source.clone()
    output[:, 3, 3] = 255  # a lone pixel 0.61 off: its 3x3 average (0.07) is below the threshold
    output[0, 28, 2:30] = 200  # a strong one-pixel line in one channel (0.39 off): a 3-pixel band
    output[1, 8:14, 10:16] = 160  # a 6x6 block, 0.235 off
    for k in range(8):  # a faint one-pixel diagonal (0.39 off): above the threshold on the line alone
        output[2, 18 + k, 2 + k] = 200
    mask = change_mask(source, output, threshold=0.1)
    block = torch.zeros(32, 32, dtype=torch.bool)
    block[8:14, 10:16] = True
    assert not mask[:6, :6].any()
    assert torch.equal(mask[:16], block[:16])  # the block's neighbours average below the threshold
    assert not mask[18:26, 0:12].any()
    assert mask[27:30, 3:29].all() and not mask[26].any() and not mask[30].any()
    assert not change_mask(source, output, threshold=0.3).any()
    assert not change_mask(source, source, threshold=0.01).any()


def test_flags_for_nothing_and_everything_changed():
    assert [change_flag(f, 0.001, 0.5) for f in (0.0, 0.0005, 0.2, 0.6)] == [UNCHANGED, UNCHANGED, "",
                                                                             CHANGED_EVERYWHERE]


class _Identity(torch.nn.Module):
    def translate(self, images: torch.Tensor, target: int, direction: str) -> torch.Tensor:
        return images


def test_an_identity_or_untrained_generator_is_flagged():
    image = textures(1, 5, True)[0][0]
    identity = change_mask(image, translate_whole(_Identity(), image, 0, "forward"), 0.1)
    assert change_flag(float(identity.float().mean()), 0.001, 0.5) == UNCHANGED
    untrained = load_translator(train(make_config(steps=1, sample_every=1, checkpoint_every=1))[0].snapshot)
    fraction = float(change_mask(image, translate_whole(untrained.network, image, 0, "forward"), 0.1).float().mean())
    assert change_flag(fraction, 0.001, 0.5) in (UNCHANGED, CHANGED_EVERYWHERE)


def test_after_a_short_training_the_mask_finds_the_scratch():
    """Translating scratched textures back to plain ones changes the scratch: the mask lies on it far more often
    than chance (the share of the image the scratch regions cover). Where a forward translation draws a scratch
    on a plain texture is the model's choice, so the scratch's place is known only this way round."""
    result, _, _ = train(make_config(steps=50, sample_every=50, checkpoint_every=50, options={"lr": 1e-3}))
    translator = load_translator(result.snapshot)
    images, regions = textures(8, 3, True)
    hits = changed = 0
    for image, region in zip(images, regions):
        out = translate_whole(translator.network, image, 0, "backward")
        assert out.shape == image.shape
        mask = change_mask(image, out, 0.1)
        hits += int((mask & region).sum())
        changed += int(mask.sum())
    chance = regions.float().mean().item()
    assert changed > 0 and hits / changed > 2 * chance
    plain = textures(2, 4, False)[0]
    assert all(translate_whole(translator.network, x, 0, "forward").shape == x.shape for x in plain)
