"""Training checkpoints, and the container of every defectgen blob: safetensors, tensors under their key path,
everything else as JSON in the metadata.

Loading never runs code (no pickle). The JSON "tree" mirrors the nested structure; every JSON object in it
is a tagged container so that int dict keys and tuples survive the round trip:
{"d": [[key, value], ...]} dict, {"l": [...]} list, {"u": [...]} tuple, {"t": name} tensor.
"""
from __future__ import annotations

import contextlib
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import safetensors.torch
import torch

from models.architectures import GanTrainer
from models.config import GanConfig, is_int
from models.errors import DataError

TREE_KEY = "defectgen.tree"
CHECKPOINT_FORMAT = "defectgen-gan/1"


class CheckpointError(DataError):
    pass


def pack_state(tree: dict) -> bytes:
    if not isinstance(tree, dict):
        raise TypeError("state must be a dict")
    tensors: dict[str, torch.Tensor] = {}

    def encode(value: Any, path: tuple) -> Any:
        if isinstance(value, torch.Tensor):
            name = "/".join(map(str, path))
            if name in tensors:
                raise ValueError(f"ambiguous tensor key path {name!r}")
            tensors[name] = value.detach().to("cpu").contiguous()
            return {"t": name}
        if isinstance(value, dict):
            for key in value:
                if not isinstance(key, (str, int)) or isinstance(key, bool):
                    raise TypeError(f"unsupported dict key {key!r} at {path}")
            return {"d": [[key, encode(v, path + (key,))] for key, v in value.items()]}
        if isinstance(value, (list, tuple)):
            items = [encode(v, path + (i,)) for i, v in enumerate(value)]
            return {"u": items} if isinstance(value, tuple) else {"l": items}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise TypeError(f"unsupported value of type {type(value).__name__} at {path}")

    skeleton = json.dumps(encode(tree, ()), separators=(",", ":"))
    return safetensors.torch.save(tensors, metadata={TREE_KEY: skeleton})


def _skeleton(blob: bytes) -> Any:
    """The JSON state tree from the safetensors header, without loading any tensor."""
    (header_len,) = struct.unpack("<Q", blob[:8])
    return json.loads(json.loads(blob[8:8 + header_len])["__metadata__"][TREE_KEY])


def checkpoint_format(blob: bytes) -> str | None:
    """The format a checkpoint declares, read from its header alone; None when it declares none."""
    try:
        entries = _skeleton(bytes(blob))["d"]
        return next((value for key, value in entries if key == "format" and isinstance(value, str)), None)
    except Exception:  # anything unreadable declares no format; unpack_state says what is wrong with it
        return None


def unpack_state(blob: bytes) -> dict:
    try:
        blob = bytes(blob)
        tensors = safetensors.torch.load(blob)
        skeleton = _skeleton(blob)
    except Exception as exc:  # safetensors raises its own and various builtin errors for garbage
        raise CheckpointError("not a defectgen checkpoint (safetensors with a state tree)") from exc
    used: set[str] = set()

    def decode(node: Any) -> Any:
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, dict) and len(node) == 1:
            (tag, body), = node.items()
            if tag == "t" and isinstance(body, str) and body in tensors and body not in used:
                used.add(body)
                return tensors[body]
            if tag == "d" and isinstance(body, list) and all(
                    isinstance(kv, list) and len(kv) == 2 and isinstance(kv[0], (str, int))
                    and not isinstance(kv[0], bool) for kv in body):
                return {key: decode(value) for key, value in body}
            if tag in ("l", "u") and isinstance(body, list):
                items = [decode(v) for v in body]
                return tuple(items) if tag == "u" else items
        raise CheckpointError(f"malformed state tree node {str(node)[:80]!r}")

    try:
        tree = decode(skeleton)
    except RecursionError as exc:
        raise CheckpointError("state tree nested too deeply") from exc
    if not isinstance(tree, dict) or used != set(tensors):
        raise CheckpointError("malformed state tree")
    return tree


@contextlib.contextmanager
def fitting(what: str) -> Iterator[None]:
    """Turns the errors of loading state that does not fit (keys, shapes, optimiser groups) into CheckpointError."""
    try:
        yield
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{what} does not fit the architecture: {exc}") from exc


def read_envelope(tree: dict, expected_format: str) -> tuple[GanConfig, int]:
    """The config and step of an unpacked checkpoint or snapshot of `expected_format`."""
    if tree.get("format") != expected_format:
        raise CheckpointError(f"unknown checkpoint format {tree.get('format')!r}")
    try:
        config = GanConfig.from_dict(tree["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"invalid checkpoint config: {exc}") from exc
    step = tree.get("step")
    if not is_int(step) or not 0 <= step <= config.steps:
        raise CheckpointError(f"invalid checkpoint step {step!r}")
    return config, step


@dataclass(frozen=True)
class GanCheckpoint:
    """A training checkpoint: all that resuming needs."""

    config: GanConfig
    step: int
    trainer: dict
    rng: dict


def make_checkpoint(config: GanConfig, step: int, trainer: GanTrainer, loop_rng: torch.Generator) -> bytes:
    return pack_state({"format": CHECKPOINT_FORMAT, "config": config.to_dict(), "step": step,
                       "trainer": trainer.state_dict(),
                       "rng": {"loop": loop_rng.get_state(), "torch": torch.get_rng_state()}})


def read_checkpoint(blob: bytes) -> GanCheckpoint:
    """Unpack and check the envelope (format, config, step); the networks are not loaded."""
    tree = unpack_state(blob)
    config, step = read_envelope(tree, CHECKPOINT_FORMAT)
    trainer, rng = tree.get("trainer"), tree.get("rng")
    if not isinstance(trainer, dict) or not isinstance(rng, dict):
        raise CheckpointError("checkpoint lacks trainer or rng state")
    return GanCheckpoint(config, step, trainer, rng)
