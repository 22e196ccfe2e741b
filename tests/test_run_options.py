"""`make run` and `defectgen serve` take the address: HOST/PORT for make, DEFECTGEN_HOST/PORT for both."""
from __future__ import annotations

import os
import subprocess

import click
import pytest

from cli.main import cli
from tests.stack import ROOT


def make_run_line(**env: str) -> str:
    # Under `make test` the MAKE* variables would make this a recursive make, which prints its directory.
    clean = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT", "MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    done = subprocess.run(["make", "-n", "--no-print-directory", "run"], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def test_make_run_passes_host_and_port():
    assert make_run_line(HOST="0.0.0.0", PORT="9123").endswith("defectgen serve --host 0.0.0.0 --port 9123")
    assert make_run_line().split() == [".venv/bin/defectgen", "serve"]


@pytest.mark.parametrize("command", ["serve", "api"])
def test_defectgen_host_and_port_settings(monkeypatch, command):
    monkeypatch.setenv("DEFECTGEN_HOST", "0.0.0.0")
    monkeypatch.setenv("DEFECTGEN_PORT", "9123")
    params = cli.commands[command].make_context(command, []).params
    assert (params["host"], params["port"]) == ("0.0.0.0", 9123)
    assert cli.commands[command].make_context(command, ["--port", "9000"]).params["port"] == 9000
    monkeypatch.setenv("DEFECTGEN_PORT", "eighty")
    with pytest.raises(click.BadParameter, match="eighty"):
        cli.commands[command].make_context(command, [])
