"""Role x endpoint matrix of the persons blueprint: every rule, visited by every demo account
(own unit, same institution, other units, roles without persons), with the answer written
down. A new rule of the blueprint must join the matrix."""

from __future__ import annotations

import io

import pytest
from flask import Flask
from sqlalchemy import select

from exchange.domain.clock import FixedClock
from exchange.org.models import Institution
from exchange.persons.models import Consent
from tests.conftest import csrf_token, login

from .conftest import create_person, make_pdf

pytestmark = pytest.mark.slow  # the inner loop is `pytest -m "not slow"`

OWN, MANAGER = "ts.montauban", "rmds.montauban"
OTHER_UNITS = ("cft.montauban", "ts.lodeve", "cft.clermont")
NO_PERSONS = ("admin", "dpo.departement", "cm.francetravail")
USERS = (OWN, MANAGER, *OTHER_UNITS, *NO_PERSONS)


def _expected(user: str, *, own: int, manager: int, other: int) -> int:
    if user in NO_PERSONS:
        return 403
    return {OWN: own, MANAGER: manager}.get(user, other)


# (method, rule, url, answers for: the creating social worker, their unit manager, the
# users of other units). Posts carry a valid CSRF token and no other field.
MATRIX = [
    ("GET", "/personnes/", "/personnes/", (200, 200, 200)),
    ("POST", "/personnes/", "/personnes/", (400, 400, 400)),
    ("GET", "/personnes/nouvelle", "/personnes/nouvelle", (200, 403, 200)),
    ("POST", "/personnes/nouvelle", "/personnes/nouvelle", (400, 403, 400)),
    ("GET", "/personnes/notice.css", "/personnes/notice.css", (200, 200, 200)),
    ("GET", "/personnes/<pid>", "/personnes/{pid}", (200, 200, 404)),
    ("GET", "/personnes/<pid>/identite", "/personnes/{pid}/identite", (200, 403, 404)),
    ("POST", "/personnes/<pid>/identite", "/personnes/{pid}/identite", (400, 403, 404)),
    ("GET", "/personnes/<pid>/consentements/nouveau", "/personnes/{pid}/consentements/nouveau",
     (200, 403, 404)),
    ("POST", "/personnes/<pid>/consentements/nouveau", "/personnes/{pid}/consentements/nouveau",
     (400, 403, 404)),
    ("GET", "/personnes/<pid>/consentements/<cid>/formulaire",
     "/personnes/{pid}/consentements/{cid}/formulaire", (200, 200, 404)),
    ("GET", "/personnes/<pid>/notice/<version>/<recipient>/<int:axis>",
     "/personnes/{pid}/notice/1/{recipient}/2", (200, 200, 404)),
    ("GET", "/personnes/<pid>/consentements/<cid>/retrait",
     "/personnes/{pid}/consentements/{cid}/retrait", (200, 403, 404)),
    ("POST", "/personnes/<pid>/consentements/<cid>/retrait",
     "/personnes/{pid}/consentements/{cid}/retrait", (302, 403, 404)),
]


def test_every_rule_of_the_blueprint_is_in_the_matrix(app: Flask) -> None:
    rules = {(method, rule.rule) for rule in app.url_map.iter_rules()
             if rule.endpoint.startswith("persons.")
             for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert rules == {(method, rule) for method, rule, _, _ in MATRIX}


def test_role_by_endpoint(app: Flask, clock: FixedClock) -> None:
    owner = app.test_client()
    login(owner, OWN, clock)
    pid = create_person(owner)
    with app.extensions["liaison"].db.unit_of_work() as s:
        recipient = s.scalar(select(Institution.public_id).where(
            Institution.name == "France Travail Occitanie"))
    posted = owner.post(f"/personnes/{pid}/consentements/nouveau", data={
        "axis": "2", "recipient": recipient, "notice_version": "1",
        "method": "paper_form_uploaded", "collected_on": "2026-11-20",
        "paper_form": (io.BytesIO(make_pdf()), "f.pdf"),
        "csrf_token": csrf_token(owner, "/personnes/")}, content_type="multipart/form-data")
    assert posted.status_code == 302
    with app.extensions["liaison"].db.unit_of_work() as s:
        cid = s.scalars(select(Consent.public_id)).one()

    for user in USERS:
        client = owner if user == OWN else app.test_client()
        if user != OWN:
            login(client, user, clock)
        token = csrf_token(client, "/")
        for method, _rule, url, (own, manager, other) in MATRIX:
            path = url.format(pid=pid, cid=cid, recipient=recipient)
            if method == "GET":
                response = client.get(path)
            else:
                response = client.post(path, data={"csrf_token": token})
            assert response.status_code == _expected(user, own=own, manager=manager,
                                                     other=other), (user, method, path)
