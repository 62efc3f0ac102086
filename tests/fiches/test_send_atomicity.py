"""Signing and sending are all or nothing: a crash between any two of their steps, in a unit of
work that therefore rolls back, leaves the fiche as it was and the documents, the key wraps and
the blob folder exactly as they were. Signing is where the fiche is sealed for both parties;
sending releases it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from exchange.acting import Context
from exchange.fiches import sending, signing
from exchange.fiches.models import Fiche
from exchange.policy import visible_fiche
from tests.fiches.support import acting_as, fiche_state, prepare, snapshot


class Crash(Exception):
    pass


Step = Callable[[Context, Fiche, Callable[[str], None]], None]


def _sign(ctx: Context, fiche: Fiche, fault: Callable[[str], None]) -> None:
    signing.sign(ctx, fiche, fault=fault)


def _send(ctx: Context, fiche: Fiche, fault: Callable[[str], None]) -> None:
    sending.send(ctx, fiche, fault=fault)


def _steps(app: Flask, fiche: str, use_case: Step) -> list[str]:
    """The steps a use case goes through, found by running one that crashes at its end."""
    seen: list[str] = []

    def watch(step: str) -> None:
        seen.append(step)

    with pytest.raises(Crash), acting_as(app, "ts.montauban") as ctx:
        use_case(ctx, visible_fiche(ctx.session, ctx.agent, fiche), watch)
        raise Crash("end")
    return seen


def _crash_at_each_step(app: Flask, fiche: str, use_case: Step, state: str) -> list[str]:
    before = snapshot(app, fiche)
    steps = _steps(app, fiche, use_case)
    assert snapshot(app, fiche) == before
    for index, name in enumerate(steps):
        calls = 0

        def fault(step: str, at: int = index) -> None:
            nonlocal calls
            calls += 1
            if calls == at + 1:
                raise Crash(step)

        with pytest.raises(Crash), acting_as(app, "ts.montauban") as ctx:
            use_case(ctx, visible_fiche(ctx.session, ctx.agent, fiche), fault)
        assert fiche_state(app, fiche) == state, name
        assert snapshot(app, fiche) == before, f"crash at step {index} ({name})"
    return steps


def test_a_crash_at_each_step_of_signing_leaves_the_draft_as_before(app: Flask) -> None:
    prepared = prepare(app, sign=False)
    steps = _crash_at_each_step(app, prepared.fiche, _sign, "draft")
    assert {"sealed content", "sealed pdf", "sealed attachment", "audited"} <= set(steps)
    with acting_as(app, "ts.montauban") as ctx:
        signing.sign(ctx, visible_fiche(ctx.session, ctx.agent, prepared.fiche))
    assert fiche_state(app, prepared.fiche) == "signed"


def test_a_crash_at_each_step_of_sending_leaves_everything_as_before(app: Flask) -> None:
    prepared = prepare(app)
    before = snapshot(app, prepared.fiche)
    steps = _crash_at_each_step(app, prepared.fiche, _send, "countersigned")
    assert steps[0] == "checked" and steps[-2:] == ["audited", "notified"]
    # The fiche is intact: sending it for real still works, and changes what it should.
    with acting_as(app, "ts.montauban") as ctx:
        sending.send(ctx, visible_fiche(ctx.session, ctx.agent, prepared.fiche))
    after = snapshot(app, prepared.fiche)
    assert fiche_state(app, prepared.fiche) == "sent"
    assert after["fiche"] != before["fiche"] and after["notifications"] > before["notifications"]
    assert after["person_units"] != before["person_units"]
    assert after["documents"] == before["documents"]
