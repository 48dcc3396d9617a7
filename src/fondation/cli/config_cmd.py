"""`fondation config`: the effective configuration, secrets masked."""

from __future__ import annotations

import typer

from fondation.cli.common import JsonOption
from fondation.cli.output import console, new_table, print_json
from fondation.config import load_settings

config_app = typer.Typer(help="Show the effective configuration.")


@config_app.command("show")
def show(as_json: JsonOption = False) -> None:
    """Show every setting by its environment variable, passwords masked, so it can be pasted safely."""
    view = load_settings().public_view()
    if as_json:
        print_json(view)
        return
    table = new_table("VARIABLE", "VALUE", fold={"VALUE"})
    for name, value in view.items():
        table.add_row(name, str(value))
    console.print(table)
