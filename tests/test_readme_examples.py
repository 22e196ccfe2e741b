"""The README's examples run as written against a live embedded stack.

Every ```bash and ```python block of "A tour by example" (its curl tour, then the Python client and the CLI)
and every other ```bash block with a curl command runs, in the README's order, in one bash process, in an empty
directory, with KEY and URL set as `make run` prints them and .venv/bin on PATH. The test adds only: `set -euo
pipefail`, so that every command's exit status counts (curl -f fails on an HTTP error); a curl function that
records each answer, so that each can be checked to be JSON (or, with -o, a zip); the TorchScript file that the
backbone example uploads (a user's own file); and a heredoc around each Python block.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from tests.stack import ROOT

pytestmark = pytest.mark.parametrize("stack", ["embedded"], indirect=True)

BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
TOUR = "## A tour by example"

RECORDING_CURL = """
curl() {
    local record
    record=$(mktemp "$CURL_RECORDS/XXXXXXXX")
    printf '%s\\n' "$@" > "$record.args"
    command curl "$@" > "$record.out" || { local status=$?; cat "$record.out"; return $status; }
    cat "$record.out"
}
"""


def readme_blocks() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    tour_start = text.index(TOUR)
    tour_end = text.index("\n## ", tour_start + len(TOUR))
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(text)
            if tour_start < m.start() < tour_end or (m.group(1) == "bash" and "curl " in m.group(2))]


def as_bash(language: str, code: str) -> str:
    if language == "bash":
        return code
    return f"{shlex.quote(sys.executable)} - <<'README_PYTHON'\n{code}README_PYTHON\n"


def curl_commands(blocks: list[tuple[str, str]]) -> int:
    code = "\n".join(c for language, c in blocks if language == "bash")
    return len(re.findall(r"(?:^|\$\(|;\s*)\s*curl ", "\n".join(line.split("#")[0] for line in code.splitlines()),
                          re.MULTILINE))


def _tail(output: str | bytes | None) -> str:
    text = output.decode(errors="replace") if isinstance(output, bytes) else output or ""
    return text[-4000:]


class Features(torch.nn.Module):
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.float().mean(dim=(2, 3))


def test_readme_examples_run_as_written(stack, tmp_path):
    blocks = readme_blocks()
    assert len(blocks) >= 5 and {language for language, _ in blocks} == {"bash", "python"}
    workdir, records = tmp_path / "work", tmp_path / "curl"
    workdir.mkdir()
    records.mkdir()
    torch.jit.save(torch.jit.script(Features()), str(workdir / "steel_features.pt"))
    script = "set -euo pipefail\n" + RECORDING_CURL + "\n".join(as_bash(*block) for block in blocks)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEFECTGEN_")}
    env.update(KEY=stack.api_key, URL=stack.url, CURL_RECORDS=str(records),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}")
    try:
        done = subprocess.run(["bash", "-c", script], cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=300)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the README's examples ran past 300 s\nstdout:\n{_tail(exc.stdout)}\nstderr:\n{_tail(exc.stderr)}")
    assert done.returncode == 0, f"stdout:\n{_tail(done.stdout)}\nstderr:\n{_tail(done.stderr)}"

    answers = sorted(records.glob("*.out"))
    assert len(answers) == curl_commands(blocks) >= 10
    for answer in answers:
        args = answer.with_suffix(".args").read_text().splitlines()
        if "-o" in args:
            with zipfile.ZipFile(workdir / args[args.index("-o") + 1]) as zf:
                assert "manifest.csv" in zf.namelist()
        else:
            assert isinstance(json.loads(answer.read_text()), dict | list), args

    # what the tour says it leaves: the curl download, the Python client's and the CLI's batches
    for made in (workdir / "batch.zip", *workdir.glob("bat_*.zip"), *(workdir / "out").glob("bat_*.zip")):
        with zipfile.ZipFile(made) as zf:
            assert "manifest.csv" in zf.namelist()
    assert len(list(workdir.glob("bat_*.zip"))) == len(list((workdir / "out").glob("bat_*.zip"))) == 1
