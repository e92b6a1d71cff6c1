"""``freshrec config``: the effective settings (secrets masked) and the reference of every FRESHREC_* variable.

``docs/configuration.md`` is generated from :func:`reference_markdown`, and a unit test fails when
the two drift apart, so the documentation is always the code's own.
"""

from __future__ import annotations

import json

import typer
from pydantic_core import PydanticUndefined

from freshrec.settings import ENV_PREFIX, Settings

BEGIN = "<!-- BEGIN GENERATED: freshrec config --reference -->"
END = "<!-- END GENERATED -->"


def _default(field) -> str:
    if field.default_factory is not None:
        return "(computed)"
    if field.default is PydanticUndefined or field.default is None:
        return "-"
    value = field.default
    return f"`{value}`" if not isinstance(value, str) or value else '`""`'


def reference_markdown() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        desc = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{ENV_PREFIX}{name.upper()}` | {_default(field)} | {desc} |")
    return "\n".join([BEGIN, *rows, END])


def config(
    reference: bool = typer.Option(False, "--reference", help="Print the Markdown reference of every variable."),
    as_json: bool = typer.Option(False, "--json", help="Print the effective settings as JSON."),
) -> None:
    """Show the effective settings (env > stack file > defaults; passwords masked)."""
    if reference:
        typer.echo(reference_markdown())
        return
    values = Settings().redacted()
    if as_json:
        typer.echo(json.dumps(values, indent=2, default=str))
        return
    for key, value in values.items():
        typer.echo(f"{ENV_PREFIX}{key.upper():32} {value}")
