"""deploy/kubernetes: each overlay rendered by kustomize, validated against Kubernetes' schemas
(kubernetes-validate --strict) and by checkov, and held to the properties the deployment
promises (least privilege, default-deny networking, probes, no secret values)."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from justmaily.server.cli import cli
from justmaily.server.settings.model import setting_names
from tests.deploy.tools import BIN, DEPLOY, documents, kustomize, run, run_checkov

OVERLAYS = sorted((DEPLOY / "kubernetes" / "overlays").iterdir())
Manifest = dict[str, Any]
# The settings file's variable, read before the settings themselves (docs/configuration.md).
NOT_SETTINGS = {"JUSTMAILY_CONFIG"}
EXTERNAL_SECRETS = "external-secrets.io/v1"


@pytest.fixture(scope="module", params=OVERLAYS, ids=[overlay.name for overlay in OVERLAYS])
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    overlay: Path = request.param
    folder = tmp_path_factory.mktemp(overlay.name)
    output = folder / f"{overlay.name}.yaml"
    output.write_text(kustomize(overlay))
    return output


def manifests(path: Path) -> list[Manifest]:
    return documents(path.read_text())


def of_kind(found: list[Manifest], kind: str) -> list[Manifest]:
    return [manifest for manifest in found if manifest["kind"] == kind]


def named(found: list[Manifest], kind: str, name: str) -> Manifest | None:
    return next((m for m in of_kind(found, kind) if m["metadata"]["name"] == name), None)


def cores(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def problems(found: list[Manifest]) -> list[str]:
    """What is wrong with a rendered environment (empty: nothing)."""
    wrong: list[str] = []
    wrong += _namespace_problems(found)
    wrong += _network_problems(found)
    wrong += _pod_problems(found)
    wrong += _server_problems(found)
    wrong += _secret_problems(found)
    return wrong


def _namespace_problems(found: list[Manifest]) -> list[str]:
    wrong = []
    namespaces = of_kind(found, "Namespace")
    if len(namespaces) != 1:
        return ["exactly one Namespace expected"]
    labels = namespaces[0]["metadata"].get("labels", {})
    if labels.get("pod-security.kubernetes.io/enforce") != "restricted":
        wrong.append("the namespace does not enforce the restricted Pod Security profile")
    for kind in ("ResourceQuota", "LimitRange"):
        if not of_kind(found, kind):
            wrong.append(f"no {kind} for the namespace")
    name = namespaces[0]["metadata"]["name"]
    wrong += [
        f"{m['kind']}/{m['metadata']['name']} is outside the namespace {name}"
        for m in found
        if m["kind"] != "Namespace" and m["metadata"].get("namespace") != name
    ]
    return wrong


def _ports(rule: Manifest) -> set[int]:
    return {port["port"] for port in rule.get("ports", [])}


def _network_problems(found: list[Manifest]) -> list[str]:
    wrong = []
    policies = of_kind(found, "NetworkPolicy")
    deny = [
        p
        for p in policies
        if p["spec"]["podSelector"] == {}
        and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    if not deny:
        wrong.append("no default-deny NetworkPolicy (ingress and egress) for the namespace")
    egress = [
        (p["spec"]["podSelector"].get("matchLabels", {}), rule)
        for p in policies
        for rule in p["spec"].get("egress", [])
    ]
    if not any(selector == {} and _ports(rule) == {53} for selector, rule in egress):
        wrong.append("no DNS egress (port 53) for the namespace's pods")
    if not any(rule_ports == {5432} for rule_ports in (_ports(rule) for _selector, rule in egress)):
        wrong.append("no egress to the database (5432)")
    if not any(_ports(rule) == {25, 465, 587} for _selector, rule in egress):
        wrong.append("no egress to SMTP relays (25, 465, 587)")
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            sources = rule.get("from", [])
            if not sources or any("ipBlock" in source for source in sources):
                wrong.append(
                    f"NetworkPolicy/{policy['metadata']['name']} lets in more than the ingress controller"
                )
            if _ports(rule) != {8000}:
                wrong.append(f"NetworkPolicy/{policy['metadata']['name']} opens more than the server's port")
    return wrong


def _pod_specs(found: list[Manifest]) -> list[tuple[str, Manifest]]:
    return [
        (f"{m['kind']}/{m['metadata']['name']}", m["spec"]["template"]["spec"])
        for m in found
        if m["kind"] in {"Deployment", "Job", "StatefulSet", "DaemonSet"}
    ]


def _pod_problems(found: list[Manifest]) -> list[str]:
    wrong = []
    accounts = {m["metadata"]["name"]: m for m in of_kind(found, "ServiceAccount")}
    wrong += [
        f"ServiceAccount/{n} mounts an API token"
        for n, a in accounts.items()
        if a.get("automountServiceAccountToken") is not False
    ]
    wrong += [
        f"{m['kind']}/{m['metadata']['name']} grants API access"
        for m in found
        if m["kind"] in {"RoleBinding", "ClusterRoleBinding", "ClusterRole"}
    ]
    for where, pod in _pod_specs(found):
        security = pod.get("securityContext", {})
        if security.get("runAsNonRoot") is not True or security.get("runAsUser", 0) == 0:
            wrong.append(f"{where} may run as root")
        if security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            wrong.append(f"{where} has no RuntimeDefault seccomp profile")
        if (
            pod.get("automountServiceAccountToken") is not False
            or pod.get("serviceAccountName") not in accounts
        ):
            wrong.append(f"{where} does not run under its own token-less ServiceAccount")
        for container in pod["containers"] + pod.get("initContainers", []):
            wrong += _container_problems(f"{where} container {container['name']}", container)
    return wrong


def _container_problems(name: str, container: Manifest) -> list[str]:
    wrong = []
    context = container.get("securityContext", {})
    if context.get("runAsUser") == 0 or context.get("runAsNonRoot") is False:
        wrong.append(f"{name} runs as root")
    if context.get("readOnlyRootFilesystem") is not True:
        wrong.append(f"{name} can write its root filesystem")
    if context.get("allowPrivilegeEscalation") is not False or context.get("privileged"):
        wrong.append(f"{name} may escalate privileges")
    if context.get("capabilities", {}).get("drop") != ["ALL"] or context.get("capabilities", {}).get("add"):
        wrong.append(f"{name} keeps capabilities")
    resources = container.get("resources", {})
    if not all(resources.get(k, {}).get(r) for k in ("requests", "limits") for r in ("cpu", "memory")):
        wrong.append(f"{name} has no CPU and memory requests and limits")
    if container["image"].endswith(":latest") or ":" not in container["image"].rsplit("/", 1)[-1]:
        wrong.append(f"{name} runs an unpinned image")
    if any(
        "value" in variable and re.search("PASSWORD|SECRET|DATABASE_URL", variable["name"])
        for variable in container.get("env", [])
    ):
        wrong.append(f"{name} has a secret value in its environment")
    args = container.get("args", [])
    if not args or args[0] not in cli.commands:
        wrong.append(f"{name} runs {args}, not a `justmaily` command")
    return wrong


def _server_problems(found: list[Manifest]) -> list[str]:
    wrong = []
    server = named(found, "Deployment", "justmaily-server")
    migration = named(found, "Job", "justmaily-migration")
    if server is None or migration is None:
        return ["the server Deployment or the migration Job is missing"]
    if migration["spec"]["template"]["spec"]["containers"][0]["args"] != ["migrate"]:
        wrong.append("the migration Job does not run `justmaily migrate`")
    container = server["spec"]["template"]["spec"]["containers"][0]
    probes = {
        kind: container.get(kind, {}).get("httpGet", {}).get("path")
        for kind in ("livenessProbe", "readinessProbe", "startupProbe")
    }
    if probes != {
        "livenessProbe": "/health/live",
        "readinessProbe": "/health/ready",
        "startupProbe": "/health/startup",
    }:
        wrong.append(f"the server's probes are {probes}")
    args = container["args"]
    workers = int(args[args.index("--workers") + 1]) if "--workers" in args else 1
    resources = container["resources"]
    if cores(resources["limits"]["cpu"]) != workers or cores(resources["requests"]["cpu"]) > workers:
        wrong.append(f"{workers} worker(s) per container want about one core each, not {resources}")
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        config = named(found, "ConfigMap", source.get("configMapRef", {}).get("name", ""))
        environment |= config["data"] if config else {}
    if environment.get("JUSTMAILY_AUTO_MIGRATE") != "false":
        wrong.append("the server would migrate on start (JUSTMAILY_AUTO_MIGRATE is not false)")
    known = {f"JUSTMAILY_{name.upper()}" for name in setting_names()} | NOT_SETTINGS
    wrong += [f"{variable} is not a JustMaily setting" for variable in environment if variable not in known]
    if server["spec"]["strategy"]["rollingUpdate"].get("maxUnavailable") != 0:
        wrong.append("a rollout may take serving pods away before new ones are ready")
    selector = server["spec"]["selector"]["matchLabels"]
    if not any(
        p["spec"]["selector"]["matchLabels"] == selector for p in of_kind(found, "PodDisruptionBudget")
    ):
        wrong.append("no PodDisruptionBudget for the server")
    scalers = [
        h
        for h in of_kind(found, "HorizontalPodAutoscaler")
        if h["spec"]["scaleTargetRef"]["name"] == "justmaily-server"
    ]
    if not scalers or scalers[0]["spec"]["minReplicas"] < 2:
        wrong.append("no HorizontalPodAutoscaler keeping at least two servers")
    rooms = [
        (ingress, path)
        for ingress in of_kind(found, "Ingress")
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
        if re.fullmatch(path["path"].rstrip("$"), "/api/campaigns/0b6e8f3c-1d2a-4c5e-9f70-123456789abc/room")
        and path["pathType"] == "ImplementationSpecific"
    ]
    annotations = rooms[0][0]["metadata"].get("annotations", {}) if rooms else {}
    if int(annotations.get("nginx.ingress.kubernetes.io/proxy-read-timeout", "0")) < 3600:
        wrong.append("no Ingress route for room WebSockets with a long read timeout")
    return wrong


def _secret_problems(found: list[Manifest]) -> list[str]:
    wrong = [
        f"Secret/{m['metadata']['name']} holds values in the manifests" for m in of_kind(found, "Secret")
    ]
    stores = {
        m["metadata"]["name"] for m in of_kind(found, "SecretStore") if m["apiVersion"] == EXTERNAL_SECRETS
    }
    external = of_kind(found, "ExternalSecret")
    targets = {m["spec"]["target"]["name"] for m in external}
    for secret in external:
        if secret["spec"]["secretStoreRef"]["name"] not in stores:
            wrong.append(f"ExternalSecret/{secret['metadata']['name']} names no SecretStore of the namespace")
        keys = [d["remoteRef"]["key"] for d in secret["spec"].get("data", [])]
        keys += [d["extract"]["key"] for d in secret["spec"].get("dataFrom", [])]
        namespace = secret["metadata"]["namespace"].removeprefix("justmaily-")
        wrong += [
            f"ExternalSecret/{secret['metadata']['name']} reads {key}, another environment's"
            for key in keys
            if not key.startswith(f"justmaily/{namespace}/")
        ]
    for where, pod in _pod_specs(found):
        for volume in pod.get("volumes", []):
            if "secret" in volume and volume["secret"]["secretName"] not in targets:
                wrong.append(
                    f"{where} mounts Secret {volume['secret']['secretName']}, which no ExternalSecret makes"
                )
    return wrong


def test_each_environment_has_every_property_the_deployment_promises(rendered: Path) -> None:
    assert problems(manifests(rendered)) == []


def _without(kind: str, name: str) -> Callable[[list[Manifest]], list[Manifest]]:
    return lambda found: [m for m in found if (m["kind"], m["metadata"]["name"]) != (kind, name)]


def _server_container(found: list[Manifest]) -> Manifest:
    server = named(found, "Deployment", "justmaily-server")
    assert server is not None
    container: Manifest = server["spec"]["template"]["spec"]["containers"][0]
    return container


def _root(found: list[Manifest]) -> list[Manifest]:
    _server_container(found)["securityContext"]["runAsUser"] = 0
    return found


def _writable(found: list[Manifest]) -> list[Manifest]:
    del _server_container(found)["securityContext"]["readOnlyRootFilesystem"]
    return found


def _no_liveness(found: list[Manifest]) -> list[Manifest]:
    del _server_container(found)["livenessProbe"]
    return found


def _two_workers_one_core(found: list[Manifest]) -> list[Manifest]:
    args = _server_container(found)["args"]
    if "--workers" in args:
        args[args.index("--workers") + 1] = "2"
    else:
        args += ["--workers", "2"]
    return found


def _auto_migrate(found: list[Manifest]) -> list[Manifest]:
    config = named(found, "ConfigMap", "justmaily-environment")
    assert config is not None
    config["data"]["JUSTMAILY_AUTO_MIGRATE"] = "true"
    return found


def _plain_secret(found: list[Manifest]) -> list[Manifest]:
    return [
        *found,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db"},
            "data": {"password": "aHVudGVyMg=="},
        },
    ]


def _open_ingress(found: list[Manifest]) -> list[Manifest]:
    policy = named(found, "NetworkPolicy", "server-from-ingress-controller")
    assert policy is not None
    policy["spec"]["ingress"][0]["from"].append({"ipBlock": {"cidr": "0.0.0.0/0"}})
    return found


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (_without("NetworkPolicy", "default-deny"), "default-deny"),
        (_without("NetworkPolicy", "allow-dns"), "DNS"),
        (_without("NetworkPolicy", "server-to-smtp"), "SMTP"),
        (_without("ResourceQuota", "justmaily"), "ResourceQuota"),
        (_without("PodDisruptionBudget", "justmaily-server"), "PodDisruptionBudget"),
        (_root, "as root"),
        (_writable, "root filesystem"),
        (_no_liveness, "probes"),
        (_two_workers_one_core, "worker"),
        (_auto_migrate, "migrate on start"),
        (_plain_secret, "holds values"),
        (_open_ingress, "more than the ingress controller"),
    ],
)
def test_the_checks_catch_an_environment_that_lost_a_property(
    rendered: Path, change: Callable[[list[Manifest]], list[Manifest]], complaint: str
) -> None:
    changed = change(copy.deepcopy(manifests(rendered)))
    assert any(complaint in problem for problem in problems(changed)), problems(changed)


def test_kubernetes_accepts_every_object_strictly(rendered: Path) -> None:
    output = run(BIN / "kubernetes-validate", "--strict", "--quiet", rendered)
    # Only the External Secrets Operator's kinds lack a schema in kubernetes-validate (CRDs);
    # their shape is checked above.
    unchecked = re.findall(r"Couldn't find schema for kind (\w+) with api version (\S+)", output)
    assert {(kind, version) for kind, version in unchecked} <= {
        ("ExternalSecret", EXTERNAL_SECRETS),
        ("SecretStore", EXTERNAL_SECRETS),
    }


def test_checkov_fails_nothing_and_every_skip_says_why(rendered: Path) -> None:
    report = run_checkov("--framework", "kubernetes", "--directory", rendered.parent)
    assert report.failed == []
    assert len(report.passed) > 100
    assert all(reason for _check, reason in report.skipped), report.skipped


def test_the_environments_hold_the_same_objects() -> None:
    """An object added to one overlay only (or patched away in one) is a drift between them."""
    objects = {
        overlay.name: {
            (m["kind"], m["metadata"]["name"])
            for m in documents(kustomize(overlay))
            if m["kind"] != "Namespace"
        }
        for overlay in OVERLAYS
    }
    assert set(objects) == {"staging", "production"}
    assert objects["staging"] == objects["production"]
