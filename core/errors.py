"""Domain errors shared by api/ and worker/: what was asked cannot be done, said without HTTP. The API maps
them to problem+json responses."""
from __future__ import annotations

from collections.abc import Sequence


class InvalidParam(Exception):
    """A job parameter names something that does not exist, or does not fit what else was asked.

    `loc` is the parameter's path inside the params, e.g. ("filter", "classifier_model_id").
    """

    def __init__(self, loc: str | Sequence[str | int], msg: str) -> None:
        super().__init__(msg)
        self.loc: tuple[str | int, ...] = tuple(loc.split(".")) if isinstance(loc, str) else tuple(loc)
        self.msg = msg
