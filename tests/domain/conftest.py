from datetime import UTC, datetime

import pytest

from exchange.domain.consent import CURRENT_NOTICE_VERSION, ConsentFacts
from exchange.domain.vocabulary import Axis, ConsentMethod

COLLECTED_AT = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
SEND_AT = datetime(2025, 3, 10, 14, 0, tzinfo=UTC)
PERSON = 41
RECIPIENT = 7


@pytest.fixture
def consent() -> ConsentFacts:
    """A valid in-person consent of PERSON for axe 2 towards institution RECIPIENT."""
    return ConsentFacts(
        consent_id=1,
        person_id=PERSON,
        axis=Axis.AXE2,
        recipient_institution=RECIPIENT,
        notice_version=CURRENT_NOTICE_VERSION,
        method=ConsentMethod.IN_PERSON_ATTESTATION,
        collected_by=3,
        collected_at=COLLECTED_AT,
        withdrawn_at=None,
        attestation=True,
        has_paper_form=False,
    )
