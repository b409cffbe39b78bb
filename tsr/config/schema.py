"""One typed schema for every value a user can set: defaults, types and ranges in one place.

Each settings class (`tsr.data.settings.DataSettings`, a backbone's signature, the
classifier's, a command's options) is a pydantic model whose fields carry the default,
the type and the valid range. Hydra gets the defaults from it (`store_defaults` puts
them in Hydra's ConfigStore, and the YAML files list only what a named recipe changes),
the constructors validate what they are given against it (`validate`), and a bad value
fails before any data is read with one line naming the key, the value and what is valid:

    data.batch_size='abc' must be a whole number >= 1
    unknown data.preprocessing='sepia'; valid choices: rgb, gray, sharpen, hist, clahe
    data.jitter: unknown key 'colour'; valid keys: enabled, batched, affine, ...

pydantic does the checking; this module only turns its errors into those sentences.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, TypeVar

import annotated_types
import pydantic
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

from tsr.errors import ConfigError

__all__ = [
    "Choice",
    "Field",
    "Settings",
    "describe",
    "store_defaults",
    "to_plain",
    "validate",
]

Model = TypeVar("Model", bound=BaseModel)


class Settings(BaseModel):
    """Base of every settings class: no unknown keys, no silent type conversion (an int
    is a number, but "1" is not a whole number and 1 is not true), immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def Choice(*values: str) -> Any:
    """A string restricted to `values` (the message lists them in this order)."""
    return Literal[values]


def to_plain(value: Any) -> Any:
    """OmegaConf containers (and tuples) as plain dicts and lists, for validation."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
    except ImportError:  # pragma: no cover - omegaconf comes with hydra
        return value
    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, Mapping):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return value


def _bounds(metadata: list[Any]) -> list[str]:
    out = []
    expanded = []
    for item in metadata:  # Field(...) inside Annotated[...] carries its bounds as metadata
        expanded.extend(item.metadata if isinstance(item, FieldInfo) else [item])
    for item in expanded:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            bound = getattr(item, attr, None)
            if bound is not None and isinstance(
                item, annotated_types.BaseMetadata | annotated_types.GroupedMetadata
            ):
                out.append(f"{sign} {bound:g}" if isinstance(bound, float) else f"{sign} {bound}")
    return out


_PLURALS = {"a whole number": "whole numbers", "a number": "numbers", "a string": "strings"}


def _describe_type(annotation: Any, metadata: list[Any]) -> str:
    """`int` with ge=1 -> 'a whole number >= 1'; Literal -> 'one of a, b'; unions joined."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *extra = typing.get_args(annotation)
        return _describe_type(base, [*metadata, *extra])
    if origin in (typing.Union, UnionType):
        parts = [
            _describe_type(a, metadata) for a in typing.get_args(annotation) if a is not NoneType
        ]
        text = " or ".join(dict.fromkeys(parts)).replace("a path or a string", "a path")
        return text + " or null" if NoneType in typing.get_args(annotation) else text
    if origin is Literal:
        return "one of " + ", ".join(str(v) for v in typing.get_args(annotation))
    bounds = " and ".join(_bounds(metadata))
    suffix = f" {bounds}" if bounds else ""
    if annotation is bool:
        return "true or false"
    if annotation is int:
        return "a whole number" + suffix
    if annotation is float:
        return "a number" + suffix
    if annotation is str:
        return "a string"
    if annotation is Path:
        return "a path"
    if origin in (list, tuple, Sequence) or annotation in (list, tuple):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        inner = _describe_type(args[0], []) if args else "a value"
        for one, many in _PLURALS.items():
            if inner.startswith(one):
                rest = inner.removeprefix(one).strip()
                return f"a list of {many}" + (f", each {rest}" if rest else "") + suffix
        return f"a list ({inner} each){suffix}"
    if origin is dict or annotation is dict:
        return "a mapping"
    return getattr(annotation, "__name__", str(annotation))


def describe(field: FieldInfo) -> str:
    """What a field accepts, in words (for messages and docs)."""
    return _describe_type(field.annotation, list(field.metadata))


def _field_at(model: type[BaseModel], loc: tuple[Any, ...]) -> FieldInfo | None:
    """The schema field an error location points at (through nested settings)."""
    field = None
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            break
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        nested = [
            a
            for a in (field.annotation, *typing.get_args(field.annotation))
            if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        current = nested[0] if nested else None
    return field


def _value_at(data: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc:
        in_mapping = isinstance(data, Mapping) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and part < len(data)
        if in_mapping or in_list:
            data = data[part]
        else:
            break
    return data


_TAGS = {"int", "float", "str", "bool", "list", "tuple", "dict", "none", "path", "lax-or-strict"}


def _is_tag(part: Any) -> bool:
    """A union or type tag pydantic puts in an error's location ('int', 'constrained-float',
    'function-after[...]'), not a key."""
    return isinstance(part, str) and (
        "[" in part or part in _TAGS or part.startswith("constrained-")
    )


def _message(model: type[BaseModel], prefix: str, data: Any, error: Any) -> str:
    loc = tuple(p for p in error["loc"] if not _is_tag(p))
    names = [p for p in loc if isinstance(p, str)]
    key = ".".join(filter(None, [prefix, *names]))
    if error["type"] == "extra_forbidden":
        parent = _field_at(model, tuple(names[:-1])) if names[:-1] else None
        owner: Any = model
        if parent is not None:
            owner = next(
                (
                    a
                    for a in (parent.annotation, *typing.get_args(parent.annotation))
                    if isinstance(a, type) and issubclass(a, BaseModel)
                ),
                model,
            )
        where = ".".join(filter(None, [prefix, *names[:-1]]))
        valid = ", ".join(owner.model_fields)
        return f"{where}: unknown key {names[-1]!r}; valid keys: {valid}"
    field = _field_at(model, tuple(names))
    value = _value_at(data, loc)
    if error["type"] == "value_error":  # a cross-field check: its message is the sentence
        return str(error["ctx"]["error"])
    if error["type"] == "missing":
        return f"{key} is required" + (f": {describe(field)}" if field else "")
    if field is not None:
        annotation = field.annotation
        members = typing.get_args(annotation)
        inner = [a for a in (annotation, *members) if typing.get_origin(a) is Literal]
        # a union of choices and numbers (roi_crop: a margin or whole) says both
        only_choices = typing.get_origin(annotation) not in (typing.Union, UnionType) or all(
            typing.get_origin(a) is Literal or a is NoneType for a in members
        )
        if inner and isinstance(value, str) and only_choices:
            return f"unknown {key}={value!r}; valid choices: " + ", ".join(
                str(v) for v in typing.get_args(inner[0])
            )
        return f"{key}={_value_at(data, tuple(names))!r} must be {describe(field)}"
    return f"{key}={value!r}: {error['msg']}"


def validate(model: type[Model], data: Mapping[str, Any] | Model | None, prefix: str) -> Model:
    """`data` checked against `model` (its defaults filled in), or one ConfigError naming
    the first bad key under `prefix` (e.g. 'data'), the value and what is valid."""
    if isinstance(data, model):
        return data
    plain = to_plain(dict(data or {}))
    try:
        return model.model_validate(plain)
    except ValidationError as exc:
        raise ConfigError(_message(model, prefix, plain, exc.errors()[0])) from None


def signature_settings(function: Any, name: str, skip: tuple[str, ...] = ()) -> type[Settings]:
    """A settings class read from a function's (or class's) signature: its defaults, and
    the types and ranges its annotations give (`Annotated[int, Field(ge=1)]`)."""
    target = function.__init__ if inspect.isclass(function) else function
    hints = typing.get_type_hints(target, include_extras=True)
    fields: dict[str, Any] = {}
    for key, param in inspect.signature(function).parameters.items():
        if key in skip or param.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD:
            continue
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[key] = (hints.get(key, Any), default)
    return pydantic.create_model(name, __base__=Settings, **fields)


def defaults(model: type[BaseModel]) -> dict[str, Any]:
    """The schema's default values, as Hydra needs them."""
    return to_plain(model().model_dump(mode="json"))


def store_defaults(group: str | None, name: str, node: Mapping[str, Any]) -> None:
    """Put a settings class's defaults into Hydra's ConfigStore as `<group>/<name>`, for
    the YAML files' defaults lists (idempotent)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(group=group, name=name, node=dict(node))
