"""The server image (deploy/container/Dockerfile), checked without a Docker engine: hadolint,
checkov, and the properties the deployment relies on, read from the file itself."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable

import pytest

from justmaily.server.cli import cli
from tests.deploy.tools import BIN, DEPLOY, ROOT, Instruction, dockerfile, run, run_checkov

DOCKERFILE = DEPLOY / "container" / "Dockerfile"
SECRET_NAMES = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE|_KEY\b|DATABASE_URL", re.IGNORECASE)


def instructions() -> list[Instruction]:
    return dockerfile(DOCKERFILE.read_text())


def runtime_stage(found: list[Instruction]) -> list[Instruction]:
    last = max(instruction.stage for instruction in found)
    return [instruction for instruction in found if instruction.stage == last]


def problems(found: list[Instruction]) -> list[str]:
    """What is wrong with an image definition for our deployments (empty: nothing)."""
    wrong: list[str] = []
    stages = [instruction for instruction in found if instruction.keyword == "FROM"]
    if len(stages) < 2:
        wrong.append("not multi-stage: the runtime stage must not carry the build tools")
    for stage in stages:
        image = stage.arguments.split()[0]
        tag = image.partition(":")[2]
        if "@sha256:" not in image and (not re.search(r"\d", tag) or tag.startswith("latest")):
            wrong.append(f"base image {image} is pinned neither by digest nor by a version tag")
    runtime = runtime_stage(found)
    users = [instruction.arguments for instruction in runtime if instruction.keyword == "USER"]
    if not users or users[-1].split(":")[0] in {"0", "root"} or not users[-1].split(":")[0].isdigit():
        wrong.append("the runtime stage must end as a numeric non-root USER (runAsNonRoot checks it)")
    health = [instruction.arguments for instruction in runtime if instruction.keyword == "HEALTHCHECK"]
    if not health or "/health/live" not in health[-1]:
        wrong.append("no HEALTHCHECK on /health/live")
    volumes = " ".join(instruction.arguments for instruction in runtime if instruction.keyword == "VOLUME")
    if "/var/lib/justmaily" not in volumes or "/tmp" not in volumes:
        wrong.append("the data folder and /tmp must be volumes (the root filesystem is read-only)")
    for instruction in found:
        if instruction.keyword == "ADD":
            wrong.append(f"ADD {instruction.arguments}: use COPY (ADD fetches URLs and unpacks archives)")
        if instruction.keyword in {"ENV", "ARG"} and SECRET_NAMES.search(instruction.arguments):
            wrong.append(f"{instruction.keyword} {instruction.arguments}: a secret baked into the image")
        if instruction.keyword == "COPY" and re.search(r"\.env\b|\.pem\b|\.key\b", instruction.arguments):
            wrong.append(f"COPY {instruction.arguments}: key material copied into the image")
    if any(
        instruction.keyword == "RUN" and "pip install" in instruction.arguments for instruction in runtime
    ):
        wrong.append("the runtime stage installs packages: build them in the build stage")
    return wrong


def test_the_dockerfile_has_every_property_the_deployment_needs() -> None:
    assert problems(instructions()) == []


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda text: text.replace("USER 10001:10001", "USER root"), "non-root USER"),
        (lambda text: re.sub(r"(?ms)^HEALTHCHECK.*?\n(?=ENTRYPOINT)", "", text), "HEALTHCHECK"),
        (
            lambda text: text.replace("python:3.11.14-slim-bookworm AS runtime", "python:latest AS runtime"),
            "pinned",
        ),
        (lambda text: text + "ENV JUSTMAILY_DB_PASSWORD=hunter2\n", "secret baked"),
        (lambda text: text + "ADD https://example.com/x.tar.gz /opt/\n", "use COPY"),
        (lambda text: text + "COPY .env /etc/justmaily/.env\n", "key material"),
    ],
)
def test_the_checks_catch_an_image_that_lost_a_property(change: Callable[[str], str], complaint: str) -> None:
    changed = change(DOCKERFILE.read_text())
    assert any(complaint in problem for problem in problems(dockerfile(changed)))


def test_hadolint_finds_nothing() -> None:
    report = json.loads(
        run(BIN / "hadolint", "--format", "json", "--failure-threshold", "style", DOCKERFILE) or "[]"
    )
    assert report == []


def test_checkov_passes_the_dockerfile() -> None:
    report = run_checkov("--framework", "dockerfile", "--file", DOCKERFILE)
    assert report.failed == []
    assert report.passed


def test_the_image_runs_commands_the_cli_has() -> None:
    runtime = runtime_stage(instructions())
    entrypoint = json.loads(next(i.arguments for i in runtime if i.keyword == "ENTRYPOINT"))
    command = json.loads(next(i.arguments for i in runtime if i.keyword == "CMD"))
    assert entrypoint == ["justmaily"]
    assert command[0] in cli.commands
    # The container's port is reached from outside it; the banner's own default is loopback.
    assert command[command.index("--host") + 1] == "0.0.0.0"  # noqa: S104
    assert command[command.index("--port") + 1] == "8000"


def test_what_the_image_copies_exists_and_the_context_lets_it_in() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("**")] == "**"  # everything out, then the few folders back in
    for instruction in instructions():
        if instruction.keyword != "COPY" or instruction.arguments.startswith("--from"):
            continue
        *sources, _target = shlex.split(instruction.arguments)
        for source in sources:
            assert (ROOT / source).exists(), source
            assert f"!{source.rstrip('/')}" in {line.rstrip("/") for line in ignore}, source
