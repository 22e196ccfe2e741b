"""What the user commands share: the server's URL and key, errors as one line, JSON or human output."""
from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import click
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from defectgen.client import DEFAULT_URL, Client
from defectgen.errors import DefectgenError

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts) instead of a table.")


def with_client(command: Callable[..., Any]) -> Callable[..., Any]:
    """Adds --url and --api-key, and hands the command a Client as its first argument; a DefectgenError (a
    refusal, or no server at the URL) becomes one line on stderr and exit status 1, not a traceback."""

    @click.option("--url", default=DEFAULT_URL, show_default=True, envvar="DEFECTGEN_URL", show_envvar=True,
                  help="The defectgen server.")
    @click.option("--api-key", envvar="DEFECTGEN_API_KEY", show_envvar=True, help="Your API key.")
    @functools.wraps(command)
    def run(url: str, api_key: str | None, **kwargs: Any) -> Any:
        if not api_key:
            raise click.UsageError("no API key: pass --api-key or set DEFECTGEN_API_KEY")
        try:
            with Client(url, api_key) as client:
                return command(client, **kwargs)
        except DefectgenError as exc:
            raise click.ClickException(str(exc)) from None

    return run


def parse_params(pairs: Sequence[str], params_json: str | None = None) -> dict[str, Any]:
    """--params '{"a": 1}' and --param key=value (the value read as JSON where it is JSON, else as text)."""
    params: dict[str, Any] = {}
    if params_json:
        try:
            params = json.loads(params_json)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--params") from None
        if not isinstance(params, dict):
            raise click.BadParameter("a JSON object is expected", param_hint="--params")
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--param")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


def plain(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def print_json(value: Any) -> None:
    if isinstance(value, list):
        value = [plain(item) for item in value]
    click.echo(json.dumps(plain(value), indent=2))


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def print_table(rows: Iterable[Sequence[Any]], columns: Sequence[str]) -> None:
    """A table that wraps long cells on a terminal but never its first column (ids); one line per row in a
    pipe, for grep and cut."""
    cells = [[cell(value) for value in row] for row in rows]
    console = Console()
    if not console.is_terminal:
        console = Console(width=100_000)
    table = Table(box=None, header_style="bold", pad_edge=False)
    for i, name in enumerate(columns):
        table.add_column(name, no_wrap=i == 0, min_width=max((len(row[0]) for row in cells), default=0) if i == 0
                         else None)
    for row in cells:
        table.add_row(*row)
    console.print(table)


def print_fields(resource: BaseModel, skip: Sequence[str] = ()) -> None:
    """A resource as `field  value` lines."""
    print_table(((name, value) for name, value in resource.model_dump(mode="json").items() if name not in skip),
                ("field", "value"))


def present(resource: BaseModel, as_json: bool, *, line: str | None = None, skip: Sequence[str] = ()) -> None:
    """JSON for scripts; else `line`, or the resource's fields."""
    if as_json:
        print_json(resource)
    elif line is not None:
        click.echo(line)
    else:
        print_fields(resource, skip)


def class_counts(classes: Iterable[Any]) -> str:
    return ", ".join(f"{c.name}={c.count}" for c in classes)
