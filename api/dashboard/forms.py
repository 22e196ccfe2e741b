"""Job forms built from each kind's params schema (the one POST /v1/jobs validates with), so that the fields, their
defaults and their choices stay in step with the API. The browser sends only what differs from a default: an
omitted field is not the same as its declared default where a preset or the training device picks another. So is
an omitted discriminator: a train job without an architecture lets the service choose one by the dataset."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.kinds import get_kind
from core.tables import Job

REFERENCE_CHOICES = 100  # rows offered for a field that names one


@dataclass
class Field:
    name: str
    title: str
    description: str
    required: bool
    widget: str  # integer, number, string, boolean, choice or json
    default: str | None  # JSON; None when there is no default
    value: str  # the input's initial text (JSON for a choice)
    nullable: bool = False
    choices: list[tuple[str, str]] = field(default_factory=list)  # (JSON value, label)
    suggestions: list[tuple[str, str]] = field(default_factory=list)  # (id, label) for a reference


@dataclass
class Variant:
    """One member of a params union (train: one per architecture), or the whole params model."""

    tag: str | None
    fields: list[Field]  # required first, then those every member has, in the schema's order
    options: list[Field]  # this member's own (an architecture's options)


@dataclass
class JobForm:
    kind: str
    discriminator: str | None
    default_tag: str | None  # the member used when the discriminator is left out (train: cdcgan), if any
    chosen_tag: str | None  # the member the page's query names (e.g. Fine-tune's architecture), if any
    variants: list[Variant]
    discriminator_help: str = ""

    @property
    def shown_tag(self) -> str | None:
        return self.chosen_tag or self.default_tag or (self.variants[0].tag if self.discriminator else None)


def job_form(kind: str, session: Session, workspace: str, given: dict[str, str]) -> JobForm:
    spec = get_kind(kind)
    schema = spec.adapter.json_schema()
    defs = schema.get("$defs", {})
    members = [_deref(member, defs) for member in schema.get("oneOf", [])] or [schema]
    discriminator = _discriminator(members) if len(members) > 1 else None
    suggestions = {path.split(".")[0]: _rows(session, workspace, ref.table) + [(v, v) for v in sorted(ref.not_ids)]
                   for path, ref in spec.references.items() if "." not in path}
    shared = set.intersection(*(set(m["properties"]) for m in members))
    variants, default_tag, help_text = [], None, ""
    for member in members:
        tag = member["properties"][discriminator]["const"] if discriminator else None
        if discriminator and "default" in member["properties"][discriminator]:
            default_tag, help_text = tag, member["properties"][discriminator].get("description", "")
        fields = [_field(name, prop, name in member.get("required", ()), defs, suggestions.get(name, []),
                         given.get(name)) for name, prop in member["properties"].items() if name != discriminator]
        fields.sort(key=lambda f: not f.required)
        variants.append(Variant(tag, [f for f in fields if f.required or f.name in shared],
                                [f for f in fields if not f.required and f.name not in shared]))
    chosen = given.get(discriminator) if discriminator else None
    return JobForm(kind, discriminator, default_tag, chosen if chosen in {v.tag for v in variants} else None,
                   variants, help_text)


def _deref(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return defs[ref.rsplit("/", 1)[-1]] if ref else schema


def _discriminator(members: list[dict[str, Any]]) -> str:
    """The property that is a constant in every member."""
    common = set.intersection(*(set(m["properties"]) for m in members))
    return next(name for name in sorted(common) if all("const" in m["properties"][name] for m in members))


def _field(name: str, prop: dict[str, Any], required: bool, defs: dict[str, Any],
           suggestions: list[tuple[str, str]], given: str | None) -> Field:
    options = [_deref(option, defs) for option in prop.get("anyOf", [prop])]
    nullable = any(option.get("type") == "null" for option in options)
    options = [option for option in options if option.get("type") != "null"]
    inner = options[0] if len(options) == 1 else {}
    default = json.dumps(prop["default"]) if "default" in prop else None
    if "enum" in inner or "const" in inner:
        widget = "choice"
    elif inner.get("type") in ("integer", "number", "string", "boolean"):
        widget = inner["type"]
    else:
        widget = "json"
    choices = [(json.dumps(v), str(v)) for v in inner.get("enum", [inner["const"]] if "const" in inner else [])]
    return Field(name=name, title=prop.get("title", name), description=prop.get("description", ""),
                 required=required, widget=widget, default=default, value=_initial(widget, default, given, choices),
                 nullable=nullable, choices=choices, suggestions=suggestions)


def _initial(widget: str, default: str | None, given: str | None, choices: list[tuple[str, str]]) -> str:
    """The input's first text: a value from the page's query (e.g. ?dataset_id=…), else the default."""
    if widget == "choice":
        chosen = [value for value, label in choices if given in (value, label)]
        return chosen[0] if chosen else default or ""
    if given is not None:
        return given
    if default is None or default == "null":
        return ""
    return json.loads(default) if widget == "string" else default


def _rows(session: Session, workspace: str, table: type) -> list[tuple[str, str]]:
    rows = session.scalars(select(table).where(table.workspace_id == workspace)
                           .order_by(table.id.desc()).limit(REFERENCE_CHOICES))
    return [(row.id, _label(row)) for row in rows]


def _label(row: Any) -> str:
    if isinstance(row, Job):
        return f"{row.kind} job, {row.status}"
    parts = [getattr(row, "name", None), getattr(row, "architecture", None), getattr(row, "kind", None)]
    count = getattr(row, "num_images", None) or getattr(row, "count", None)
    if count is not None:
        parts.append(f"{count} images")
    return " · ".join(str(p) for p in parts if p)
