"""Prometheus rules, and their unit tests, generated from the SLO file (`justmaily ops rules`).

Recording rules: the share of bad indicator events per objective over each alerting window.
Alerting rules: one alert per objective, `JustMaily<Objective>BudgetBurn`, in two severities:
`page` when the budget burns 14.4 times too fast over 1 h and 5 min, or 6 times over 6 h and
30 min; `ticket` when it burns at least as fast as allowed over 3 days and 6 h (slo.BURN_ALERTS).
Each alert links its runbook (deploy/runbooks/alerts/<Alert>.md).

The tests (`promtool test rules`) feed each objective three histories: every event bad (pages),
bad events at twice the budget (a ticket, no page), and only good events (silence).
"""

from __future__ import annotations

from typing import Any

import yaml

from justmaily.server.ops.slo import BURN_ALERTS, WINDOW_SECONDS, Objective, SloFile

SERIES = "justmaily_sli_events_total"
RUNBOOKS = "deploy/runbooks/alerts/"  # relative to the repository; `--runbook-base` for a URL
_FOR = {"page": "2m", "ticket": "1h"}
_HEADER = "# Generated from server/justmaily/server/ops/slos.toml by `justmaily ops rules`: do not edit.\n"


def ratio_name(window: str) -> str:
    return f"justmaily:sli_error_ratio:rate{window}"


def alert_name(slo: Objective) -> str:
    return "JustMaily" + "".join(part.capitalize() for part in slo.name.split("_")) + "BudgetBurn"


def rules(slos: SloFile, runbook_base: str = RUNBOOKS) -> dict[str, Any]:
    recording = [
        {
            "record": ratio_name(window),
            "expr": f'sum by (slo) (rate({SERIES}{{good="false"}}[{window}]))\n'
            f"/\nsum by (slo) (rate({SERIES}[{window}]))",
        }
        for window in WINDOW_SECONDS
    ]
    alerting = [rule for slo in slos.slo for rule in _alerts(slo, runbook_base)]
    return {
        "groups": [
            {"name": "justmaily-slo-indicators", "interval": "30s", "rules": recording},
            {"name": "justmaily-slo-alerts", "rules": alerting},
        ]
    }


def _alerts(slo: Objective, runbook_base: str) -> list[dict[str, Any]]:
    made = []
    for severity in ("page", "ticket"):
        conditions = [
            "("
            + " and ".join(
                f'{ratio_name(window)}{{slo="{slo.name}"}} > ({alert.factor:g} * {slo.budget:.6g})'
                for window in (alert.long_window, alert.short_window)
            )
            + ")"
            for alert in BURN_ALERTS
            if alert.severity == severity
        ]
        made.append(
            {
                "alert": alert_name(slo),
                "expr": "\nor\n".join(conditions),
                "for": _FOR[severity],
                "labels": {"severity": severity, "slo": slo.name},
                "annotations": _annotations(slo, severity, runbook_base),
            }
        )
    return made


def _annotations(slo: Objective, severity: str, runbook_base: str) -> dict[str, str]:
    windows = ", ".join(
        f"{a.factor:g}x over {a.long_window} and {a.short_window}"
        for a in BURN_ALERTS
        if a.severity == severity
    )
    return {
        "summary": f"{slo.description}: the error budget burns too fast",
        "description": f"Objective {slo.objective:.6g} of events good; this fires at a burn rate of "
        f"{windows}. The bad share per window: the {ratio_name('1h')} series and GET /api/ops/slo.",
        "runbook_url": f"{runbook_base}{alert_name(slo)}.md",
    }


def rule_tests(slos: SloFile, rules_file: str = "rules.yml", runbook_base: str = RUNBOOKS) -> dict[str, Any]:
    return {
        "rule_files": [rules_file],
        "evaluation_interval": "1m",
        "tests": [test for slo in slos.slo for test in _tests(slo, runbook_base)],
    }


def _tests(slo: Objective, runbook_base: str) -> list[dict[str, Any]]:
    name = alert_name(slo)
    per_minute = round(1 / slo.budget)  # events a minute; 2 of them bad is twice the budget
    labels = {"slo": slo.name, "severity": "page"}

    def series(good: int, bad: int, minutes: int) -> list[dict[str, str]]:
        return [
            {"series": f'{SERIES}{{slo="{slo.name}",good="true"}}', "values": f"0+{good}x{minutes}"},
            {"series": f'{SERIES}{{slo="{slo.name}",good="false"}}', "values": f"0+{bad}x{minutes}"},
        ]

    def fired(severity: str) -> dict[str, Any]:
        return {
            "exp_labels": {**labels, "severity": severity},
            "exp_annotations": _annotations(slo, severity, runbook_base),
        }

    return [
        {  # every event bad: pages within minutes
            "interval": "1m",
            "input_series": series(0, 60, 60),
            "alert_rule_test": [{"eval_time": "10m", "alertname": name, "exp_alerts": [fired("page")]}],
        },
        {  # twice the budget for hours: a ticket, never a page
            "interval": "1m",
            "input_series": series(per_minute - 2, 2, 240),
            "alert_rule_test": [
                {"eval_time": "30m", "alertname": name, "exp_alerts": []},
                {"eval_time": "3h", "alertname": name, "exp_alerts": [fired("ticket")]},
            ],
        },
        {  # only good events: silence
            "interval": "1m",
            "input_series": series(per_minute, 0, 240),
            "alert_rule_test": [{"eval_time": "3h", "alertname": name, "exp_alerts": []}],
        },
    ]


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (PromQL) as literal blocks, as people write them."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _string)


def as_yaml(document: dict[str, Any]) -> str:
    return _HEADER + yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True)
