"""`justmaily desktop`: the command is plain click, so `--help` works without a display or Qt."""

from __future__ import annotations

import os
from pathlib import Path

import click


@click.command(help="Open the JustMaily desktop app: co-edit campaigns, live and offline.")
@click.option(
    "--home",
    type=click.Path(path_type=Path, file_okay=False),
    help="Keep settings and offline copies here instead of your user folders (also JUSTMAILY_DESKTOP_HOME).",
)
def desktop(home: Path | None) -> None:
    if home is not None:
        os.environ["JUSTMAILY_DESKTOP_HOME"] = str(home)
    try:
        from justmaily.desktop.ui.app import run
    except ImportError as exc:
        raise click.ClickException(
            f"The desktop app needs its extra: pip install 'justmaily[desktop]' ({exc})"
        ) from exc
    raise SystemExit(run())
