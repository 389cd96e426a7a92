"""The trust log's pyqtgraph views, real widgets offscreen, fed with a small real Merkle tree."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from pytestqt.qtbot import QtBot

from justmaily.shared.trust import (
    CampaignCertificate,
    CertificateStatus,
    EntryKind,
    InclusionProof,
    LogEntry,
    TreeHead,
)
from justmaily.shared.verify.transparency import inclusion_proof, root_hash
from justmaily.visualizations.trust_log import (
    ALARM_COLOUR,
    HEAD_COLOUR,
    MATCH_COLOUR,
    STATUS_COLOURS,
    CertificateStatuses,
    InclusionPath,
    TreeHeadChain,
    inclusion_path,
)

START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
LEAVES = [msgspec.json.encode({"kind": "approval", "n": n}, order="sorted") for n in range(7)]


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def head(size: int, minutes: int = 0, leaves: list[bytes] = LEAVES) -> TreeHead:
    root = root_hash(leaves[:size])
    return TreeHead(
        size=size,
        root_hash=b64(root),
        checkpoint="(not read here)",
        published_at=START + timedelta(minutes=minutes),
    )


def entry(index: int) -> LogEntry:
    leaf = LEAVES[index]
    return LogEntry(
        index=index, kind=EntryKind.APPROVAL, leaf=b64(leaf), data=msgspec.json.decode(leaf), created_at=START
    )


def proof(index: int, size: int) -> InclusionProof:
    hashes = inclusion_proof(LEAVES[:size], index)
    return InclusionProof(index=index, tree_size=size, hashes=[b64(h) for h in hashes])


def colours(scatter: object) -> list[str]:
    return [spot.brush().color().name() for spot in scatter.points()]  # type: ignore[attr-defined]


def test_the_chain_has_a_point_per_head_with_its_size_and_root_in_the_tooltip(qtbot: QtBot) -> None:
    chain = TreeHeadChain()
    qtbot.addWidget(chain)
    heads = [head(1), head(3, 1), head(7, 2)]
    chain.show_chain(heads)
    spots = chain.points.points()
    assert [spot.pos().y() for spot in spots] == [1, 3, 7]
    assert set(colours(chain.points)) == {HEAD_COLOUR}
    assert f"size 7\nroot {heads[2].root_hash}" in spots[2].data()
    assert not chain.is_empty()
    assert chain.alarm.isHidden()
    assert len(chain.alarm_point.points()) == 0
    assert not chain.grab().isNull()


def test_a_fork_is_drawn_in_red_with_its_reason(qtbot: QtBot) -> None:
    chain = TreeHeadChain()
    qtbot.addWidget(chain)
    forged = head(3, 3, leaves=[b"other"] * 7)
    chain.show_chain(
        [head(1), head(3, 1)], alarm="Two different roots for the same 3 entries", alarm_head=forged
    )
    assert colours(chain.alarm_point) == [ALARM_COLOUR]
    assert chain.alarm_point.points()[0].pos().y() == 3
    assert "Not accepted: Two different roots" in chain.alarm_point.points()[0].data()
    assert chain.alarm.text() == "Fork: Two different roots for the same 3 entries"
    assert not chain.alarm.isHidden()
    assert chain.alarm_text.toPlainText().startswith("Two different roots")
    # A fork without a head (garbage instead of one) still says why, in words.
    chain.show_chain([], alarm="The server sent a tree head this app cannot read")
    assert chain.is_empty()
    assert not chain.alarm.isHidden()
    assert len(chain.alarm_point.points()) == 0


def test_an_empty_chain_says_so(qtbot: QtBot) -> None:
    chain = TreeHeadChain()
    qtbot.addWidget(chain)
    chain.show_chain([])
    assert chain.is_empty()
    assert chain.empty.text() == "No verified tree heads yet"
    assert not chain.grab().isNull()


@pytest.mark.parametrize(("index", "size"), [(0, 1), (2, 7), (6, 7), (4, 5)])
def test_the_inclusion_path_climbs_from_the_leaf_to_the_signed_root(
    qtbot: QtBot, index: int, size: int
) -> None:
    view = InclusionPath()
    qtbot.addWidget(view)
    assert view.is_empty()
    assert view.show_path(entry(index), proof(index, size), head(size))
    nodes = inclusion_path(entry(index), proof(index, size))
    assert nodes is not None
    siblings = [n for n in nodes if n.role == "sibling"]
    assert len(siblings) == len(proof(index, size).hashes)
    assert nodes[-1].role == "root"
    assert nodes[-1].digest == root_hash(LEAVES[:size])
    assert len(view.nodes.points()) == len(nodes)
    assert len(view.labels) == len(nodes)
    assert view.labels[-1].toPlainText() == f"root {root_hash(LEAVES[:size]).hex()[:8]}"
    assert colours(view.nodes)[-1] == MATCH_COLOUR
    assert "leads to the signed root" in view.caption.text()
    assert not view.grab().isNull()


def test_a_path_that_misses_the_signed_root_is_red(qtbot: QtBot) -> None:
    view = InclusionPath()
    qtbot.addWidget(view)
    # A proof for 4 entries checked against the head of 5 (the wrong tree size).
    assert not view.show_path(entry(0), proof(0, 4), head(5))
    assert colours(view.nodes)[-1] == ALARM_COLOUR
    assert "does NOT lead" in view.caption.text()
    # A proof that cannot be followed at all.
    broken = InclusionProof(index=0, tree_size=5, hashes=["not base64!"])
    assert not view.show_path(entry(0), broken, head(5))
    assert view.is_empty()
    assert "cannot be followed" in view.caption.text()


def certificate(status: CertificateStatus, revision: int) -> CampaignCertificate:
    return CampaignCertificate(
        serial=f"{revision:02x}" * 8,
        campaign_id=uuid.uuid4(),
        revision=revision,
        content_hash="00" * 32,
        approvers=[uuid.uuid4()],
        approved_at=START,
        log_index=revision,
        not_before=START,
        not_after=START + timedelta(days=30),
        status=status,
        pem="-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
        revoked_at=START + timedelta(days=2) if status is CertificateStatus.REVOKED else None,
    )


def test_certificates_are_coloured_by_status_with_a_legend(qtbot: QtBot) -> None:
    view = CertificateStatuses()
    qtbot.addWidget(view)
    assert view.is_empty()
    view.show_certificates(
        [
            certificate(CertificateStatus.VALID, 1),
            certificate(CertificateStatus.VALID, 2),
            certificate(CertificateStatus.REVOKED, 3),
            certificate(CertificateStatus.EXPIRED, 4),
        ]
    )
    assert not view.is_empty()
    assert view.counts() == {
        CertificateStatus.VALID: 2,
        CertificateStatus.REVOKED: 1,
        CertificateStatus.EXPIRED: 1,
    }
    for status, bar in view.bars.items():
        assert bar.opts["pen"].color().name() == STATUS_COLOURS[status]
    assert [label.text for _sample, label in view.legend.items] == ["valid", "revoked", "expired"]
    revoked = view.bars[CertificateStatus.REVOKED]
    assert revoked.xData[1] == (START + timedelta(days=2)).timestamp()  # cut at the revocation
    ticks = view.plot.getAxis("left")._tickLevels[0]
    assert ticks[2] == (2, "r3 · 03030303")
    assert not view.grab().isNull()
    view.show_certificates([])
    assert view.is_empty()
