"""The global role x endpoint matrix: every URL rule of the app, every method it accepts, visited
by an anonymous browser and by each actor class (see `support.ACTORS`), with URL arguments that
are real objects of ts.montauban's unit, then with unknown ids. The expected answer of every
cell is written down in EXPECTED; a rule the table does not know fails the test. Every answer
carries the security headers.

The per-blueprint matrices (tests/persons, tests/rights, tests/web/test_admin_screens) check
finer cases (forms, audit of refusals); this one is the net under the whole URL map. POSTs carry
a valid CSRF token of the actor's own session and no other field, so they exercise
authorisation, not CSRF. Visits run in a fixed order; the few POSTs that act with no field
(withdraw a consent, renew, disable an account) only ever hit objects no later cell needs in
their previous state.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from exchange.domain.clock import FixedClock
from tests.conftest import START, csrf_token
from tests.security.support import (
    ACTORS,
    Objects,
    build_objects,
    copy_instance,
    module_app,
    signed_in,
)

pytestmark = pytest.mark.slow  # the inner loop is `pytest -m "not slow"`

EVERYONE = tuple(ACTORS)
PERSONS = ("owner", "manager", "recipient", "other_unit", "other_institution")


def only(allowed: dict[str, int], refused: int = 403, anonymous: int = 302) -> dict[str, int]:
    """Answers for a rule reserved to some actor classes: the others get ``refused``."""
    table = {actor: refused for actor in EVERYONE}
    table["anonymous"] = anonymous
    table.update(allowed)
    return table


def everyone(status: int, **overrides: int) -> dict[str, int]:
    return {**{actor: status for actor in EVERYONE}, **overrides}


def persons_side(owner: int, manager: int, recipient: int, stranger: int = 404) -> dict[str, int]:
    """Rules of the person/fiche/accompaniment blueprints: the three Montauban actors see the
    objects (each with their role's answer), the two strangers get 404, other roles 403."""
    return only({"owner": owner, "manager": manager, "recipient": recipient,
                 "other_unit": stranger, "other_institution": stranger})


def role(name: str, status: int) -> dict[str, int]:
    return only({name: status})


# "METHOD endpoint" -> expected status per actor class, with the real objects. POSTs carry only
# a CSRF token: 400/422 = the form was refused after authorisation passed; 303 = a fiche or
# accompaniment transition refused by the state machine (the fiche is already accepted) and sent
# back to its page; 302 = done or redirected.

EXPECTED: dict[str, dict[str, int]] = {
    # Public: sign-in, health, static files.
    "GET auth.login": everyone(302, anonymous=200),          # signed in: back home
    "POST auth.login": everyone(302, anonymous=200),         # anonymous: form errors shown
    "GET auth.second_factor": everyone(302),
    "POST auth.second_factor": everyone(302),
    "GET auth.enrol": everyone(302),
    "POST auth.enrol": everyone(302),
    "GET auth.change_password": everyone(200, anonymous=302),
    "POST auth.change_password": everyone(200, anonymous=302),
    "POST auth.logout": everyone(302),
    "GET health.liveness": everyone(200),
    "GET health.readiness_view": everyone(200),
    "GET static": everyone(200),
    "GET home.index": everyone(200, anonymous=302),
    # Role homes.
    "GET social.index": only({"owner": 200, "other_institution": 200}),
    "GET advisor.index": only({"recipient": 200, "other_unit": 200}),
    "GET manager.index": role("manager", 200),
    "GET unit_indicators.unit_indicators": role("manager", 200),
    "GET unit_indicators.unit_export": role("manager", 200),
    "GET coordinator.index": role("coordinator", 200),
    "GET coordinator.convention": role("coordinator", 200),
    "GET coordinator.annual": role("coordinator", 200),
    "GET coordinator.convention_export": role("coordinator", 200),
    "GET coordinator.export": role("coordinator", 200),
    # Persons: the manager reads only; the recipient agency shares the person once sent.
    "GET persons.search": persons_side(200, 200, 200, stranger=200),
    "POST persons.search": persons_side(400, 400, 400, stranger=400),
    "GET persons.create": persons_side(200, 403, 200, stranger=200),
    "POST persons.create": persons_side(400, 403, 400, stranger=400),
    "GET persons.notice_css": persons_side(200, 200, 200, stranger=200),
    "GET persons.show": persons_side(200, 200, 200),
    "GET persons.rectify": persons_side(200, 403, 403),  # identity stays with its unit
    "POST persons.rectify": persons_side(400, 403, 403),
    "GET persons.consent_new": persons_side(200, 403, 200),
    "POST persons.consent_new": persons_side(400, 403, 400),
    "GET persons.consent_form": persons_side(200, 200, 404),  # the scan stays with its unit
    "GET persons.notice": persons_side(200, 200, 200),
    "GET persons.consent_withdraw": persons_side(200, 403, 200),
    "POST persons.consent_withdraw": persons_side(302, 403, 302),
    # Fiches: the sender unit and the recipient unit see the fiche; drafts belong to the sender.
    "GET fiches.received": persons_side(200, 200, 200, stranger=200),
    "GET fiches.outgoing": persons_side(200, 200, 200, stranger=200),
    "GET fiches.new": persons_side(200, 403, 200),  # a manager countersigns, not writes
    "POST fiches.new": persons_side(422, 403, 422),
    "GET fiches.show": persons_side(200, 200, 200),
    "GET fiches.pdf": persons_side(200, 200, 200),
    "GET fiches.attachment": persons_side(200, 200, 200),
    "GET fiches.edit": persons_side(303, 303, 303),
    "POST fiches.save": persons_side(409, 409, 403),
    "POST fiches.attach": persons_side(303, 303, 403),
    "POST fiches.detach": persons_side(303, 303, 403),
    "POST fiches.countersign": persons_side(303, 303, 303),
    "POST fiches.send": persons_side(303, 303, 303),
    "POST fiches.recall": persons_side(303, 303, 303),
    "POST fiches.cancel": persons_side(303, 303, 303),
    "POST fiches.acknowledge": persons_side(303, 303, 303),
    "POST fiches.accept": persons_side(303, 303, 303),
    "POST fiches.decline": persons_side(303, 303, 303),
    # Rectification: a professional of the sending unit signs a new version (the manager does
    # not author, the recipient reads); a replaced version is read by both parties, and the
    # version in force (1 here) is the fiche's own page.
    "GET fiches.rectify_form": persons_side(200, 403, 403),
    "POST fiches.rectify": persons_side(422, 403, 403),
    "GET fiches.version": persons_side(303, 303, 303),
    "GET fiches.version_pdf": persons_side(303, 303, 303),
    # Accompaniments: both units of the pair read; the pair itself records (not the manager).
    "GET accompaniments.index": persons_side(200, 200, 200, stranger=200),
    "GET accompaniments.show": persons_side(200, 200, 200),
    "POST accompaniments.entry": persons_side(422, 403, 422),
    "POST accompaniments.midterm": persons_side(422, 403, 422),
    "POST accompaniments.renew": persons_side(303, 403, 303),
    "POST accompaniments.close": persons_side(422, 403, 422),
    # Conservation: referents see their unit's items; reports and holds are the DPO's.
    "GET retention.index": only({"owner": 200, "manager": 200, "recipient": 200,
                                 "other_unit": 200, "other_institution": 200, "dpo": 200}),
    "POST retention.mark": only({"owner": 404, "recipient": 404, "other_unit": 404,
                                 "other_institution": 404}),
    "GET retention.report_list": role("dpo", 200),
    "GET retention.report_download": role("dpo", 200),
    "GET retention.hold_list": role("dpo", 200),
    "POST retention.hold_list": role("dpo", 200),
    "POST retention.hold_lift": role("dpo", 302),
    # DPO: audit trail and data-subject rights.
    "GET dpo.dpo_index": role("dpo", 200),
    "GET dpo.search": role("dpo", 200),
    "POST dpo.search": role("dpo", 200),
    "POST dpo.export_csv": role("dpo", 200),
    "POST dpo.take_checkpoint": role("dpo", 302),
    "GET dpo.download_checkpoint": role("dpo", 200),
    "POST dpo.verify_chain": role("dpo", 302),
    "GET dpo_grants.role_grants": role("dpo", 200),
    "GET rights.index": role("dpo", 200),
    "GET rights.new_request": role("dpo", 200),
    "POST rights.new_request": role("dpo", 200),
    "GET rights.request_page": role("dpo", 200),
    "POST rights.update_request": role("dpo", 302),
    "POST rights.attach": role("dpo", 302),
    "POST rights.access_export": role("dpo", 302),
    "GET rights.rectify": role("dpo", 302),
    "POST rights.rectify": role("dpo", 200),
    "POST rights.restriction": role("dpo", 302),
    "POST rights.erase": role("dpo", 302),
    "POST rights.transmit": role("dpo", 302),  # nobody to pass it on to: refused, back
    "POST rights.fiche_rectification": role("dpo", 302),  # an access request: refused, back
    "GET rights.register": role("dpo", 200),
    "GET rights.breaches": role("dpo", 200),
    "GET rights.new_breach": role("dpo", 200),
    "POST rights.new_breach": role("dpo", 200),
    "GET rights.breach_page": role("dpo", 404),  # no breach recorded: never a real id
    "POST rights.breach_page": role("dpo", 404),
    # Administration.
    **{f"GET admin.{name}": role("admin", 200) for name in (
        "index", "users", "user", "user_edit", "user_reset_password", "user_new",
        "conventions", "convention", "convention_amend", "convention_edit", "convention_new",
        "institutions", "institution", "institution_edit", "institution_new", "unit_new",
        "unit_edit")},
    **{f"POST admin.{name}": role("admin", 400) for name in (
        "user_edit", "user_reset_password", "user_new", "convention_amend", "convention_edit",
        "convention_new", "institution_edit", "institution_new", "unit_new", "unit_edit")},
    **{f"POST admin.{name}": role("admin", 302) for name in (
        "user_disable", "user_enable", "user_reset_second_factor")},
}

# Unknown ids (rules with arguments only): where the answer is not "the same as with real objects
# for the anonymous browser and for refused roles, 404 for everyone else".
UNKNOWN: dict[str, dict[str, int]] = {
    # Only the sender edits a draft: with a real id the recipient is refused (403); with an
    # unknown id there is nothing to be refused from.
    "POST fiches.save": {"recipient": 404},
    "GET persons.rectify": {"recipient": 404},
    "POST persons.rectify": {"recipient": 404},
    "POST fiches.attach": {"recipient": 404},
    "POST fiches.detach": {"recipient": 404},
    "GET fiches.rectify_form": {"recipient": 404},
    "POST fiches.rectify": {"recipient": 404},
    "GET static": {"anonymous": 404},
    # The form is checked before the request is looked up; the empty form sends the DPO back to
    # the request page, which answers 404.
    "POST rights.attach": {"dpo": 302},
    "POST rights.erase": {"dpo": 302},
}

# Visited last for each actor (it ends the session).
LAST = ("POST auth.logout",)


def rules(app: Flask) -> list[tuple[str, Rule]]:
    cells = [(f"{method} {rule.endpoint}", rule) for rule in app.url_map.iter_rules()
             for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return sorted(cells, key=lambda cell: (cell[0] in LAST, cell[0]))


def arguments(rule: Rule, objects: Objects, *, unknown: bool) -> dict[str, Any]:
    endpoint = rule.endpoint
    if unknown:
        missing = "f" * 32
        values: dict[str, Any] = {
            "pid": missing, "cid": missing, "doc": missing, "rid": missing, "bid": missing,
            "recipient": missing, "version": "9", "axis": 9, "fmt": "pdf",
            "checkpoint_id": 999_999, "year": 2026, "filename": "absent.css"}
        return {name: values[name] for name in rule.arguments}
    pids = {
        "fiches.new": objects.person, "persons.": objects.person, "fiches.": objects.fiche,
        "accompaniments.": objects.accompaniment, "admin.user": objects.user,
        "admin.institution": objects.institution, "admin.unit_new": objects.institution,
        "admin.unit_edit": objects.unit, "admin.convention": objects.convention,
        "coordinator.": objects.convention, "retention.report": objects.report,
        "rights.fiche_rectification": objects.fiche,
    }
    pid = next((value for prefix, value in pids.items() if endpoint.startswith(prefix)), None)
    values = {
        "pid": pid, "cid": objects.consent, "doc": objects.attachment,
        "rid": objects.rights_request, "bid": "0" * 32, "recipient": objects.recipient,
        "version": "1", "axis": 2, "fmt": "pdf", "checkpoint_id": objects.checkpoint,
        "year": START.year, "filename": "liaison.css"}
    found = {name: values[name] for name in rule.arguments}
    assert None not in found.values(), (endpoint, found)
    return found


def check_headers(response: Any, cell: str) -> None:
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp, cell
    assert headers.get("X-Content-Type-Options") == "nosniff", cell
    assert headers.get("Referrer-Policy") == "same-origin", cell
    if not cell.endswith(" static"):  # static files, found or not, may be cached
        assert headers.get("Cache-Control") == "no-store", (cell, headers.get("Cache-Control"))


@pytest.fixture(scope="module")
def world(template_instance: Path, tmp_path_factory: pytest.TempPathFactory,
          ) -> Iterator[tuple[Flask, FixedClock, Objects]]:
    clock = FixedClock(START)
    for instance in copy_instance(template_instance,
                                  tmp_path_factory.mktemp("matrix") / "instance"):
        app = module_app(instance, clock)
        try:
            yield app, clock, build_objects(app, clock)
        finally:
            app.extensions["liaison"].db.dispose()


def visit(client: FlaskClient, token: str, method: str, path: str) -> Any:
    data = {"csrf_token": token} if method == "POST" else None
    return client.open(path, method=method, data=data)


def observe(app: Flask, clock: FixedClock, objects: Objects, *, unknown: bool,
            ) -> dict[str, dict[str, int]]:
    """Every cell, actor by actor (anonymous first, the administrator last)."""
    seen: dict[str, dict[str, int]] = {}
    cells = [(name, rule, rule.build(arguments(rule, objects, unknown=unknown),
                                     append_unknown=False)[1])
             for name, rule in rules(app) if rule.arguments or not unknown]
    for actor, username in ACTORS.items():
        clock.advance(timedelta(minutes=1))
        if username is None:  # an anonymous browser still has a session and a token
            client = app.test_client()
            token = csrf_token(client, "/connexion/")
        else:
            client = signed_in(app, username, clock)
            token = csrf_token(client, "/")
        for name, _rule, path in cells:
            response = visit(client, token, name.split()[0], path)
            check_headers(response, name)
            assert b"Traceback" not in response.data, (actor, name)
            response.close()
            seen.setdefault(name, {})[actor] = response.status_code
    return seen


def unknown_expected(name: str) -> dict[str, int]:
    known = EXPECTED[name]
    table = {actor: status if actor == "anonymous" or status == 403 else 404
             for actor, status in known.items()}
    return {**table, **UNKNOWN.get(name, {})}


def differences(expected: dict[str, dict[str, int]], seen: dict[str, dict[str, int]]) -> str:
    lines = [f"{name}: expected {expected.get(name)}, got {seen[name]}"
             for name in sorted(seen) if expected.get(name) != seen[name]]
    return "\n".join(lines)


def test_every_rule_and_method_has_an_entry(world: tuple[Flask, FixedClock, Objects]) -> None:
    app, _, _ = world
    assert {name for name, _ in rules(app)} == set(EXPECTED)
    assert set(UNKNOWN) <= set(EXPECTED)
    assert all(set(row) == set(EVERYONE) for row in EXPECTED.values())


def test_every_cell_with_real_objects(world: tuple[Flask, FixedClock, Objects]) -> None:
    seen = observe(*world, unknown=False)
    assert not differences(EXPECTED, seen), "\n" + differences(EXPECTED, seen)


def test_every_cell_with_unknown_ids(world: tuple[Flask, FixedClock, Objects]) -> None:
    app, clock, objects = world
    seen = observe(app, clock, objects, unknown=True)
    expected = {name: unknown_expected(name) for name in seen}
    assert not differences(expected, seen), "\n" + differences(expected, seen)
