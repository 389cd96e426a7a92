"""The SLO file: the shipped one loads; a malformed one is refused with its line named, by the
loader and by `justmaily serve` before it listens."""

from __future__ import annotations

from pathlib import Path

import pytest

from justmaily.server.metrics import sli
from justmaily.server.ops import slo
from tests.server.ops.starting import refused_start

_GOOD = """window_days = 30

[[slo]]
name = "availability"
objective = 0.999
description = "no 5xx"

[[slo]]
name = "latency"
objective = 0.99
threshold_seconds = 0.2
description = "fast"
"""


def test_the_shipped_file_defines_every_objective_the_server_measures() -> None:
    shipped = slo.load()
    assert [o.name for o in shipped.slo] == list(sli.KNOWN)
    assert shipped.window_days == 30
    assert shipped.thresholds() == {"latency": 0.1, "room_delivery": 1.0, "tree_head_freshness": 120.0}


def test_an_operators_file_is_read() -> None:
    parsed = slo.parse(_GOOD, "mine.toml")
    assert [(o.name, o.objective) for o in parsed.slo] == [("availability", 0.999), ("latency", 0.99)]
    assert parsed.slo[0].budget == pytest.approx(0.001)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            _GOOD.replace("objective = 0.99\n", "objective = 1.5\n"),
            "mine.toml: line 10: Expected `float` < 1.0",
        ),
        (_GOOD.replace('"latency"', '"latncy"'), "mine.toml: line 8: unknown objective 'latncy'"),
        (
            _GOOD.replace('"latency"', '"availability"'),
            "mine.toml: line 8: objective 'availability' is defined twice",
        ),
        (
            _GOOD.replace("threshold_seconds = 0.2\n", ""),
            "mine.toml: line 8: objective 'latency' needs threshold_seconds",
        ),
        (_GOOD.replace('description = "no 5xx"', 'description = "no 5xx"\nthreshold_seconds = 1'), "line 3"),
        (_GOOD.replace("window_days = 30", "window_days = 0"), "mine.toml: line 1: Expected `int` >= 1"),
        (_GOOD.replace("[[slo]]\nname", "[[slo]\nname", 1), "mine.toml: "),
        (
            _GOOD.replace("objective = 0.999", 'objective = 0.999\ncolour = "red"'),
            "line 6: Object contains unknown field `colour`",
        ),
    ],
)
def test_a_malformed_file_is_refused_with_its_line(text: str, message: str) -> None:
    with pytest.raises(slo.SloFileError) as refused:
        slo.parse(text, "mine.toml")
    assert message in str(refused.value)


def test_the_server_refuses_to_start_with_a_malformed_slo_file(tmp_path: Path) -> None:
    broken = tmp_path / "slos.toml"
    broken.write_text(_GOOD.replace("objective = 0.99\n", "objective = 2\n"))
    stderr = refused_start(tmp_path, JUSTMAILY_SLO_FILE=str(broken))
    assert f"configuration error: {broken}: line 10: Expected `float` < 1.0" in stderr
