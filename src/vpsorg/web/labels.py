"""Labels in a form: a textarea of `key=value` lines, read into the map the API takes.

Only the lines are read here; the keys and values are checked by the API's own schema
(vpsorg.servers.labels through ServerCreate / ServerPatch), so the panel accepts exactly
what the API accepts.
"""

from vpsorg.errors import ValidationFailed

MAX_TEXT = 20_000  # 64 labels of a 317-character key and a 63-character value fit


def parse_lines(text: str) -> dict[str, str]:
    """The map the lines spell (blank lines skipped; `key` alone is `key=`); a line with no
    key, or a key twice, is refused in words (field `labels`)."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not key:
            raise ValidationFailed.field("labels", f"line {number} ({line!r}) has no key before '='")
        if key in found:
            raise ValidationFailed.field("labels", f"line {number}: the key {key!r} is given twice")
        found[key] = value
    return found


def as_lines(labels: dict[str, str]) -> str:
    """The map as the textarea shows it, one `key=value` a line, sorted by key."""
    return "\n".join(f"{k}={v}" for k, v in sorted(labels.items()))
