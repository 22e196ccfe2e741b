from __future__ import annotations

import json
import pickle

import pytest
import safetensors.torch
import torch

from models.checkpoint import TREE_KEY, CheckpointError, checkpoint_format, pack_state, unpack_state


def assert_same(a, b, path="root"):
    assert type(a) is type(b) or (isinstance(a, dict) and isinstance(b, dict)), path
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), path
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        for key in a:
            assert type(key) is type(next(k for k in b if k == key)), path
            assert_same(a[key], b[key], f"{path}/{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}/{i}")
    else:
        assert a == b, path


def trained_adam() -> tuple[torch.nn.Module, torch.optim.Adam]:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 1))
    opt = torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.5, 0.999))
    for _ in range(2):
        opt.zero_grad()
        net(torch.randn(8, 3)).pow(2).mean().backward()
        opt.step()
    return net, opt


def test_round_trip_reproduces_nested_state_exactly():
    net, opt = trained_adam()
    tree = {
        "format": "x/1", "step": 3, "lr": 2e-4, "nan_free": 0.1 + 0.2, "flag": True, "nothing": None,
        "net": net.state_dict(), "opt": opt.state_dict(),
        "nested": {"list": [1, [2, None, "s"], {"deep": (0.5, 0.999)}], 7: "int key", "7": "str key"},
        "scalars": {"half": torch.tensor([1.5], dtype=torch.float16), "zero_dim": torch.tensor(3.0),
                    "long": torch.arange(6).view(2, 3), "empty": torch.empty(0, 2), "u8": torch.get_rng_state()},
        "view": torch.arange(12.0).view(3, 4).t(),  # non-contiguous
    }
    out = unpack_state(pack_state(tree))
    assert_same(tree, out)
    assert out["opt"]["param_groups"][0]["betas"] == (0.5, 0.999)
    assert sorted(out["opt"]["state"]) == [0, 1, 2, 3, 4, 5]


def test_unpacked_optimizer_state_loads_and_continues_identically():
    net, opt = trained_adam()
    restored_net, restored_opt = trained_adam()
    tree = unpack_state(pack_state({"net": net.state_dict(), "opt": opt.state_dict()}))
    restored_net.load_state_dict(tree["net"])
    restored_opt.load_state_dict(tree["opt"])
    x = torch.randn(8, 3)
    for model, optimizer in ((net, opt), (restored_net, restored_opt)):
        optimizer.zero_grad()
        model(x).pow(2).mean().backward()
        optimizer.step()
    for a, b in zip(net.parameters(), restored_net.parameters()):
        assert torch.equal(a, b)


FOREIGN_BLOBS = [
    pickle.dumps({"a": torch.zeros(2)}),
    b"",
    b"\x00" * 7,
    b"\xff" * 64,
    b"PK\x03\x04" + b"\x00" * 100,
    safetensors.torch.save({"a": torch.zeros(2)}),  # safetensors but no state tree
    safetensors.torch.save({"a": torch.zeros(2)}, metadata={TREE_KEY: "not json"}),
    safetensors.torch.save({"a": torch.zeros(2)}, metadata={TREE_KEY: json.dumps({"t": "missing"})}),
    safetensors.torch.save({"a": torch.zeros(2)}, metadata={TREE_KEY: json.dumps({"d": [["x", 1]]})}),  # orphan
    safetensors.torch.save({}, metadata={TREE_KEY: json.dumps({"l": []})}),  # root not a dict
    safetensors.torch.save({}, metadata={TREE_KEY: json.dumps({"d": [[True, 1]]})}),
    safetensors.torch.save({}, metadata={TREE_KEY: json.dumps({"x": 1})}),
    safetensors.torch.save({}, metadata={TREE_KEY: json.dumps({"d": [["x", {"t": [1]}]]})}),
]


# Ids by position: a pickled tensor names its storage by address, which differs between xdist's processes.
@pytest.mark.parametrize("blob", FOREIGN_BLOBS, ids=[f"blob{i}" for i in range(len(FOREIGN_BLOBS))])
def test_unpack_rejects_foreign_blobs(blob):
    with pytest.raises(CheckpointError):
        unpack_state(blob)


def test_deeply_nested_tree_is_rejected():
    deep = '{"l":[' * 900 + "1" + "]}" * 900
    with pytest.raises(CheckpointError):
        unpack_state(safetensors.torch.save({}, metadata={TREE_KEY: '{"d":[["x",' + deep + "]]}"}))


def test_truncated_blob_is_rejected():
    blob = pack_state({"a": torch.arange(100.0)})
    with pytest.raises(CheckpointError):
        unpack_state(blob[:-10])


def test_checkpoint_error_is_a_value_error():
    assert issubclass(CheckpointError, ValueError)


@pytest.mark.parametrize("tree", [{"a": object()}, {"a": {1.5: 1}}, {"a": {True: 1}}, {"a": {(1, 2): 1}}])
def test_pack_rejects_unsupported_values(tree):
    with pytest.raises(TypeError):
        pack_state(tree)


def test_format_is_read_from_the_header_alone():
    blob = pack_state({"format": "defectgen-x/1", "weights": torch.zeros(3)})
    assert checkpoint_format(blob) == "defectgen-x/1"
    assert checkpoint_format(pack_state({"weights": torch.zeros(3)})) is None
    assert checkpoint_format(b"not a checkpoint") is None
