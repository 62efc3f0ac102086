"""A send is all or nothing: a crash between any two of its steps, in a unit of work that
therefore rolls back, leaves the fiche signed and the documents, the key wraps and the blob
folder exactly as they were."""

from __future__ import annotations

import pytest
from flask import Flask

from exchange.fiches import sending
from exchange.policy import visible_fiche
from tests.fiches.support import acting_as, fiche_state, prepare, snapshot


class Crash(Exception):
    pass


def _steps(app: Flask, fiche: str) -> list[str]:
    """The steps a send goes through, found by running one that crashes at its very end."""
    seen: list[str] = []

    def watch(step: str) -> None:
        seen.append(step)
        if step == "notified":
            raise Crash(step)

    with pytest.raises(Crash), acting_as(app, "ts.montauban") as ctx:
        sending.send(ctx, visible_fiche(ctx.session, ctx.user, fiche), fault=watch)
    return seen


def test_a_crash_at_each_step_of_sending_leaves_everything_as_before(app: Flask) -> None:
    prepared = prepare(app)
    before = snapshot(app, prepared.fiche)
    steps = _steps(app, prepared.fiche)
    assert steps[0] == "checked" and steps[-2:] == ["audited", "notified"]
    assert {"sealed content", "sealed pdf", "sealed attachment"} <= set(steps)
    assert snapshot(app, prepared.fiche) == before

    for index, name in enumerate(steps):
        calls = 0

        def fault(step: str, at: int = index) -> None:
            nonlocal calls
            calls += 1
            if calls == at + 1:
                raise Crash(step)

        with pytest.raises(Crash), acting_as(app, "ts.montauban") as ctx:
            sending.send(ctx, visible_fiche(ctx.session, ctx.user, prepared.fiche), fault=fault)
        assert fiche_state(app, prepared.fiche) == "countersigned", name
        assert snapshot(app, prepared.fiche) == before, f"crash at step {index} ({name})"

    # The fiche is intact: sending it for real still works, and changes what it should.
    with acting_as(app, "ts.montauban") as ctx:
        sending.send(ctx, visible_fiche(ctx.session, ctx.user, prepared.fiche))
    after = snapshot(app, prepared.fiche)
    assert fiche_state(app, prepared.fiche) == "sent"
    assert after["blobs"] != before["blobs"] and after["key_wraps"] != before["key_wraps"]
    assert len(after["documents"]) == len(before["documents"])
