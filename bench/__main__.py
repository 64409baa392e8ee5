"""``python -m bench``: run every benchmark, print their JSON and write bench/results.json."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main() -> int:
    results = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
        },
        "benchmarks": {},
    }
    for path in sorted(p for p in HERE.glob("*.py") if not p.name.startswith("_")):
        print(f"running {path.name} ...", file=sys.stderr, flush=True)
        out = subprocess.run(
            [sys.executable, "-m", f"bench.{path.stem}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results["benchmarks"][path.stem] = json.loads(out)
    text = json.dumps(results, indent=2)
    (HERE / "results.json").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
