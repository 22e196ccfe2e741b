"""What a job kind is. The API validates a submission with `Params` and stores what `resolve` returns; the
worker parses the stored params with the same model (`parse`) before its handler runs."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter, create_model
from sqlalchemy.orm import Session


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Reference:
    """A parameter that names a row of `table`; `not_ids` are values that name none (e.g. "inception")."""

    table: type
    noun: str
    not_ids: frozenset[str] = frozenset()


@dataclass
class Named:
    """What a resolve step may look at: the rows its references name (already checked to exist in the
    workspace), the session for anything else, and services the caller passes (settings, store)."""

    session: Session
    workspace_id: str
    rows: dict[str, Any]
    services: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, path: str) -> Any:
        return self.rows[path]

    def get(self, path: str) -> Any:
        return self.rows.get(path)


class JobKind:
    name: ClassVar[str]
    Params: ClassVar[Any]  # a pydantic model, or an annotated union of them
    references: ClassVar[dict[str, Reference]] = {}  # dotted path in the params -> what it names
    queue: ClassVar[Literal["gpu", "cpu"]] = "gpu"

    def resolve(self, params: Any, named: Named) -> dict[str, Any]:
        """Checks beyond the params model (raising core.errors.InvalidParam); returns the params to store."""
        return params.model_dump(mode="json")

    @cached_property
    def adapter(self) -> TypeAdapter:
        return TypeAdapter(self.Params)

    def parse(self, stored: dict[str, Any]) -> Any:
        """Stored params as the params model. A None value is a default, also for rows stored by older
        versions that wrote every optional field."""
        return self.adapter.validate_python({k: v for k, v in stored.items() if v is not None})

    def create_model(self) -> type[BaseModel]:
        """The body of POST /v1/jobs for this kind."""
        camel = "".join(part.title() for part in self.name.split("_"))
        return create_model(f"{camel}JobCreate", kind=(Literal[self.name], ...), params=(self.Params, ...))


def value_at(params: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(params, dict):
            return None
        params = params.get(part)
    return params
