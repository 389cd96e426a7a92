"""The operator's documents: every relative link in deploy/ resolves, and the runbooks the
README promises exist."""

from __future__ import annotations

import re

from tests.deploy.tools import DEPLOY, ROOT

LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_every_relative_link_in_the_deployment_documents_resolves() -> None:
    pages = sorted(DEPLOY.rglob("*.md"))
    assert len(pages) >= 6
    for page in pages:
        for target in LINK.findall(page.read_text()):
            if "://" in target:
                continue
            assert (page.parent / target).resolve().exists(), f"{page.relative_to(ROOT)}: {target}"


def test_the_runbooks_folder_has_deployment_rollback_troubleshooting_and_room_for_alerts() -> None:
    runbooks = DEPLOY / "runbooks"
    for name in ("deploy.md", "rollback.md", "troubleshooting.md", "alerts/README.md"):
        assert (runbooks / name).is_file(), name
    assert "expand" in (runbooks / "deploy.md").read_text().lower()
