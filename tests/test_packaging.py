"""The wheel carries what ``pip install`` users need without Node: the console's built bundle
(the very files committed, which ``scripts/web.sh`` checks against the source) and ``py.typed``."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSOLE = ROOT / "src" / "acphost" / "server" / "console"


def test_the_wheel_ships_the_console_bundle(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("acphost-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert "acphost/py.typed" in names
        bundle = sorted(p for p in CONSOLE.rglob("*") if p.is_file())
        assert any(p.name == "index.html" for p in bundle)
        for path in bundle:
            name = "acphost/" + path.relative_to(ROOT / "src" / "acphost").as_posix()
            assert archive.read(name) == path.read_bytes(), name
