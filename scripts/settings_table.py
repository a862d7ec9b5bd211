"""Print the configuration table for README.md from the Settings class itself.

.venv/bin/python scripts/settings_table.py
"""

from __future__ import annotations

from pydantic import AliasChoices

from scheduler.settings import Settings


def rows() -> list[tuple[str, str, str]]:
    out = []
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        assert isinstance(alias, AliasChoices)
        default = field.default
        shown = "unset" if default is None else str(default)
        out.append((str(alias.choices[0]), shown, field.description or ""))
    return out


if __name__ == "__main__":
    print("| variable | default | meaning |")
    print("| --- | --- | --- |")
    for name, default, description in rows():
        print(f"| `{name}` | `{default}` | {description} |")
