"""The installed package says its licence (PEP 639) and carries the licence texts."""

import importlib.metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_licence_expression_and_files() -> None:
    meta = importlib.metadata.metadata("vpsorg")
    assert (
        meta["License-Expression"] == "Apache-2.0 AND 0BSD AND MIT"
    )  # vpsorg, the htmx and xterm.js it bundles
    assert meta.get_all("License-File") == [
        "LICENSE",
        "src/vpsorg/web/static/htmx-LICENSE.txt",
        "src/vpsorg/web/static/xterm-LICENSE.txt",
    ]
    shipped = {str(f): f for f in importlib.metadata.distribution("vpsorg").files or []}
    licence = shipped[f"vpsorg-{meta['Version']}.dist-info/licenses/LICENSE"].read_text()
    assert licence.lstrip().startswith("Apache License") and "Version 2.0, January 2004" in licence
    assert licence == (ROOT / "LICENSE").read_text()
