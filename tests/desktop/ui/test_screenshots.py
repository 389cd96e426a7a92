"""The README's screenshots: rendered offscreen against a demo server process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

pytestmark = pytest.mark.server_process

SHOTS = ("sign-in", "campaigns", "editor", "performance")


def distinct_colours(image: QImage, step: int = 4) -> int:
    return len(
        {image.pixel(x, y) for x in range(0, image.width(), step) for y in range(0, image.height(), step)}
    )


def test_the_screenshots_are_rendered(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("QT_SCALE_FACTOR", None)
    result = subprocess.run(
        [sys.executable, "-m", "tools.screenshots", str(tmp_path)],
        env=env,
        cwd=Path(__file__).parents[3],  # the repository's root, where `tools` is
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    paths = [tmp_path / f"{name}.png" for name in SHOTS]
    assert result.stdout.split() == [str(path) for path in paths]
    for path in paths:
        image = QImage(str(path))
        assert not image.isNull(), path
        assert image.width() > 400, (path, image.width())
    editor = QImage(str(tmp_path / "editor.png"))
    assert distinct_colours(editor) > 20  # text, the preview, carets and presence: not a blank window
