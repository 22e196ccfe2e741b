"""kombu's filesystem transport with whole-message writes: the embedded default's broker.

kombu writes a message straight into its final file name, and a consumer that lists the folder between the
create and the write reads an empty file; the worker then dies with "Unrecoverable error: JSONDecodeError"
and every later job stays queued (celery/kombu#1551, open). Here a message is written under a name consumers
ignore and renamed into place, which is atomic within a folder.
"""
from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        # Consumers take files named "<time>_<uuid>.<queue>.msg"; the ".part" suffix hides a message until renamed.
        final = os.path.join(self.data_folder_out, f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg")
        partial = final + ".part"
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
