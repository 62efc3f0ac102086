import dataclasses
import re
from datetime import UTC, datetime, timedelta

import pytest

from exchange.domain.consent import (
    CURRENT_NOTICE_VERSION,
    NOTICES,
    ConsentFacts,
    check_consent_for_send,
    duration_fr,
    validate_consent_record,
    withdraw,
)
from exchange.domain.errors import ConsentRequired, ConsentWithdrawn
from exchange.domain.vocabulary import Axis, ConsentMethod

from .conftest import COLLECTED_AT, PERSON, RECIPIENT, SEND_AT

NOW = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def record(**changes: object) -> dict[str, str]:
    values: dict[str, object] = {
        "axis": Axis.AXE2,
        "method": ConsentMethod.IN_PERSON_ATTESTATION,
        "notice_version": CURRENT_NOTICE_VERSION,
        "collected_at": NOW - timedelta(minutes=5),
        "attestation": True,
        "has_paper_form": False,
        "now": NOW,
    }
    values.update(changes)
    return validate_consent_record(**values)  # type: ignore[arg-type]


def test_valid_in_person_consent() -> None:
    assert record() == {}
    assert record(collected_at=NOW) == {}


def test_in_person_consent_needs_the_attestation() -> None:
    errors = record(attestation=False)
    assert set(errors) == {"attestation"}
    assert errors["attestation"].startswith("Cochez l'attestation")


def test_paper_consent_needs_the_uploaded_form() -> None:
    paper = ConsentMethod.PAPER_FORM_UPLOADED
    assert record(method=paper, attestation=False, has_paper_form=False) == {
        "paper_form": "Joignez le formulaire de consentement signé par la personne."
    }
    assert record(method=paper, attestation=False, has_paper_form=True) == {}
    assert record(method="paper_form_uploaded", has_paper_form=True) == {}


def test_consent_cannot_be_collected_in_the_future() -> None:
    assert record(collected_at=NOW + timedelta(seconds=1)) == {
        "collected_at": "La date de recueil ne peut pas être dans le futur."
    }
    assert record(collected_at=None) == {"collected_at": "Ce champ est obligatoire."}


def test_unknown_values_are_refused() -> None:
    assert set(record(method="oral")) == {"method"}
    assert set(record(method="")) == {"method"}
    assert set(record(notice_version="0")) == {"notice_version"}
    assert set(record(notice_version=None)) == {"notice_version"}
    assert set(record(axis="1")) == {"axis"}
    assert set(record(axis=None)) == {"axis"}
    assert record(axis="3") == {}


def test_naive_datetimes_are_a_programming_error() -> None:
    with pytest.raises(ValueError):
        record(collected_at=datetime(2025, 3, 3, 9, 0))


def check(consent: ConsentFacts | None, **changes: object) -> ConsentFacts:
    target: dict[str, object] = {
        "person_id": PERSON,
        "axis": Axis.AXE2,
        "recipient_institution": RECIPIENT,
        "at": SEND_AT,
    }
    target.update(changes)
    return check_consent_for_send(consent, **target)  # type: ignore[arg-type]


def test_matching_consent_is_returned(consent: ConsentFacts) -> None:
    assert check(consent) is consent
    assert check(consent, at=COLLECTED_AT) is consent


def test_missing_consent() -> None:
    with pytest.raises(ConsentRequired) as refused:
        check(None)
    assert refused.value.code == "consent_required"


def test_consent_of_another_person(consent: ConsentFacts) -> None:
    with pytest.raises(ConsentRequired, match="autre personne"):
        check(consent, person_id=PERSON + 1)


def test_consent_for_another_axis(consent: ConsentFacts) -> None:
    with pytest.raises(ConsentRequired) as refused:
        check(consent, axis=Axis.AXE3)
    assert "« Axe 2 – accompagnement global »" in refused.value.message
    assert "« Axe 3 – accompagnement social exclusif »" in refused.value.message


def test_consent_for_another_recipient(consent: ConsentFacts) -> None:
    with pytest.raises(ConsentRequired, match="cet établissement"):
        check(consent, recipient_institution="7")  # ids compare with ==, 7 != "7"


def test_withdrawn_consent(consent: ConsentFacts) -> None:
    # 23:30 UTC on 4 March is 5 March in Paris: the user reads the Paris day.
    withdrawn = dataclasses.replace(consent, withdrawn_at=datetime(2025, 3, 4, 23, 30, tzinfo=UTC))
    with pytest.raises(ConsentWithdrawn) as refused:
        check(withdrawn)
    assert refused.value.message == (
        "La personne a retiré son consentement le 05/03/2025 : aucun nouvel envoi n'est possible."
    )


def test_incomplete_consent_record(consent: ConsentFacts) -> None:
    with pytest.raises(ConsentRequired, match="incomplet"):
        check(dataclasses.replace(consent, attestation=False))
    paper = dataclasses.replace(
        consent, method=ConsentMethod.PAPER_FORM_UPLOADED, attestation=False
    )
    with pytest.raises(ConsentRequired, match="incomplet"):
        check(paper)
    assert check(dataclasses.replace(paper, has_paper_form=True)).has_paper_form
    with pytest.raises(ConsentRequired):
        check(dataclasses.replace(consent, notice_version="0"))


def test_consent_collected_after_the_send(consent: ConsentFacts) -> None:
    with pytest.raises(ConsentRequired, match="daté d'après cet envoi"):
        check(consent, at=COLLECTED_AT - timedelta(seconds=1))


def test_withdraw(consent: ConsentFacts) -> None:
    withdrawn = withdraw(consent, at=SEND_AT)
    assert withdrawn.withdrawn_at == SEND_AT
    assert withdrawn.is_withdrawn
    assert consent.withdrawn_at is None
    with pytest.raises(ConsentWithdrawn, match="déjà été retiré le 10/03/2025"):
        withdraw(withdrawn, at=SEND_AT + timedelta(days=1))


# The notice --------------------------------------------------------------------------------


def render(axis: Axis, retention_months: int | None = None) -> str:
    return NOTICES[CURRENT_NOTICE_VERSION].render(
        controller="Département de Tarn-et-Garonne",
        controller_dpo="dpo@ledepartement82.fr",
        recipient="France Travail",
        recipient_dpo="courriers-cnil@francetravail.fr",
        axis=axis,
        retention_months=retention_months,
    )


def test_current_notice_is_published() -> None:
    notice = NOTICES[CURRENT_NOTICE_VERSION]
    assert notice.version == CURRENT_NOTICE_VERSION
    assert set(notice.purposes) == set(Axis)


@pytest.mark.parametrize("axis", list(Axis))
def test_notice_names_everything_the_person_must_know(axis: Axis) -> None:
    text = render(axis)
    assert "$" not in text
    for needed in (
        "Département de Tarn-et-Garonne",
        "France Travail",
        "dpo@ledepartement82.fr",
        "courriers-cnil@francetravail.fr",
        "dès qu'elles ne sont plus nécessaires",
        "après la fin de la convention",
        "CNIL",
        "retirer votre",
        f"version {CURRENT_NOTICE_VERSION}",
    ):
        assert needed in text, needed
    for article in range(15, 22):
        assert re.search(rf"\(article {article}\b", text), article


def test_notice_purpose_and_retention_depend_on_the_axis() -> None:
    axe2, axe3 = render(Axis.AXE2), render(Axis.AXE3)
    assert "accompagnement global (axe 2)" in axe2 and "au plus tard 10 ans" in axe2
    assert "social exclusif (axe 3)" in axe3 and "au plus tard 2 mois" in axe3
    # The CIAS convention keeps everything 2 months.
    assert "au plus tard 2 mois" in render(Axis.AXE2, retention_months=2)


def test_notice_needs_every_contact() -> None:
    with pytest.raises(ValueError):
        NOTICES[CURRENT_NOTICE_VERSION].render(
            controller="CIAS",
            controller_dpo=" ",
            recipient="France Travail",
            recipient_dpo="dpo@example.org",
            axis=Axis.AXE3,
        )


@pytest.mark.parametrize(
    ("months", "text"),
    [(120, "10 ans"), (12, "1 an"), (24, "2 ans"), (2, "2 mois"), (18, "18 mois"), (0, "0 mois")],
)
def test_duration_fr(months: int, text: str) -> None:
    assert duration_fr(months) == text
