"""What every benchmark does with its results: print them with the machine they ran on, and
write them to benchmarks/out/NAME.md (the text) and NAME.json (the numbers)."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def publish(name: str, text: str, data: dict) -> None:
    described = f"{text}\n\nmachine: {machine()}\n"
    print(described)
    OUT.mkdir(exist_ok=True)
    (OUT / f"{name}.md").write_text(described)
    (OUT / f"{name}.json").write_text(json.dumps({"machine": machine(), **data}, indent=2))
