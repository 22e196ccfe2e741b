"""`defectgen keys create | list | revoke`, expiry, and last use, against the API in this process."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner, Result

from cli.main import cli


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["keys", *args])


def new_key(*args: str) -> tuple[str, str]:
    """(key, id) of a new key in workspace qa."""
    result = run("create", "--workspace", "qa", *args)
    assert result.exit_code == 0, result.output
    return result.stdout.strip(), result.stderr.split(",")[0].removeprefix("id ")


def listed(key_id: str) -> dict[str, str]:
    result = run("list")
    assert result.exit_code == 0, result.output
    header, *lines = result.stdout.splitlines()
    columns = [c.strip() for c in header.split("  ") if c.strip()]  # "LAST USED" holds a single space
    for line in lines:
        cells = line.split()
        if cells[0] == key_id:
            return dict(zip(columns, cells))
    raise AssertionError(f"{key_id} not in\n{result.stdout}")


def status(api, key: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    response = api.get("/v1/datasets", headers={"Authorization": f"Bearer {key}"})
    return response.status_code, response.json().get("detail", "")


def test_list_shows_state_and_last_use(api):
    key, key_id = new_key()
    assert key_id.startswith("key_")
    row = listed(key_id)
    assert (row["WORKSPACE"], row["STATE"], row["EXPIRES"], row["LAST USED"]) == ("qa", "active", "-", "-")
    assert status(api, key)[0] == 200
    first = listed(key_id)["LAST USED"]
    used = datetime.strptime(first, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - used) < timedelta(seconds=10)
    assert status(api, key)[0] == 200
    assert listed(key_id)["LAST USED"] == first  # written at most once a minute
    assert key_id not in run("list", "--workspace", "other").stdout


def test_revoked_key_is_refused_at_once(api):
    key, key_id = new_key()
    assert status(api, key)[0] == 200
    result = run("revoke", key_id)
    assert result.exit_code == 0 and result.stdout.strip() == f"revoked {key_id}"
    assert status(api, key) == (401, "the API key has been revoked")
    assert listed(key_id)["STATE"] == "revoked"
    again = run("revoke", key)  # by the key itself
    assert again.exit_code == 0 and "already revoked" in again.stdout
    unknown = run("revoke", "key_nope")
    assert unknown.exit_code == 1 and "no such key" in unknown.output


def test_expired_key_is_refused(api):
    key, key_id = new_key("--expires-in", "1s")
    assert status(api, key)[0] == 200
    time.sleep(1.1)
    code, detail = status(api, key)
    assert code == 401 and detail.startswith("the API key expired at ")
    assert listed(key_id)["STATE"] == "expired"


def test_expiry_options(api):
    _, in_90d = new_key("--expires-in", "12w6d")
    expires = datetime.strptime(listed(in_90d)["EXPIRES"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(expires - (datetime.now(UTC) + timedelta(days=90))) < timedelta(minutes=1)
    key, at = new_key("--expires-at", "2999-06-30T18:00:00+02:00")
    assert listed(at)["EXPIRES"] == "2999-06-30T16:00:00Z"
    assert status(api, key)[0] == 200


@pytest.mark.parametrize("args,message", [
    (["--expires-in", "soon"], "is not a duration"),
    (["--expires-in", "0s"], "is not in the future"),
    (["--expires-at", "2001-01-01"], "is not in the future"),
    (["--expires-at", "tomorrow"], "is not an ISO 8601 time"),
    (["--expires-in", "1d", "--expires-at", "2999-01-01"], "not both"),
])
def test_bad_expiry_creates_nothing(api, args, message):
    before = run("list").stdout
    result = run("create", "--workspace", "qa", *args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert run("list").stdout == before
