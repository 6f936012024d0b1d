"""The committed generated code matches the proto."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_generated_code_is_current(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "scripts" / "generate_protos.py"), "--out", str(tmp_path)], check=True)
    for name in ("dedup_pb2.py", "dedup_pb2.pyi", "dedup_pb2_grpc.py", "__init__.py"):
        fresh = (tmp_path / "dedup" / "v1" / name).read_text()
        committed = (ROOT / "dedup" / "v1" / name).read_text()
        assert fresh == committed, f"dedup/v1/{name} is stale: run python scripts/generate_protos.py"
