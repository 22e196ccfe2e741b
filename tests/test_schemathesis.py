"""The OpenAPI document is the truth (issue 15): schemathesis generates requests from /openapi.json against a live
embedded API and holds every answer to it, through every phase: the document's examples, the coverage of each
constraint, random fuzzing, and stateful sequences that follow the links from a created resource to the routes
that use its id. Its configuration and hooks are tests/schemathesis.toml and tests/schemathesis_hooks.py.

The API runs as its own process on its own embedded data, with no worker: a generated job that the server
accepts stays queued and never trains, and a workspace job limit of JOB_LIMIT makes further submissions the
documented 429 rather than a growing queue.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import TEST_KEY, embedded_env
from tests.stack import ROOT, Stack

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance",
          "negative_data_rejection", "positive_data_acceptance", "use_after_free", "ensure_resource_availability",
          "ignored_auth")
MAX_EXAMPLES = 12  # per operation and phase: the run takes about a minute on 2 cores
JOB_LIMIT = 3


@pytest.fixture(scope="module")
def api_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("schemathesis")
    (root / "logs").mkdir()
    env = {**embedded_env(root / "data"), "DEFECTGEN_WORKSPACE_MAX_ACTIVE_JOBS": str(JOB_LIMIT),
           "DEFECTGEN_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true"}  # for the hooks' loopback receiver
    server = Stack(env=env, api_key=TEST_KEY, logs=root / "logs")
    server.start_api()
    yield server
    server.stop()


def test_every_answer_agrees_with_the_openapi_document(api_only: Stack) -> None:
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(ROOT / "tests" / "schemathesis.toml"),
               "run", f"{api_only.url}/openapi.json", "--checks", ",".join(CHECKS),
               "--max-examples", str(MAX_EXAMPLES), "--header", f"Authorization: Bearer {api_only.api_key}",
               "--no-color"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the hooks import core.sample_data
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-30_000:]
    assert re.search(r"Operations:\s+(\d+) selected / \1 total", report), report[-5_000:]
    covered = re.search(r"API Links:\s+(\d+) covered", report)
    # Created datasets and jobs lead on to their GET, DELETE, preview, cancel, events and samples routes.
    assert covered and int(covered.group(1)) >= 5, report[-5_000:]
