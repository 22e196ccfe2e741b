from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class ClassCount(BaseModel):
    name: str
    count: int


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)
