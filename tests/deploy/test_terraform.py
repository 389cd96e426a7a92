"""deploy/terraform: every file parsed with python-hcl2 (no Terraform providers can be fetched
here, so `terraform validate` cannot run), checkov over the folder, and the properties the
deployment relies on, checked on what was parsed."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hcl2
import pytest

from tests.deploy.tools import DEPLOY, documents, kustomize, run_checkov

TERRAFORM = DEPLOY / "terraform"
Blocks = dict[str, dict[str, dict[str, Any]]]  # resource type -> name -> body


def _plain(value: Any) -> Any:
    """python-hcl2's output without its quotes around strings and its block markers."""
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def parsed(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        result: dict[str, Any] = _plain(hcl2.load(handle))
    return result


def blocks(kind: str) -> Blocks:
    """Every `resource` (or `data`) block of the folder, by type and name."""
    found: Blocks = {}
    for path in sorted(TERRAFORM.glob("*.tf")):
        for entry in parsed(path).get(kind, []):
            for type_, named in entry.items():
                found.setdefault(type_, {}).update(named)
    return found


def one(resources: Blocks, type_: str) -> dict[str, Any]:
    bodies = list(resources.get(type_, {}).values())
    return bodies[0] if len(bodies) == 1 else {}


def problems(resources: Blocks, data: Blocks) -> list[str]:
    wrong: list[str] = []
    database = one(resources, "aws_db_instance")
    expected = {
        "storage_encrypted": True,
        "publicly_accessible": False,
        "deletion_protection": True,
        "multi_az": True,
        "manage_master_user_password": True,
    }
    wrong += [
        f"aws_db_instance: {key} is not {value}"
        for key, value in expected.items()
        if database.get(key) is not value
    ]
    if not database.get("kms_key_id") or "password" in database:
        wrong.append("aws_db_instance: no customer key, or a password in the configuration")
    if database.get("backup_retention_period") in (None, 0) or database.get("engine") != "postgres":
        wrong.append("aws_db_instance: no automated backups (no point-in-time recovery)")
    peering = one(resources, "aws_vpc_peering_connection")
    if not peering or {peering.get("vpc_id"), peering.get("peer_vpc_id")} != {
        "${aws_vpc.app.id}",
        "${aws_vpc.database.id}",
    }:
        wrong.append("no peering between the application VPC and the database VPC")
    if len(resources.get("aws_route", {})) < 2:
        wrong.append("the peering is not routed both ways")
    block = one(resources, "aws_s3_bucket_public_access_block")
    flags = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    if not all(block.get(flag) is True for flag in flags):
        wrong.append("the backup bucket's public access is not blocked")
    encryption = one(resources, "aws_s3_bucket_server_side_encryption_configuration")
    defaults = encryption.get("rule", [{}])[0].get("apply_server_side_encryption_by_default", [{}])[0]
    if defaults.get("sse_algorithm") != "aws:kms":
        wrong.append("the backup bucket is not encrypted with a KMS key")
    lifecycle = one(resources, "aws_s3_bucket_lifecycle_configuration")
    if not any(rule.get("expiration") and rule.get("transition") for rule in lifecycle.get("rule", [])):
        wrong.append("the backup bucket has no lifecycle rule moving and expiring backups")
    if "aws_secretsmanager_secret_version" in resources:
        wrong.append("a secret's value is in Terraform (and so in its state)")
    rotations = resources.get("aws_secretsmanager_secret_rotation", {}).values()
    if not any(r.get("secret_id") == "${aws_secretsmanager_secret.database.id}" for r in rotations):
        wrong.append("the database secret is not rotated")
    keys = resources.get("aws_kms_key", {}).values()
    if not keys or not all(key.get("enable_key_rotation") is True for key in keys):
        wrong.append("a KMS key is not rotated")
    wrong += _irsa_problems(data)
    return wrong


def _irsa_problems(data: Blocks) -> list[str]:
    documents_ = data.get("aws_iam_policy_document", {})
    trust = documents_.get("external_secrets_trust", {}).get("statement", [{}])[0]
    conditions = {c["variable"]: c["values"] for c in trust.get("condition", [])}
    wrong = []
    subject = conditions.get("${var.eks_oidc_issuer}:sub")
    if trust.get("actions") != ["sts:AssumeRoleWithWebIdentity"] or subject != [
        "system:serviceaccount:${local.namespace}:justmaily-secrets"
    ]:
        wrong.append("the secrets role is not limited to External Secrets' service account (IRSA)")
    for statement in documents_.get("external_secrets", {}).get("statement", []):
        if any("*" in action for action in statement["actions"]) or "*" in statement["resources"]:
            wrong.append("the secrets role's policy uses wildcards")
    return wrong


def test_every_file_parses() -> None:
    files = sorted(TERRAFORM.glob("*.tf")) + sorted(TERRAFORM.glob("environments/*.tfvars"))
    assert len(files) >= 8
    for path in files:
        assert parsed(path), path


def test_the_infrastructure_has_every_property_the_deployment_promises() -> None:
    assert problems(blocks("resource"), blocks("data")) == []


def _set(type_: str, key: str, value: Any) -> Callable[[Blocks], Blocks]:
    def change(resources: Blocks) -> Blocks:
        next(iter(resources[type_].values()))[key] = value
        return resources

    return change


def _drop(type_: str) -> Callable[[Blocks], Blocks]:
    return lambda resources: {k: v for k, v in resources.items() if k != type_}


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (_set("aws_db_instance", "storage_encrypted", False), "storage_encrypted"),
        (_set("aws_db_instance", "backup_retention_period", 0), "point-in-time"),
        (_set("aws_s3_bucket_public_access_block", "block_public_policy", False), "public access"),
        (_drop("aws_s3_bucket_public_access_block"), "public access"),
        (_drop("aws_secretsmanager_secret_rotation"), "not rotated"),
        (_drop("aws_vpc_peering_connection"), "peering"),
        (
            lambda r: {**r, "aws_secretsmanager_secret_version": {"x": {"secret_string": "hunter2"}}},
            "value is in",
        ),
    ],
)
def test_the_checks_catch_infrastructure_that_lost_a_property(
    change: Callable[[Blocks], Blocks], complaint: str
) -> None:
    found = problems(change(copy.deepcopy(blocks("resource"))), blocks("data"))
    assert any(complaint in problem for problem in found), found


def test_checkov_fails_nothing_and_every_skip_says_why() -> None:
    report = run_checkov("--framework", "terraform", "--directory", TERRAFORM)
    assert report.failed == []
    assert len(report.passed) > 100
    assert all(len(reason) > 20 for _check, reason in report.skipped), report.skipped


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_each_environment_s_networks_match_its_kubernetes_overlay(environment: str) -> None:
    values = parsed(TERRAFORM / "environments" / f"{environment}.tfvars")
    rendered = documents(kustomize(DEPLOY / "kubernetes" / "overlays" / environment))
    policy = next(
        m for m in rendered if m["kind"] == "NetworkPolicy" and m["metadata"]["name"] == "to-database"
    )
    config = next(m for m in rendered if m["kind"] == "ConfigMap")
    account = next(
        m for m in rendered if m["kind"] == "ServiceAccount" and m["metadata"]["name"] == "justmaily-secrets"
    )
    assert values["environment"] == environment
    assert policy["spec"]["egress"][0]["to"][0]["ipBlock"]["cidr"] == values["database_vpc_cidr"]
    assert config["data"]["JUSTMAILY_TRUSTED_PROXIES"] == values["app_vpc_cidr"]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        f":role/justmaily-{environment}-external-secrets"
    )
