import dataclasses
import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from exchange.domain.consent import ConsentFacts
from exchange.domain.errors import (
    ConsentRequired,
    ConsentWithdrawn,
    RestrictionActive,
    TransitionRefused,
    ValidationFailed,
)
from exchange.domain.fiches import (
    ALLOWED_SOURCES,
    Transition,
    accept,
    acknowledge,
    allowed_kinds_for,
    available_transitions,
    cancel,
    check_may_send,
    countersign,
    decline,
    is_final,
    open_,
    recall,
    send,
    sign,
)
from exchange.domain.vocabulary import (
    Axis,
    CancelReason,
    DeclineReason,
    FicheKind,
    FicheState,
    InstitutionKind,
    RecallReason,
    Role,
)

from .conftest import PERSON, RECIPIENT, SEND_AT

S = FicheState
T = Transition

# Written out by hand from DESIGN.md, independently of ALLOWED_SOURCES: source -> target.
EXPECTED: dict[Transition, dict[FicheState, FicheState]] = {
    T.SIGN: {S.DRAFT: S.SIGNED},
    T.COUNTERSIGN: {S.SIGNED: S.COUNTERSIGNED},
    T.SEND: {S.SIGNED: S.SENT, S.COUNTERSIGNED: S.SENT},
    T.OPEN: {
        S.SENT: S.READ,
        S.READ: S.READ,
        S.ACKNOWLEDGED: S.ACKNOWLEDGED,
        S.ACCEPTED: S.ACCEPTED,
        S.DECLINED: S.DECLINED,
    },
    T.ACKNOWLEDGE: {S.READ: S.ACKNOWLEDGED},
    T.ACCEPT: {S.ACKNOWLEDGED: S.ACCEPTED},
    T.DECLINE: {S.ACKNOWLEDGED: S.DECLINED},
    T.RECALL: {S.SENT: S.RECALLED},
    T.CANCEL: {S.DRAFT: S.CANCELLED, S.SIGNED: S.CANCELLED, S.COUNTERSIGNED: S.CANCELLED},
}

ORIENTATION = FicheKind.ORIENTATION_AXE2


def runners(consent: ConsentFacts) -> dict[Transition, Callable[[FicheState], FicheState]]:
    """Each transition called with arguments that would let it succeed from a good state."""
    return {
        T.SIGN: lambda s: sign(s, kind=ORIENTATION),
        T.COUNTERSIGN: lambda s: countersign(s, convention_requires=True),
        T.SEND: lambda s: send(
            s,
            requires_countersign=False,
            consent=consent,
            restricted=False,
            person_id=PERSON,
            axis=Axis.AXE2,
            recipient_institution=RECIPIENT,
            at=SEND_AT,
        ),
        T.OPEN: open_,
        T.ACKNOWLEDGE: acknowledge,
        T.ACCEPT: lambda s: accept(s, kind=ORIENTATION),
        T.DECLINE: lambda s: decline(
            s, kind=ORIENTATION, reason=DeclineReason.CASELOAD_FULL, text=""
        ),
        T.RECALL: lambda s: recall(s, reason=RecallReason.WRONG_RECIPIENT, text=""),
        T.CANCEL: lambda s: cancel(s, reason=CancelReason.DUPLICATE),
    }


def test_table_matches_the_design() -> None:
    assert set(ALLOWED_SOURCES) == set(Transition)
    for transition, moves in EXPECTED.items():
        assert ALLOWED_SOURCES[transition] == frozenset(moves), transition


@pytest.mark.parametrize(("transition", "state"), list(itertools.product(Transition, FicheState)))
def test_every_state_times_every_transition(
    transition: Transition, state: FicheState, consent: ConsentFacts
) -> None:
    run = runners(consent)[transition]
    expected = EXPECTED[transition].get(state)
    if expected is not None:
        assert run(state) is expected
    else:
        with pytest.raises(TransitionRefused) as refused:
            run(state)
        assert refused.value.code == "transition_refused"
        assert refused.value.message.startswith("Impossible ")
        assert f"« {state.label} »" in refused.value.message


def test_refusal_message_is_plain_french() -> None:
    with pytest.raises(TransitionRefused) as refused:
        recall(S.READ, reason=RecallReason.CONTENT_ERROR, text="")
    assert refused.value.message == (
        "Impossible de retirer cette fiche : elle est à l'état « Lue ». Une fiche ne peut "
        "être retirée qu'après son envoi et avant que le destinataire ne l'ouvre."
    )


def test_sign_message_names_the_kind() -> None:
    with pytest.raises(TransitionRefused, match="« Bilan final »"):
        sign(S.SENT, kind=FicheKind.BILAN_FINAL)


def test_states_stored_as_strings_are_accepted() -> None:
    assert sign(FicheState("draft"), kind=ORIENTATION) is S.SIGNED
    assert open_(FicheState("sent")) is S.READ


# Countersignature ------------------------------------------------------------------------


def test_countersign_refused_when_the_convention_does_not_ask() -> None:
    with pytest.raises(TransitionRefused) as refused:
        countersign(S.SIGNED, convention_requires=False)
    assert refused.value.code == "countersign_not_required"


# Send: restriction and consent -----------------------------------------------------------


def _send(
    consent: ConsentFacts | None,
    *,
    restricted: bool = False,
    state: S = S.SIGNED,
    requires_countersign: bool = False,
) -> S:
    return send(
        state,
        requires_countersign=requires_countersign,
        consent=consent,
        restricted=restricted,
        person_id=PERSON,
        axis=Axis.AXE2,
        recipient_institution=RECIPIENT,
        at=SEND_AT,
    )


def test_send_needs_the_countersignature_when_the_convention_asks(
    consent: ConsentFacts,
) -> None:
    with pytest.raises(TransitionRefused) as refused:
        _send(consent, requires_countersign=True)
    assert refused.value.code == "countersign_required"
    assert "contresigner" in refused.value.message
    assert _send(consent, requires_countersign=True, state=S.COUNTERSIGNED) is S.SENT


def test_send_refused_while_processing_is_restricted(consent: ConsentFacts) -> None:
    with pytest.raises(RestrictionActive):
        _send(consent, restricted=True)
    with pytest.raises(RestrictionActive):
        _send(None, restricted=True)


def test_send_without_consent_is_refused() -> None:
    with pytest.raises(ConsentRequired):
        _send(None)


def test_send_after_withdrawal_is_refused(consent: ConsentFacts) -> None:
    withdrawn = dataclasses.replace(consent, withdrawn_at=SEND_AT - timedelta(days=1))
    with pytest.raises(ConsentWithdrawn):
        _send(withdrawn)


@pytest.mark.parametrize(
    "change",
    [
        {"person_id": PERSON + 1},
        {"axis": Axis.AXE3},
        {"recipient_institution": RECIPIENT + 1},
        {"collected_at": SEND_AT + timedelta(seconds=1)},
        {"attestation": False},
    ],
)
def test_send_with_a_consent_that_does_not_cover_it_is_refused(
    consent: ConsentFacts, change: dict[str, Any]
) -> None:
    with pytest.raises(ConsentRequired):
        _send(dataclasses.replace(consent, **change))


def test_state_is_checked_before_consent() -> None:
    with pytest.raises(TransitionRefused):
        _send(None, restricted=True, state=S.DRAFT)


# Accept and decline: orientations only ----------------------------------------------------

NOT_ORIENTATIONS = [FicheKind.BILAN_MID, FicheKind.BILAN_FINAL, FicheKind.RETURN_ADVISOR]


@pytest.mark.parametrize(("kind", "state"), list(itertools.product(NOT_ORIENTATIONS, S)))
def test_bilans_and_returns_are_never_accepted_or_declined(
    kind: FicheKind, state: FicheState
) -> None:
    with pytest.raises(TransitionRefused) as refused:
        accept(state, kind=kind)
    assert refused.value.code == "not_an_orientation"
    with pytest.raises(TransitionRefused) as refused:
        decline(state, kind=kind, reason=DeclineReason.OTHER, text="x")
    assert refused.value.code == "not_an_orientation"
    assert kind.label in refused.value.message


def test_axe3_orientations_are_accepted() -> None:
    assert accept(S.ACKNOWLEDGED, kind=FicheKind.ORIENTATION_AXE3) is S.ACCEPTED


# Reasons -----------------------------------------------------------------------------------


def _decline(reason: DeclineReason | str | None, text: str) -> FicheState:
    return decline(S.ACKNOWLEDGED, kind=ORIENTATION, reason=reason, text=text)


def test_decline_needs_a_reason() -> None:
    with pytest.raises(ValidationFailed) as failed:
        _decline(None, "")
    assert failed.value.errors == {"reason": "Choisissez une valeur dans la liste."}
    with pytest.raises(ValidationFailed) as failed:
        _decline("", "texte")
    assert set(failed.value.errors) == {"reason"}


def test_decline_refuses_an_unknown_reason() -> None:
    with pytest.raises(ValidationFailed) as failed:
        _decline("whatever", "")
    assert failed.value.errors == {
        "reason": "Valeur inconnue : choisissez une valeur dans la liste."
    }


@pytest.mark.parametrize("text", ["", "   \n "])
def test_other_reason_needs_text(text: str) -> None:
    with pytest.raises(ValidationFailed) as failed:
        _decline(DeclineReason.OTHER, text)
    assert failed.value.errors == {
        "text": "Précisez le motif lorsque vous choisissez « Autre motif »."
    }


def test_reason_text_is_limited() -> None:
    with pytest.raises(ValidationFailed) as failed:
        _decline(DeclineReason.OTHER, "x" * 4001)
    assert failed.value.errors["text"].startswith("Ce texte ne peut pas dépasser 4000")
    assert _decline(DeclineReason.OTHER, "x" * 4000) is S.DECLINED


def test_reason_given_as_its_stored_value() -> None:
    assert _decline("person_declined", "") is S.DECLINED
    assert _decline("other", "Dossier déjà suivi par le CCAS") is S.DECLINED


def test_state_is_checked_before_reason() -> None:
    with pytest.raises(TransitionRefused):
        decline(S.READ, kind=ORIENTATION, reason=None, text="")


def test_recall_and_cancel_need_reasons() -> None:
    with pytest.raises(ValidationFailed) as failed:
        recall(S.SENT, reason=RecallReason.OTHER, text="")
    assert set(failed.value.errors) == {"text"}
    with pytest.raises(ValidationFailed) as failed:
        cancel(S.DRAFT, reason=None)
    assert set(failed.value.errors) == {"reason"}
    with pytest.raises(ValidationFailed):
        cancel(S.DRAFT, reason=RecallReason.WRONG_RECIPIENT.value + "x")
    assert cancel(S.SIGNED, reason="other", text="Personne décédée") is S.CANCELLED


# Final states and buttons -----------------------------------------------------------------


def test_is_final() -> None:
    orientation_final = {s for s in S if is_final(s, ORIENTATION)}
    assert orientation_final == {S.ACCEPTED, S.DECLINED, S.RECALLED, S.CANCELLED}
    bilan_final = {s for s in S if is_final(s, FicheKind.BILAN_MID)}
    assert bilan_final == {
        S.ACKNOWLEDGED,
        S.ACCEPTED,
        S.DECLINED,
        S.RECALLED,
        S.CANCELLED,
    }


@pytest.mark.parametrize(
    ("state", "kind", "countersign_needed", "expected"),
    [
        (S.DRAFT, ORIENTATION, False, {T.SIGN, T.CANCEL}),
        (S.SIGNED, ORIENTATION, False, {T.SEND, T.CANCEL}),
        (S.SIGNED, ORIENTATION, True, {T.COUNTERSIGN, T.CANCEL}),
        (S.COUNTERSIGNED, ORIENTATION, True, {T.SEND, T.CANCEL}),
        (S.SENT, ORIENTATION, False, {T.OPEN, T.RECALL}),
        (S.READ, ORIENTATION, False, {T.ACKNOWLEDGE}),
        (S.ACKNOWLEDGED, ORIENTATION, False, {T.ACCEPT, T.DECLINE}),
        (S.ACKNOWLEDGED, FicheKind.BILAN_FINAL, False, set()),
        (S.ACCEPTED, ORIENTATION, False, set()),
        (S.RECALLED, ORIENTATION, False, set()),
    ],
)
def test_available_transitions(
    state: FicheState,
    kind: FicheKind,
    countersign_needed: bool,
    expected: set[Transition],
) -> None:
    assert (
        available_transitions(state, kind=kind, requires_countersign=countersign_needed) == expected
    )


# Who may send what -------------------------------------------------------------------------

IK = InstitutionKind
SOCIAL_WORKER_KINDS = {
    FicheKind.ORIENTATION_AXE2,
    FicheKind.BILAN_MID,
    FicheKind.BILAN_FINAL,
    FicheKind.RETURN_ADVISOR,
}
ADVISOR_KINDS = {FicheKind.ORIENTATION_AXE2, FicheKind.ORIENTATION_AXE3}


def expected_kinds(sender: IK, recipient: IK, role: Role) -> set[FicheKind]:
    social = {IK.DEPARTEMENT, IK.CCAS_CIAS}
    if role is Role.SOCIAL_WORKER and sender in social and recipient is IK.FRANCE_TRAVAIL:
        return SOCIAL_WORKER_KINDS
    if role is Role.ADVISOR and sender is IK.FRANCE_TRAVAIL and recipient in social:
        return ADVISOR_KINDS
    return set()


@pytest.mark.parametrize(("sender", "recipient", "role"), list(itertools.product(IK, IK, Role)))
def test_allowed_kinds_matrix(sender: IK, recipient: IK, role: Role) -> None:
    assert allowed_kinds_for(sender, recipient, {role}) == expected_kinds(sender, recipient, role)


def test_allowed_kinds_follow_the_axes_of_the_convention() -> None:
    advisor = {Role.ADVISOR}
    assert allowed_kinds_for(
        IK.FRANCE_TRAVAIL, IK.CCAS_CIAS, advisor, enabled_axes={Axis.AXE2}
    ) == {FicheKind.ORIENTATION_AXE2}
    assert allowed_kinds_for(
        IK.DEPARTEMENT, IK.FRANCE_TRAVAIL, [Role.SOCIAL_WORKER], enabled_axes=[Axis.AXE3]
    ) == {FicheKind.BILAN_MID, FicheKind.BILAN_FINAL, FicheKind.RETURN_ADVISOR}


def test_values_as_stored_strings_are_accepted() -> None:
    stored = allowed_kinds_for(
        InstitutionKind("france_travail"),
        InstitutionKind("ccas_cias"),
        {"advisor"},  # type: ignore[arg-type]
    )
    assert stored == ADVISOR_KINDS


def test_unit_manager_role_alone_sends_nothing() -> None:
    assert allowed_kinds_for(IK.DEPARTEMENT, IK.FRANCE_TRAVAIL, {Role.UNIT_MANAGER}) == set()
    both = {Role.UNIT_MANAGER, Role.SOCIAL_WORKER}
    assert allowed_kinds_for(IK.DEPARTEMENT, IK.FRANCE_TRAVAIL, both) == SOCIAL_WORKER_KINDS


def test_check_may_send_explains_what_is_possible() -> None:
    check_may_send(
        FicheKind.ORIENTATION_AXE3,
        sender_institution_kind=IK.FRANCE_TRAVAIL,
        recipient_institution_kind=IK.DEPARTEMENT,
        roles={Role.ADVISOR},
    )
    with pytest.raises(TransitionRefused) as refused:
        check_may_send(
            FicheKind.ORIENTATION_AXE3,
            sender_institution_kind=IK.CCAS_CIAS,
            recipient_institution_kind=IK.FRANCE_TRAVAIL,
            roles={Role.SOCIAL_WORKER},
        )
    assert refused.value.code == "kind_not_allowed"
    assert refused.value.message == (
        "Vous ne pouvez pas adresser une fiche « Orientation vers l'accompagnement social "
        "exclusif (axe 3) » à ce destinataire. Fiches possibles : « Orientation vers "
        "l'accompagnement global (axe 2) », « Bilan à mi-parcours », « Bilan final » et "
        "« Retour au conseiller »."
    )


def test_check_may_send_between_two_social_services() -> None:
    with pytest.raises(TransitionRefused) as refused:
        check_may_send(
            FicheKind.ORIENTATION_AXE2,
            sender_institution_kind=IK.DEPARTEMENT,
            recipient_institution_kind=IK.CCAS_CIAS,
            roles={Role.SOCIAL_WORKER},
        )
    assert refused.value.code == "kind_not_allowed"
    assert "aucune fiche" in refused.value.message
