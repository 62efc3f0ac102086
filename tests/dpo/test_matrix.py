"""Role × endpoint matrix of the rights blueprint: every rule is listed here, refused to every
role but the DPO (403, audited by the guard), and answered to the DPO."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from exchange.domain.clock import FixedClock
from tests.conftest import csrf_token, login
from tests.dpo.support import dpo_client, new_request

pytestmark = pytest.mark.slow  # the inner loop is `pytest -m "not slow"`

# rule -> (method, what the DPO gets on a fresh request of kind "access" with no person)
RULES = {
    "/dpo/droits/": ("GET", 200),
    "/dpo/droits/demandes/nouvelle": ("GET", 200),
    "/dpo/droits/demandes/<rid>": ("GET", 200),
    "/dpo/droits/demandes/<rid>/suivi": ("POST", 302),
    "/dpo/droits/demandes/<rid>/personne": ("POST", 302),
    "/dpo/droits/demandes/<rid>/acces.<fmt>": ("POST", 302),
    "/dpo/droits/demandes/<rid>/rectification": ("GET", 302),
    "/dpo/droits/demandes/<rid>/fiches/<pid>/rectification": ("POST", 302),
    "/dpo/droits/demandes/<rid>/limitation": ("POST", 302),
    "/dpo/droits/demandes/<rid>/effacement": ("POST", 302),
    "/dpo/droits/demandes/<rid>/transmission": ("POST", 302),
    "/dpo/droits/registre": ("GET", 200),
    "/dpo/droits/violations": ("GET", 200),
    "/dpo/droits/violations/nouvelle": ("GET", 200),
    "/dpo/droits/violations/<bid>": ("GET", 404),
}
OTHERS = ["ts.montauban", "cft.montauban", "rmds.montauban", "admin", "cm.francetravail"]


def test_every_rights_rule_is_listed_here(app: Flask) -> None:
    assert {r.rule for r in app.url_map.iter_rules() if r.endpoint.startswith("rights.")} == \
        set(RULES)


def _path(rule: str, rid: str) -> str:
    return re.sub(r"<bid>|<pid>", "0" * 32, rule.replace("<rid>", rid).replace("<fmt>", "pdf"))


@pytest.mark.parametrize("username", OTHERS)
def test_other_roles_are_refused_everywhere(app: Flask, clock: FixedClock,
                                            username: str) -> None:
    client = app.test_client()
    login(client, username, clock)
    token = csrf_token(client, "/")
    for rule, (method, _) in RULES.items():
        response = client.open(_path(rule, "0" * 32), method=method,
                               data={"csrf_token": token} if method == "POST" else None)
        assert response.status_code == 403, (username, rule)


def test_the_dpo_is_answered_everywhere(app: Flask, clock: FixedClock) -> None:
    client = dpo_client(app, clock)
    rid = new_request(client, "access", last_name="Personne")
    token = csrf_token(client, "/dpo/droits/")
    for rule, (method, expected) in RULES.items():
        response = client.open(_path(rule, rid), method=method,
                               data={"csrf_token": token} if method == "POST" else None)
        assert response.status_code == expected, (rule, response.status_code)
        if method == "GET" and expected == 200:
            html = response.get_data(as_text=True)
            assert '<html lang="fr">' in html and "<h1>" in html
            if "<table" in html:
                assert "<caption>" in html and 'scope="col"' in html
    assert client.get(f"/dpo/droits/demandes/{'f' * 32}").status_code == 404
