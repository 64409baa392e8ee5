"""Build frame sources from their configuration: ``kind:key=value,key=value``.

Kinds are looked up in the ``coldtrail.sources`` entry point group (pyproject.toml), so the
gateway does not import the packages that provide them (the simulators register ``sim``).
"""

from __future__ import annotations

from importlib.metadata import entry_points

from coldtrail.errors import ConfigError
from gateway.ports import FrameSource

GROUP = "coldtrail.sources"


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``"sim:vehicle=van-1,seed=7"`` -> ``("sim", {"vehicle": "van-1", "seed": "7"})``."""
    kind, _, rest = spec.partition(":")
    kind = kind.strip()
    if not kind:
        raise ConfigError(f"source {spec!r}: expected 'kind:key=value,...'")
    options: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"source {spec!r}: option {item!r} is not key=value")
        options[key.strip()] = value.strip()
    return kind, options


def known_kinds() -> list[str]:
    return sorted(e.name for e in entry_points(group=GROUP))


def build_source(spec: str) -> FrameSource:
    kind, options = parse_spec(spec)
    return build(kind, options, what=f"source {spec!r}")


def build(kind: str, options: dict[str, str], *, what: str | None = None) -> FrameSource:
    """The source of ``kind`` with its options; ConfigError saying what is wrong."""
    what = what or f"{kind} source"
    found = [e for e in entry_points(group=GROUP) if e.name == kind]
    if not found:
        raise ConfigError(f"{what}: unknown kind {kind!r}; known kinds: {', '.join(known_kinds())}")
    factory = found[0].load()
    try:
        source: FrameSource = factory(options)
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"{what}: {exc}") from None
    return source
