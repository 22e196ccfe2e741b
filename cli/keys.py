"""`defectgen keys create | list | revoke`: the operator's API-key commands."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import click

UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
DURATION = re.compile(r"(\d+)([smhdw])")


def parse_duration(text: str) -> timedelta:
    """'90d', '12h', '1w2d', '30m', '45s'."""
    parts = DURATION.findall(text)
    if "".join(n + u for n, u in parts) != text:
        raise click.BadParameter(f"{text!r} is not a duration like 90d, 12h, 30m or 1w2d", param_hint="--expires-in")
    return sum((timedelta(**{UNITS[unit]: int(n)}) for n, unit in parts), timedelta())


def parse_instant(text: str) -> datetime:
    """An ISO 8601 time; UTC where it names no offset."""
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 time such as 2027-06-30T18:00:00Z",
                                 param_hint="--expires-at") from None
    return instant.astimezone(UTC) if instant.tzinfo else instant.replace(tzinfo=UTC)


def expiry(expires_in: str | None, expires_at: str | None) -> datetime | None:
    if expires_in and expires_at:
        raise click.UsageError("give --expires-in or --expires-at, not both")
    now = datetime.now(UTC)
    when = now + parse_duration(expires_in) if expires_in else parse_instant(expires_at) if expires_at else None
    if when is not None and when <= now:
        raise click.BadParameter(f"{when.isoformat()} is not in the future",
                                 param_hint="--expires-in" if expires_in else "--expires-at")
    return when


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"


@click.group()
def keys() -> None:
    """Manage API keys."""


@keys.command("create")
@click.option("--workspace", required=True, help="Workspace name; created if new.")
@click.option("--expires-in", help="Lifetime, e.g. 90d, 12h, 1w2d (s, m, h, d, w).")
@click.option("--expires-at", help="Expiry as an ISO 8601 time, e.g. 2027-06-30T18:00:00Z (UTC if no offset).")
def keys_create(workspace: str, expires_in: str | None, expires_at: str | None) -> None:
    """Print a new API key for WORKSPACE (its id, for `keys revoke`, goes to stderr)."""
    from core.db import session_scope
    from core.keys import create_key
    from core.migrate import upgrade_head

    until = expiry(expires_in, expires_at)
    upgrade_head()
    with session_scope() as session:
        key, row = create_key(session, workspace, until)
    click.echo(key)
    click.echo(f"id {row.id}, workspace {workspace!r}, expires {_when(until) if until else 'never'}", err=True)


@keys.command("list")
@click.option("--workspace", help="Only this workspace's keys.")
def keys_list(workspace: str | None) -> None:
    """List keys, newest first: id, workspace, state, created, expires, last used (UTC)."""
    from core.db import session_scope
    from core.keys import key_state, list_keys
    from core.migrate import upgrade_head
    from core.tables import utcnow

    upgrade_head()
    with session_scope() as session:
        rows = list_keys(session, workspace)
    now = utcnow()
    table = [("ID", "WORKSPACE", "STATE", "CREATED", "EXPIRES", "LAST USED")] + [
        (row.id, name, key_state(row, now), _when(row.created_at), _when(row.expires_at), _when(row.last_used_at))
        for row, name in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())


@keys.command("revoke")
@click.argument("key")
def keys_revoke(key: str) -> None:
    """Revoke KEY (its id from `keys list`, or the key itself): requests with it are refused from now on."""
    from core.db import session_scope
    from core.keys import find_key, revoke_key
    from core.migrate import upgrade_head

    upgrade_head()
    with session_scope() as session:
        row = find_key(session, key)
        if row is None:
            raise click.ClickException("no such key (give an id from `defectgen keys list`, or the key itself)")
        newly = revoke_key(session, row)
        key_id, revoked_at = row.id, row.revoked_at
    click.echo(f"revoked {key_id}" if newly else f"{key_id} was already revoked at {_when(revoked_at)}")
