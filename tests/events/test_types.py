"""The README's table of event types is the one vpsorg.events.types.DESCRIPTIONS makes:
a type added, renamed or described anew fails here until the README says the same.

    .venv/bin/python -m tests.events.test_types   # prints the table to paste"""

import importlib.util
import re
from pathlib import Path

from vpsorg.events.types import DESCRIPTIONS, EventType

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
MIGRATION = ROOT / "src/vpsorg/migrations/versions/2026_12_07_events.py"


def _keys(data: str) -> str:
    if data.startswith("("):  # "(none)"
        return data
    return ", ".join(f"`{key.strip()}`" for key in data.split(","))


def table() -> str:
    lines = ["| type | about | when | `data` |", "|---|---|---|---|"]
    for type_, (about, when, data) in DESCRIPTIONS.items():
        lines.append(f"| `{type_}` | {about} | {when} | {_keys(data)} |")
    return "\n".join(lines) + "\n"


def test_every_type_is_described() -> None:
    assert set(DESCRIPTIONS) == set(EventType)


def test_the_described_keys_are_the_ones_the_triggers_write() -> None:
    spec = importlib.util.spec_from_file_location("events_migration", MIGRATION)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    written: dict[str, set[str]] = {}
    for trigger in migration.TRIGGERS:
        written.setdefault(trigger.type, set()).update(key for key, _ in trigger.data)
    described = {
        str(t): set() if data.startswith("(") else {k.strip() for k in data.split(",")}
        for t, (_, _, data) in DESCRIPTIONS.items()
    }
    assert written == described


def test_the_readme_has_the_table_made_from_the_descriptions() -> None:
    assert "\n### Events\n" in README
    events = re.split(r"\n#{2,3} ", README.split("\n### Events\n", 1)[1], maxsplit=1)[0]
    assert table() in events, "README 'Events' must hold this table:\n" + table()


if __name__ == "__main__":
    print(table(), end="")
