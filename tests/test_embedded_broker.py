"""The embedded broker never lets a consumer read a message that is still being written (celery/kombu#1551)."""
from __future__ import annotations

import os
from queue import Empty

import pytest

from core import embedded_broker
from core.queue import celery_config
from core.settings import Settings


def test_a_message_is_invisible_until_written_whole(tmp_path, monkeypatch):
    from celery import Celery

    app = Celery("t")
    app.conf.update(celery_config(Settings(data_dir=tmp_path, broker_url="")))  # whatever the environment says
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        assert isinstance(channel, embedded_broker.Channel)
        seen_while_writing = []
        real_replace = os.replace

        def replace(src: str, dst: str) -> None:
            with pytest.raises(Empty):  # the consumer finds nothing yet: only the ".part" file exists
                channel._get("cpu")
            seen_while_writing.append(sorted(os.listdir(os.path.dirname(src))))
            real_replace(src, dst)

        monkeypatch.setattr(embedded_broker.os, "replace", replace)
        channel._put("cpu", {"body": "job"})
        assert [name for name in seen_while_writing[0] if name.endswith(".part")]
        assert channel._get("cpu") == {"body": "job"}
        assert not [name for name in os.listdir(channel.data_folder_out) if name.endswith((".part", ".msg"))]
