"""The Prometheus material generated from the SLO file: up to date, accepted by promtool, every
alert's unit tests pass, every alert has its runbook; the Alertmanager routes pass amtool."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from justmaily.server.ops import rules, slo
from tests.deploy.tools import DEPLOY, ROOT, run

PROMETHEUS = DEPLOY / "prometheus"


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:  # `just test` installs it (tools/system_deps.sh): its absence is a failure
        pytest.fail(f"{name} is not installed: run tools/system_deps.sh (Debian's prometheus packages)")
    return found


def test_the_committed_rules_are_what_the_slo_file_generates(tmp_path: Path) -> None:
    run(Path(ROOT / ".venv/bin/justmaily"), "ops", "rules", "--out", tmp_path)
    for name in ("rules.yml", "rules.test.yml"):
        assert (PROMETHEUS / name).read_text() == (tmp_path / name).read_text(), (
            f"deploy/prometheus/{name} is stale: run `python3 bootstrap.py ops-rules`"
        )


def test_promtool_accepts_the_rules_and_every_alerts_unit_tests_pass() -> None:
    checked = run(tool("promtool"), "check", "rules", PROMETHEUS / "rules.yml")
    assert "SUCCESS: 15 rules found" in checked
    tested = run(tool("promtool"), "test", "rules", "rules.test.yml", cwd=PROMETHEUS)
    assert "SUCCESS" in tested


def test_every_alert_is_tested_firing_and_silent_and_links_its_runbook() -> None:
    generated = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())
    alerts = [rule for group in generated["groups"] for rule in group["rules"] if "alert" in rule]
    names = {rule["alert"] for rule in alerts}
    assert names == {rules.alert_name(o) for o in slo.load().slo}
    tests = yaml.safe_load((PROMETHEUS / "rules.test.yml").read_text())["tests"]
    for name in names:
        cases = [c for t in tests for c in t["alert_rule_test"] if c["alertname"] == name]
        fired = {a["exp_labels"]["severity"] for c in cases for a in c["exp_alerts"]}
        assert fired == {"page", "ticket"}, name
        assert any(not c["exp_alerts"] for c in cases), f"{name} is never tested silent"
    for rule in alerts:
        runbook = ROOT / rule["annotations"]["runbook_url"]
        assert runbook.is_file(), runbook
        assert runbook.read_text().startswith(f"# {rule['alert']}\n")


def test_the_scrape_config_is_valid_and_sends_the_token_from_a_file(tmp_path: Path) -> None:
    for name in ("prometheus.yml", "rules.yml"):
        shutil.copy(PROMETHEUS / name, tmp_path / name)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "justmaily-metrics-token").write_text("stand-in\n")
    assert "is valid prometheus config" in run(
        tool("promtool"), "check", "config", "prometheus.yml", cwd=tmp_path
    )
    scrape = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["scrape_configs"][0]
    assert scrape["metrics_path"] == "/metrics"
    assert set(scrape["authorization"]) == {"type", "credentials_file"}


def test_alertmanager_routes_pages_and_tickets_and_keeps_secrets_out() -> None:
    assert "SUCCESS" in run(tool("amtool"), "check-config", PROMETHEUS / "alertmanager.yml")
    config = yaml.safe_load((PROMETHEUS / "alertmanager.yml").read_text())
    routes = {r["matchers"][0]: r["receiver"] for r in config["route"]["routes"]}
    assert routes == {'severity="page"': "on-call", 'severity="ticket"': "team-mail"}
    assert "smtp_auth_password" not in config["global"]  # only its _file
    assert config["global"]["smtp_auth_password_file"].startswith("/etc/alertmanager/secrets/")
