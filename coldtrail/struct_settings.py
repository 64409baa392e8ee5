"""Settings as msgspec Structs: the base of the gateway's tables, a secret string, and
:func:`convert`, whose :class:`FieldError` names each key that is wrong.

msgspec stops at the first problem; :func:`convert` then leaves the bad key out and converts
again (up to :data:`MAX_PROBLEMS` times), so that one error names every bad key it can, as
pydantic did: not those of a table (or list item) that already has a problem, nor the list
items after it.
"""

from __future__ import annotations

import copy
import re
import typing
from typing import Any, Literal, TypeVar

import msgspec

MAX_PROBLEMS = 20


class Secret:
    """A string never shown in ``repr``/``str`` (logs, tracebacks): ``get_secret_value()``
    gives it, as pydantic's ``SecretStr`` does."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class FieldError(ValueError):
    """A setting that is wrong: ``loc`` is where (keys and list indexes), ``msg`` what;
    ``others``: more problems found in the same table."""

    def __init__(
        self, loc: tuple[str | int, ...], msg: str, others: tuple[FieldError, ...] = ()
    ) -> None:
        self.loc = loc
        self.msg = msg
        self.others = others
        super().__init__("; ".join(p.where() for p in self.problems()))

    def problems(self) -> tuple[FieldError, ...]:
        return (self, *self.others)

    def where(self) -> str:
        """``loc: msg`` (``sensors[0].mac: ...``)."""
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.loc)
        return f"{path.lstrip('.')}: {self.msg}" if path else self.msg


def _dec_hook(kind: type, value: Any) -> Any:
    if kind is Secret:
        if isinstance(value, Secret):
            return value
        if isinstance(value, str):
            return Secret(value)
        raise TypeError(f"Expected `str`, got `{type(value).__name__}`")
    raise NotImplementedError(f"no conversion to {kind!r}")


def _enc_hook(value: Any) -> Any:
    if isinstance(value, Secret):
        return str(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


_AT = re.compile(r"^(?P<msg>.*) - at (?P<key>`key` in )?`\$(?P<path>[^`]*)`$", re.DOTALL)
_STEP = re.compile(r"\.(?P<key>[^.\[]+)|\[(?P<index>\d+)\]|\[(?P<other>[^\]]*)\]")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<key>.*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<key>.*)`$")


def problem(exc: msgspec.ValidationError) -> FieldError:
    """msgspec's error (``Expected `int` >= 1 - at `$.outbox.max_items```) as a FieldError."""
    msg = str(exc)
    loc: list[str | int] = []
    match = _AT.match(msg)
    if match is not None:
        msg = match["msg"] + (" (a key of this table)" if match["key"] else "")
        for step in _STEP.finditer(match["path"]):
            if step["key"] is not None:
                loc.append(step["key"])
            elif step["index"] is not None:
                loc.append(int(step["index"]))
            else:
                loc.append(step["other"])  # a table's key: msgspec says "..."
    cause = exc.__cause__
    if isinstance(cause, FieldError):
        loc.extend(cause.loc)
        msg = cause.msg
    unknown = _UNKNOWN.match(msg)
    if unknown is not None:
        loc.append(unknown["key"])
        msg = "unknown setting (not a field of this table)"
    missing = _MISSING.match(msg)
    if missing is not None:
        loc.append(missing["key"])
        msg = "required"
    return FieldError(tuple(loc), msg)


_CONVERTED: dict[type, list[tuple[str, Any]]] = {}


def _needs_conversion(kind: Any) -> bool:
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct | Secret):
        return True
    return any(_needs_conversion(arg) for arg in typing.get_args(kind))


S = TypeVar("S", bound="Settings")


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A table of the gateway's settings."""

    def __post_init__(self) -> None:
        # Keyword construction: nested tables given as dicts, secrets given as str.
        cls = type(self)
        fields = _CONVERTED.get(cls)
        if fields is None:
            fields = [(f.name, f.type) for f in msgspec.structs.fields(cls)]
            fields = _CONVERTED[cls] = [(n, t) for n, t in fields if _needs_conversion(t)]
        for name, kind in fields:
            value = getattr(self, name)
            if value is not None and not isinstance(value, msgspec.Struct | Secret):
                setattr(self, name, msgspec.convert(value, kind, dec_hook=_dec_hook, strict=False))

    @classmethod
    def prepare(cls, table: Any, loc: tuple[str | int, ...] = ()) -> Any:
        """``table`` as :func:`convert` reads it (e.g. an MQTT ``url`` as its fields)."""
        return table

    @classmethod
    def from_table(cls: type[S], table: Any) -> S:
        """This table from a TOML table (or JSON object); :class:`FieldError` saying what is
        wrong where. Strings are read as numbers and booleans where those are expected."""
        return convert(table, cls)


def convert(table: Any, cls: type[S]) -> S:
    """``cls`` from ``table``, every constraint checked; :class:`FieldError` if one fails."""
    table = _lenient(cls.prepare(table), cls)
    try:
        return msgspec.convert(table, cls, dec_hook=_dec_hook, strict=False)
    except msgspec.ValidationError as exc:
        first = _located(exc, table, cls)
    # Leave the bad key out and convert again, for the next problem.
    problems, work, drop = [first], copy.deepcopy(table), first.loc
    for _ in range(MAX_PROBLEMS):
        if not _drop(work, drop):
            break
        try:
            msgspec.convert(work, cls, dec_hook=_dec_hook, strict=False)
            break
        except msgspec.ValidationError as exc:
            error, checked = _located(exc, work, cls), exc.__cause__ is not None
        if any(error.loc[: len(p.loc)] == p.loc for p in problems):
            drop = error.loc[:-1]  # a required key left out: leave its table out too
        elif checked and any(p.loc[: len(error.loc)] == error.loc for p in problems):
            drop = error.loc  # the check of a table with a key left out: leave it out too
        else:
            problems.append(error)
            drop = error.loc
    raise FieldError(first.loc, first.msg, tuple(problems[1:]))


_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})


def _lenient(value: Any, kind: Any) -> Any:
    """``value`` with the strings of the environment read as pydantic read them: a bool from
    yes/no, on/off, y/n, t/f (any case), a number with blanks around it; the rest as is."""
    if isinstance(value, str):
        text = value.strip()
        args = set(typing.get_args(kind)) or {kind}
        if bool in args and text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        return text if args & {int, float} else value
    kind = _container(kind)
    if isinstance(value, dict) and isinstance(kind, type):
        fields = {f.name: f.type for f in msgspec.structs.fields(kind)}
        return {k: _lenient(v, fields.get(k)) for k, v in value.items()}
    if isinstance(value, dict) and typing.get_origin(kind) is dict:
        inner = typing.get_args(kind)[1]
        return {k: _lenient(v, inner) for k, v in value.items()}
    if isinstance(value, list) and typing.get_origin(kind) is list:
        inner = typing.get_args(kind)[0]
        return [_lenient(v, inner) for v in value]
    return value


def _located(exc: msgspec.ValidationError, table: Any, cls: type) -> FieldError:
    error = problem(exc)
    try:
        loc, kind = _resolve(table, error.loc, cls)
    except (LookupError, TypeError, AttributeError):  # a shape not foreseen: msgspec's place
        loc, kind = error.loc, None
    msg = error.msg
    choices = _choices(kind) if msg.startswith("Invalid enum value") else ()
    if choices:
        msg += f"; choose one of {', '.join(choices)}"
    return FieldError(loc, msg)


def _drop(table: Any, loc: tuple[str | int, ...]) -> bool:
    """Leave the value at ``loc`` out of ``table`` (a list item: it and the items after it, so
    that the indexes of those before keep their meaning); False if there is none."""
    if not loc:
        return False
    parent = table
    for step in loc[:-1]:
        try:
            parent = parent[step]
        except (KeyError, IndexError, TypeError):
            return False
    last = loc[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
        return True
    if isinstance(parent, list) and isinstance(last, int) and last < len(parent):
        del parent[last:]
        return True
    return _drop(table, loc[:-1])


def _choices(kind: Any) -> tuple[str, ...]:
    """The values a Literal type (or a dict's Literal keys) allows."""
    if typing.get_origin(kind) is Literal:
        return tuple(str(arg) for arg in typing.get_args(kind))
    if typing.get_origin(kind) is dict:
        return _choices(typing.get_args(kind)[0])
    return next((c for c in map(_choices, typing.get_args(kind)) if c), ())


def _resolve(
    table: Any, loc: tuple[str | int, ...], kind: Any
) -> tuple[tuple[str | int, ...], Any]:
    """``loc`` with the table keys msgspec leaves out (``...``) found in ``table`` (the first
    key whose value does not convert), and the type at ``loc``."""
    out: list[str | int] = []
    for step in loc:
        kind = _container(kind)
        if step == "..." and isinstance(table, dict) and typing.get_origin(kind) is dict:
            inner = typing.get_args(kind)[1]
            for key, value in table.items():
                try:
                    msgspec.convert(value, inner, dec_hook=_dec_hook, strict=False)
                except msgspec.ValidationError:
                    step = key
                    break
            kind, table = inner, table.get(step)
        elif isinstance(step, int) and isinstance(table, list) and step < len(table):
            args = typing.get_args(kind)
            if typing.get_origin(kind) is tuple and ... not in args:
                kind = args[step] if step < len(args) else None
            else:
                kind = args[0] if args else None
            table = table[step]
        elif isinstance(step, str) and isinstance(table, dict) and isinstance(kind, type):
            fields = {f.name: f.type for f in msgspec.structs.fields(kind)}
            kind, table = fields.get(step), table.get(step)
        else:
            kind, table = None, None
        out.append(step)
    return tuple(out), kind


def _container(kind: Any) -> Any:
    """The Struct, list or dict type in ``kind`` (``X | None``, ``Annotated[X, ...]``)."""
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return kind
    if typing.get_origin(kind) in (list, dict, tuple):
        return kind
    for arg in typing.get_args(kind):
        found = _container(arg)
        if found is not None:
            return found
    return None


def to_builtins(settings: Settings) -> Any:
    """``settings`` as a table, secrets masked (``**********``)."""
    return msgspec.to_builtins(settings, enc_hook=_enc_hook)
