from __future__ import annotations

import dataclasses

import pytest
import safetensors.torch
import torch

from models.checkpoint import CheckpointError, pack_state, unpack_state
from models.classification import (
    ClassifierConfig,
    batches_per_epoch,
    checkpoint_from_state_dict,
    classification_metrics,
    init_from,
    load_classifier,
    predict_proba,
    resize_images,
    save_classifier,
    train_classifier,
)
from models.classifiers import build_classifier, classifier_features, classifier_names, gradcam_target_layer
from models.errors import DataError
from models.monitor import Monitor, Progress, Stopped

RESOLUTION = 16


pytestmark = pytest.mark.usefixtures("one_thread")


def stripes(per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0: vertical stripes, class 1: horizontal, with random phase and mild noise."""
    gen = torch.Generator().manual_seed(seed)
    phase = torch.rand(2 * per_class, 1, generator=gen) * 6.3
    wave = torch.sin(torch.arange(RESOLUTION).float()[None] * 1.5 + phase)[:, None, :].expand(-1, RESOLUTION, -1)
    labels = torch.arange(2).repeat_interleave(per_class)
    wave = torch.where(labels[:, None, None] == 0, wave, wave.transpose(1, 2))
    images = 128 + 60 * wave + 15 * torch.randn(wave.shape, generator=gen)
    return images.round().clamp(0, 255).to(torch.uint8)[:, None], labels


def make_config(**overrides) -> ClassifierConfig:
    values = dict(architecture="small-cnn", class_names=["vertical", "horizontal"], channels=1,
                  resolution=RESOLUTION, epochs=4, batch_size=8)
    values.update(overrides)
    return ClassifierConfig(**values)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_registry_lists_the_three_classifiers():
    assert classifier_names() == ["mobilenet_v2", "resnet18", "small-cnn"]
    with pytest.raises(ValueError, match="unknown classifier"):
        build_classifier("vgg", 2, 1)
    with pytest.raises(ValueError, match="unknown classifier"):
        make_config(architecture="vgg")


@pytest.mark.parametrize("name", ["small-cnn", "resnet18", "mobilenet_v2"])
@pytest.mark.parametrize("channels", [1, 3])
def test_classifiers_build_run_and_backpropagate(name, channels):
    model = build_classifier(name, 5, channels)
    x = torch.randn(2, channels, 32, 32)
    logits = model(x)
    assert logits.shape == (2, 5)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    features = classifier_features(name, model, x)
    assert features.dim() == 2 and features.shape[0] == 2
    target = gradcam_target_layer(name, model)
    assert any(module is target for module in model.modules())


def test_config_validates_and_round_trips():
    config = make_config(classical_augmentation=True)
    assert config.num_classes == 2
    assert ClassifierConfig.from_dict(config.to_dict()) == config
    for bad in (dict(channels=2), dict(resolution=8), dict(epochs=0), dict(batch_size=1), dict(lr=0),
                dict(class_names=["a"]), dict(class_names=["a", "a"]), dict(seed=-1), dict(epochs=2.0)):
        with pytest.raises(ValueError):
            make_config(**bad)
    with pytest.raises(ValueError, match="unknown"):
        ClassifierConfig.from_dict({**config.to_dict(), "extra": 1})


def test_batches_are_never_of_one_image():
    assert batches_per_epoch(64, 32) == 2
    assert batches_per_epoch(33, 32) == 2
    assert batches_per_epoch(3, 2) == 1
    assert batches_per_epoch(2, 32) == 1


@pytest.mark.parametrize("augmentation", [False, True])
def test_training_is_deterministic_and_learns(augmentation):
    images, labels = stripes(12, seed=0)
    test_images, test_labels = stripes(40, seed=1)
    config = make_config(classical_augmentation=augmentation)
    rng_state = torch.get_rng_state()
    progress: list[Progress] = []
    model = train_classifier(config, images, labels, monitor=Monitor(progress.append))
    assert torch.equal(torch.get_rng_state(), rng_state)  # the caller's global RNG is untouched
    assert [(p.step, p.total) for p in progress] == [(i, 12) for i in range(1, 13)]  # 4 epochs x 3 batches
    assert same_weights(model, train_classifier(config, images, labels))
    assert not same_weights(model, train_classifier(dataclasses.replace(config, seed=1), images, labels))
    metrics = classification_metrics(predict_proba(model, test_images), test_labels, 2)
    assert metrics["accuracy"] >= 0.95


def test_a_stop_request_stops_training_before_the_next_batch():
    images, labels = stripes(12, seed=0)
    steps: list[int] = []
    monitor = Monitor(lambda progress: steps.append(progress.step), should_stop=lambda: len(steps) >= 2)
    with pytest.raises(Stopped):
        train_classifier(make_config(), images, labels, monitor=monitor)
    assert steps == [1, 2]


def test_training_rejects_bad_data():
    images, labels = stripes(4, seed=0)
    for bad_images, bad_labels, config in [(images.float(), labels, make_config()),
                                           (images, labels, make_config(resolution=32)),
                                           (images, labels + 1, make_config()),
                                           (images, labels.int(), make_config()),
                                           (images[:1], labels[:1], make_config())]:
        with pytest.raises(DataError):
            train_classifier(config, bad_images, bad_labels)


def test_save_load_round_trip():
    images, labels = stripes(6, seed=0)
    config = make_config(epochs=1)
    model = train_classifier(config, images, labels)
    loaded_config, loaded = load_classifier(save_classifier(config, model))
    assert loaded_config == config
    assert torch.equal(predict_proba(loaded, images), predict_proba(model, images))


def test_load_rejects_garbage_and_mismatches():
    config = make_config(epochs=1)
    blob = save_classifier(config, build_classifier("small-cnn", 2, 1))
    tree = unpack_state(blob)
    resnet = build_classifier("resnet18", 2, 1).state_dict()
    bad_trees = [
        {**tree, "format": "defectgen-gan/1"},
        {**tree, "weights": resnet},  # weights of another architecture
        {**tree, "config": {**tree["config"], "architecture": "vgg"}},
        {**tree, "config": {**tree["config"], "class_names": ["a", "b", "c"]}},  # head of the wrong size
        {k: v for k, v in tree.items() if k != "weights"},
    ]
    for bad in bad_trees:
        with pytest.raises(CheckpointError):
            load_classifier(pack_state(bad))
    with pytest.raises(CheckpointError):
        load_classifier(b"garbage")


def test_classification_metrics_on_a_hand_made_example():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    predicted = torch.tensor([0, 1, 1, 1, 2, 0])
    metrics = classification_metrics(torch.nn.functional.one_hot(predicted, 3).float(), labels, 3)
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["precision"] == pytest.approx([1 / 2, 2 / 3, 1])
    assert metrics["recall"] == pytest.approx([1 / 2, 1, 1 / 2])
    assert metrics["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert metrics["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_resize_images_converts_size_and_channels():
    gray = torch.full((2, 1, 32, 32), 100, dtype=torch.uint8)
    rgb = resize_images(gray, 16, 3)
    assert rgb.shape == (2, 3, 16, 16) and rgb.dtype == torch.uint8 and bool((rgb == 100).all())
    colour = torch.zeros((1, 3, 8, 8), dtype=torch.uint8)
    colour[:, 1] = 200  # pure green: luminance 0.587 * 200
    assert int(resize_images(colour, 8, 1)[0, 0, 0, 0]) == round(0.587 * 200)
    with pytest.raises(ValueError):
        resize_images(gray.float(), 16, 1)


@pytest.mark.parametrize("name", ["small-cnn", "resnet18", "mobilenet_v2"])
def test_pretrained_weights_initialise_all_but_the_head(name):
    torch.manual_seed(0)
    pretrained = build_classifier(name, 10, 3).state_dict()  # e.g. ImageNet weights: RGB, other classes
    model = build_classifier(name, 2, 1)
    fresh = init_from(model, pretrained)
    state = model.state_dict()
    head = [key for key, value in state.items() if value.shape != pretrained[key].shape and value.dim() != 4]
    assert fresh == head and len(head) == 2  # the output layer's weight and bias
    stem = next(key for key, value in state.items() if value.dim() == 4)
    assert torch.equal(state[stem], pretrained[stem].sum(dim=1, keepdim=True))
    assert all(torch.equal(state[key], pretrained[key]) for key in state if key not in fresh and key != stem)
    with pytest.raises(DataError, match="none of the initial weights"):
        init_from(model, {"nothing.weight": torch.zeros(3)})


def test_training_starts_from_the_initial_weights():
    config = ClassifierConfig(architecture="small-cnn", class_names=["a", "b"], channels=1, resolution=RESOLUTION,
                              epochs=1, lr=1e-9)
    images = torch.randint(0, 256, (4, 1, RESOLUTION, RESOLUTION), dtype=torch.uint8)
    init = build_classifier("small-cnn", 2, 1).state_dict()
    trained = train_classifier(config, images, torch.tensor([0, 1, 0, 1]), init_weights=init).state_dict()
    conv = next(key for key, value in init.items() if value.dim() == 4)
    assert torch.allclose(trained[conv], init[conv], atol=1e-6)  # a negligible lr: still the given weights


def test_a_plain_state_dict_becomes_a_classifier_checkpoint():
    weights = build_classifier("resnet18", 1000, 3).state_dict()
    blob = checkpoint_from_state_dict("resnet18", safetensors.torch.save(weights))
    config, model = load_classifier(blob)
    assert (config.channels, config.num_classes, config.resolution) == (3, 1000, 224)
    assert torch.equal(model.state_dict()["fc.weight"], weights["fc.weight"])
    with pytest.raises(CheckpointError, match="not mobilenet_v2 weights"):
        checkpoint_from_state_dict("mobilenet_v2", safetensors.torch.save(weights))
    with pytest.raises(CheckpointError, match="not a safetensors"):
        checkpoint_from_state_dict("resnet18", b"garbage")
