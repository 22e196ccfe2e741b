"""Schemathesis hooks for tests/test_schemathesis.py (loaded by tests/schemathesis.toml). They change positive
cases only; negative cases keep what was generated.

An archive of class folders is more than a JSON Schema can state, so a generated file is never one: positive
cases of POST /v1/datasets upload a real tiny archive instead, so that datasets get created and the stateful
phase follows their links (GET, DELETE, preview, a train job on them).

A webhook's host is resolved when it is registered, and nothing in the tests may reach the network: positive cases
of POST /v1/webhooks name a loopback address (the test's server allows private networks, and has no worker that
would deliver to it).
"""
from __future__ import annotations

import io
from functools import cache

import schemathesis

from core.sample_data import write_sample_archive

UPLOAD = "POST /v1/datasets"
WEBHOOK = "POST /v1/webhooks"
RECEIVER = "http://127.0.0.1:9/defectgen-hook"  # the discard port; no worker runs to send anything there


@cache
def tiny_archive() -> bytes:
    buffer = io.BytesIO()
    write_sample_archive(buffer, per_class=3, size=16, seed=7, classes=("crazing", "scratches"))
    return buffer.getvalue()


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if not positive or not isinstance(case.body, dict):
        return case
    if case.operation.label == UPLOAD and "file" in case.body:
        case.body["file"] = tiny_archive()
    if case.operation.label == WEBHOOK and "url" in case.body:
        case.body["url"] = RECEIVER
    return case
