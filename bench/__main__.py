"""``python -m bench``: run every benchmark, print their JSON and write bench/results.json and
bench/results.md (a markdown table of the headline figures, with the machine's information).

``python -m bench --table-only`` rewrites results.md from the existing results.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench._report import machine_info, render

HERE = Path(__file__).parent


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--table-only"]:
        results = json.loads((HERE / "results.json").read_text())
        (HERE / "results.md").write_text(render(results))
        return 0
    if argv:
        print("usage: python -m bench [--table-only]", file=sys.stderr)
        return 2
    results: dict[str, object] = {"machine": machine_info(), "benchmarks": {}}
    benchmarks: dict[str, object] = {}
    for path in sorted(p for p in HERE.glob("*.py") if not p.name.startswith("_")):
        print(f"running {path.name} ...", file=sys.stderr, flush=True)
        out = subprocess.run(
            [sys.executable, "-m", f"bench.{path.stem}"],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        ).stdout
        benchmarks[path.stem] = json.loads(out)
    results["benchmarks"] = benchmarks
    text = json.dumps(results, indent=2)
    (HERE / "results.json").write_text(text + "\n")
    (HERE / "results.md").write_text(render(results))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
