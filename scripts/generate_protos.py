"""Regenerate the gRPC code in dedup/v1/ from protos/dedup/v1/dedup.proto.

    python scripts/generate_protos.py [--out DIR]

The proto's directory matches its package, so the generated modules import each other as
`dedup.v1.*` without patching. tests/test_protos.py fails when the committed code is stale.
"""
from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[1]
PROTO = "dedup/v1/dedup.proto"


def generate(out: Path) -> None:
    include = resources.files("grpc_tools") / "_proto"
    args = ["protoc", f"-I{ROOT / 'protos'}", f"-I{include}", f"--python_out={out}",
            f"--grpc_python_out={out}", f"--pyi_out={out}", str(ROOT / "protos" / PROTO)]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    init = out / "dedup" / "v1" / "__init__.py"
    init.write_text('"""Generated gRPC code for dedup.v1 (scripts/generate_protos.py); do not edit."""\n')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT, help="root to write dedup/v1/ under")
    generate(parser.parse_args().out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
