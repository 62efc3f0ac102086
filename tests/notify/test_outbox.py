"""E-mail notifications through the outbox, delivered to a real SMTP server (aiosmtpd) listening
on 127.0.0.1, in clear, over implicit TLS or with STARTTLS (a certificate authority made for the
test). Time is the FixedClock: retries are tested by moving it, never by sleeping."""

from __future__ import annotations

import email
import ipaddress
import logging
import smtplib
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from flask import Flask
from sqlalchemy import func, inspect, select

from exchange.accounts.models import User
from exchange.app import create_app
from exchange.domain.clock import FixedClock
from exchange.notify import outbox as notify
from exchange.notify.cli import notify_cli
from exchange.notify.models import Notification
from exchange.notify.outbox import TEMPLATES, Mailer, deliver_pending, enqueue
from exchange.platform.db import Base, Database
from exchange.platform.settings import Settings
from tests.conftest import make_settings

WORKER = "ts.montauban@demo.liaison.invalid"
ADVISOR = "cft.montauban@demo.liaison.invalid"
MANAGER = "rmds.montauban@demo.liaison.invalid"
FICHE = "/fiches/" + "0123456789abcdef" * 2
BASE_URL = "https://liaison.example.fr"
# What a leaky implementation could let through: the job seeker's identity and the staff's names.
CANARIES = ["Dupont", "Jeanne", "1985", "0612345678", "jeanne.dupont", "Travailleuse-Sociale",
            "Camille", "Conseiller-Global", "Responsable-MDS", "Montauban", "RSA"]


class Inbox:
    """aiosmtpd handler: keeps every accepted message; refuses the addresses in `refuse`."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], bytes]] = []
        self.refuse: set[str] = set()
        self.encrypted: list[bool] = []  # per message: did it arrive over TLS?

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.received.append((list(envelope.rcpt_tos), bytes(envelope.original_content)))
        self.encrypted.append(server.transport.get_extra_info("ssl_object") is not None)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(raw, policy=default_policy)  # type: ignore[misc]
                for _, raw in self.received]

    def recipients(self) -> list[str]:
        return sorted(address for rcpt, _ in self.received for address in rcpt)


class SmtpServer:
    """A real SMTP server on a fixed local port that can be stopped and started again.
    `options` go to aiosmtpd: `ssl_context` for implicit TLS, `tls_context` for STARTTLS."""

    def __init__(self, port: int, **options: object) -> None:
        self.port = port
        self.inbox = Inbox()
        self.options = options
        self._controller: Controller | None = None

    def start(self) -> None:
        # A stopped Controller closes its event loop: a restart needs a new one, same port.
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port,
                                      **self.options)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(_free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail_app(instance: Path, clock: FixedClock, smtp: SmtpServer) -> Iterator[Flask]:
    settings = make_settings(instance, smtp_host="127.0.0.1", smtp_port=smtp.port,
                             base_url=BASE_URL, mail_from="Liaison <liaison@liaison.example.fr>")
    app = create_app(settings, clock=clock)
    yield app
    app.extensions["liaison"].db.dispose()


@pytest.fixture
def db(mail_app: Flask) -> Database:
    return mail_app.extensions["liaison"].db


@pytest.fixture
def mailer(mail_app: Flask) -> Mailer:
    return Mailer.from_settings(mail_app.extensions["liaison"].settings)


def _enqueue(db: Database, clock: FixedClock, recipients: list[str], kind: str = "fiche_received",
             link: str = FICHE) -> list[str]:
    with db.unit_of_work() as session:
        return [row.public_id for row in enqueue(session, kind, recipients, link, clock.now())]


def _rows(db: Database) -> list[Notification]:
    with db.unit_of_work() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


# --- sending ------------------------------------------------------------------------------------

def test_each_recipient_gets_one_message_with_exactly_the_template(
        db: Database, mailer: Mailer, clock: FixedClock, smtp: SmtpServer) -> None:
    _enqueue(db, clock, [WORKER, "", ADVISOR, WORKER.upper(), "  "])

    report = deliver_pending(db, mailer, clock.now())

    assert (report.sent, report.retry_later, report.gave_up, report.waiting) == (2, 0, 0, 0)
    assert smtp.inbox.recipients() == sorted([WORKER, ADVISOR])
    subject, body = TEMPLATES["fiche_received"]
    expected_body = body.format(link=BASE_URL + FICHE)
    for message, (rcpt, _raw) in zip(smtp.inbox.messages(), smtp.inbox.received, strict=True):
        assert message["To"] == rcpt[0]
        assert message["From"] == "Liaison <liaison@liaison.example.fr>"
        assert message["Subject"] == subject == "Liaison : une fiche de liaison vous a été adressée"
        assert message.get_content().replace("\r\n", "\n") == expected_body
        assert f"{BASE_URL}{FICHE}" in expected_body
        assert message["Message-ID"].endswith("@liaison.example.fr>")
        assert parsedate_to_datetime(message["Date"]) == clock.now()
        assert not message.is_multipart()
        # Everything but the recipient's own address, which names their unit, and the random
        # Message-ID (its digits may spell a canary such as "1985" by chance).
        text = "\n".join(f"{name}: {value}" for name, value in message.items()
                         if name.lower() not in ("to", "message-id")) + message.get_content()
        assert WORKER not in message.get_content() and ADVISOR not in message.get_content()
        assert [canary for canary in CANARIES if canary.lower() in text.lower()] == []
    assert all(row.sent_at == clock.now() and row.attempts == 1 for row in _rows(db))

    again = deliver_pending(db, mailer, clock.now() + timedelta(days=1))
    assert again.attempted == 0
    assert len(smtp.inbox.received) == 2


@pytest.mark.parametrize("kind", notify.KINDS)
def test_every_template_is_a_fixed_sentence_with_one_link(kind: str) -> None:
    subject, body = notify.render(kind, FICHE, BASE_URL)
    assert subject.startswith("Liaison : ")
    assert TEMPLATES[kind][1].count("{link}") == 1
    assert body.count(BASE_URL + FICHE) == 1
    assert "Ce message ne contient aucune donnée personnelle." in body
    assert set(notify.KINDS) == {"fiche_received", "fiche_acknowledged", "fiche_accepted",
                                 "fiche_declined", "fiche_recalled", "fiche_rectified",
                                 "consent_withdrawn"}


def test_a_dead_server_loses_nothing_and_the_restart_sends_each_message_once(
        db: Database, mailer: Mailer, clock: FixedClock, smtp: SmtpServer) -> None:
    first, second = _enqueue(db, clock, [WORKER, ADVISOR])
    smtp.stop()

    report = deliver_pending(db, mailer, clock.now())

    # The refused connection is recorded on the row it happened to; the batch stops there
    # rather than spend the other row's attempts on a server that is down.
    assert (report.sent, report.retry_later, report.interrupted) == (0, 1, True)
    rows = {row.public_id: row for row in _rows(db)}
    assert rows[first].attempts == 1 and rows[first].last_attempt_at == clock.now()
    assert rows[first].next_attempt_at == clock.now() + timedelta(minutes=1)
    assert rows[second].attempts == 0
    assert all(row.sent_at is None and not row.failed for row in rows.values())

    smtp.start()
    report = deliver_pending(db, mailer, clock.now())
    assert report.sent == 1 and smtp.inbox.recipients() == [ADVISOR]
    clock.advance(timedelta(minutes=1))
    report = deliver_pending(db, mailer, clock.now())
    assert report.sent == 1 and smtp.inbox.recipients() == sorted([WORKER, ADVISOR])

    clock.advance(timedelta(hours=1))
    assert deliver_pending(db, mailer, clock.now()).attempted == 0
    assert len(smtp.inbox.received) == 2


def test_retries_follow_the_backoff_then_give_up_after_eight_attempts(
        db: Database, mailer: Mailer, clock: FixedClock, smtp: SmtpServer) -> None:
    smtp.stop()
    (public_id,) = _enqueue(db, clock, [WORKER])
    expected = [timedelta(minutes=m) for m in (1, 5, 15, 60, 360, 360, 360)]
    attempts_at = []
    for delay in expected:
        report = deliver_pending(db, mailer, clock.now())
        assert report.retry_later == 1
        attempts_at.append(clock.now())
        (row,) = _rows(db)
        assert row.next_attempt_at == clock.now() + delay
        clock.advance(delay - timedelta(seconds=1))
        assert deliver_pending(db, mailer, clock.now()).attempted == 0, "tried before its time"
        clock.advance(timedelta(seconds=1))

    report = deliver_pending(db, mailer, clock.now())

    assert (report.gave_up, report.retry_later) == (1, 0)
    (row,) = _rows(db)
    assert (row.attempts, row.failed, row.sent_at) == (8, True, None)
    smtp.start()
    clock.advance(timedelta(days=30))
    assert deliver_pending(db, mailer, clock.now()).attempted == 0
    assert smtp.inbox.received == []
    with db.unit_of_work() as session:
        state = notify.status(session, clock.now())
    assert (state.due, state.scheduled, state.sent, state.failed) == (0, 0, 0, 1)


def test_backoff_schedule() -> None:
    delays = [notify.next_delay(n) for n in range(1, 9)]
    assert delays == [timedelta(minutes=m) for m in (1, 5, 15, 60, 360, 360, 360, 360)]


def test_rows_of_a_rolled_back_transaction_are_never_sent(
        db: Database, mailer: Mailer, clock: FixedClock, smtp: SmtpServer) -> None:
    class SendFailed(Exception):
        pass

    with pytest.raises(SendFailed), db.unit_of_work() as session:
        enqueue(session, "fiche_received", [WORKER, ADVISOR], FICHE, clock.now())
        session.flush()
        raise SendFailed

    assert _rows(db) == []
    assert deliver_pending(db, mailer, clock.now()).attempted == 0
    assert smtp.inbox.received == []


def test_a_refused_recipient_is_retried_without_stopping_the_others_nor_logging_the_address(
        db: Database, mailer: Mailer, clock: FixedClock, smtp: SmtpServer,
        caplog: pytest.LogCaptureFixture) -> None:
    smtp.inbox.refuse.add(WORKER)
    refused, delivered, _ = _enqueue(db, clock, [WORKER, ADVISOR, MANAGER])

    with caplog.at_level(logging.DEBUG, logger="liaison.notify"):
        report = deliver_pending(db, mailer, clock.now())

    assert (report.sent, report.retry_later, report.interrupted) == (2, 1, False)
    assert smtp.inbox.recipients() == sorted([ADVISOR, MANAGER])
    assert refused in caplog.text and delivered in caplog.text
    assert "SMTPRecipientsRefused" in caplog.text
    assert "@" not in caplog.text and "Liaison :" not in caplog.text


def test_a_claim_holds_other_workers_off_and_expires_if_its_worker_died(
        db: Database, mailer: Mailer, clock: FixedClock, smtp: SmtpServer) -> None:
    _enqueue(db, clock, [WORKER])
    with db.unit_of_work() as session:
        (row_id,) = notify.due(session, clock.now())

    claimed = notify._claim(db, row_id, clock.now())  # a worker that dies before sending

    assert claimed is not None and claimed.attempts == 1
    assert notify._claim(db, row_id, clock.now()) is None
    assert deliver_pending(db, mailer, clock.now() + timedelta(minutes=14)).attempted == 0
    report = deliver_pending(db, mailer, clock.now() + notify.CLAIM_LEASE)
    assert report.sent == 1 and len(smtp.inbox.received) == 1


def test_a_notification_claimed_by_another_worker_is_not_sent_twice(
        db: Database, mailer: Mailer, clock: FixedClock, smtp: SmtpServer) -> None:
    _enqueue(db, clock, [WORKER])
    with db.unit_of_work() as session:
        (row_id,) = notify.due(session, clock.now())

    assert deliver_pending(db, mailer, clock.now()).sent == 1
    assert notify._claim(db, row_id, clock.now()) is None
    assert len(smtp.inbox.received) == 1


def test_due_lists_the_oldest_due_first_and_respects_the_limit(
        db: Database, clock: FixedClock) -> None:
    _enqueue(db, clock, [WORKER])
    clock.advance(timedelta(seconds=5))
    _enqueue(db, clock, [ADVISOR, MANAGER])
    ids = [row.id for row in _rows(db)]
    with db.unit_of_work() as session:
        assert notify.due(session, clock.now(), 2) == ids[:2]
        assert notify.due(session, clock.now() - timedelta(seconds=1)) == ids[:1]


# --- what enqueue refuses -------------------------------------------------------------------------

@pytest.mark.parametrize("link", [
    "/fiches/jeanne.dupont@example.fr",
    "/fiches/x@y",
    "/fiches?nom=Dupont",
    "/fiches/" + "0123456789abcdef" * 2 + "?nom=dupont&prenom=jeanne",
    "/fiches/" + "0123456789abcdef" * 2 + "#dupont",
    "/personnes/Dupont",
    "/personnes/jeanne-dupont-1985-03-02",
    "/personnes/dupont%20jeanne",
    "/personnes/dupont.jeanne",
    "/fiches/../admin",
    "fiches/" + "0123456789abcdef" * 2,
    "//evil.example/fiches",
    "https://evil.example/fiches",
    "",
    "/" + "a" * 200,
])
def test_a_link_with_anything_but_route_words_and_opaque_ids_is_refused(
        db: Database, clock: FixedClock, link: str) -> None:
    with pytest.raises(notify.InvalidLink), db.unit_of_work() as session:
        enqueue(session, "fiche_received", [WORKER], link, clock.now())
    assert _rows(db) == []


@pytest.mark.parametrize("link", ["/", FICHE, "/boite-de-reception/", f"{FICHE}/accuse"])
def test_portal_paths_with_opaque_ids_are_accepted(link: str) -> None:
    assert notify.check_link(link) == link


def test_only_staff_addresses_receive_notifications(db: Database, clock: FixedClock) -> None:
    with pytest.raises(notify.NotStaffAddress), db.unit_of_work() as session:
        enqueue(session, "fiche_received", [WORKER, "jeanne.dupont@example.fr"], FICHE,
                clock.now())
    with pytest.raises(notify.NotStaffAddress), db.unit_of_work() as session:
        enqueue(session, "fiche_received", [f"{WORKER}\r\nBcc: x@example.fr"], FICHE,
                clock.now())
    with db.unit_of_work() as session:
        user = session.scalars(select(User).where(User.email == ADVISOR)).one()
        user.active = False
    with pytest.raises(notify.NotStaffAddress), db.unit_of_work() as session:
        enqueue(session, "fiche_received", [ADVISOR], FICHE, clock.now())
    assert _rows(db) == []


def test_an_unknown_kind_is_refused(db: Database, clock: FixedClock) -> None:
    with pytest.raises(notify.UnknownKind), db.unit_of_work() as session:
        enqueue(session, "fiche_lue_par_jeanne", [WORKER], FICHE, clock.now())
    assert _rows(db) == []


def test_unit_addresses_lists_the_active_users_of_a_unit(db: Database) -> None:
    with db.unit_of_work() as session:
        worker = session.scalars(select(User).where(User.email == WORKER)).one()
        addresses = notify.unit_addresses(session, worker.unit_id)
    assert addresses == [WORKER, MANAGER]


# --- without a mail server (demo) ---------------------------------------------------------------

def test_without_smtp_host_nothing_is_tried_and_the_report_says_so(
        instance: Path, clock: FixedClock) -> None:
    app = create_app(make_settings(instance), clock=clock)
    try:
        svc = app.extensions["liaison"]
        _enqueue(svc.db, clock, [WORKER])
        report = deliver_pending(svc.db, Mailer.from_settings(svc.settings), clock.now())
        assert (report.enabled, report.attempted, report.waiting) == (False, 0, 1)
        assert "désactivé" in report.describe()
        (row,) = _rows(svc.db)
        assert (row.attempts, row.last_attempt_at, row.sent_at) == (0, None, None)
    finally:
        app.extensions["liaison"].db.dispose()


# --- command line ---------------------------------------------------------------------------------

def test_flask_notify_send_and_status(
        mail_app: Flask, db: Database, clock: FixedClock, smtp: SmtpServer) -> None:
    _enqueue(db, clock, [WORKER, ADVISOR, MANAGER])
    runner = mail_app.test_cli_runner()

    before = runner.invoke(notify_cli, ["status"])
    sent = runner.invoke(notify_cli, ["send", "--batch", "2"])
    after = runner.invoke(notify_cli, ["status"])

    assert before.exit_code == 0 and "À envoyer maintenant : 3" in before.output
    assert sent.exit_code == 0, sent.output
    assert "3 envoyée(s), 0 à réessayer" in sent.output
    assert len(smtp.inbox.received) == 3
    assert "À envoyer maintenant : 0" in after.output and "Envoyées : 3" in after.output


def test_flask_notify_send_stops_when_the_server_is_down(
        mail_app: Flask, db: Database, clock: FixedClock, smtp: SmtpServer) -> None:
    _enqueue(db, clock, [WORKER, ADVISOR, MANAGER])
    smtp.stop()

    result = mail_app.test_cli_runner().invoke(notify_cli, ["send", "--batch", "1"])

    assert result.exit_code == 0
    assert "0 envoyée(s), 1 à réessayer" in result.output and "injoignable" in result.output


# --- the migration --------------------------------------------------------------------------------

def test_the_migration_creates_the_table_the_model_describes(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    def only_notifications(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return table is not None and table.name == "notifications"

    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": only_notifications, "compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        index = {ix["name"]: ix["column_names"]
                 for ix in inspect(connection).get_indexes("notifications")}
    assert index["ix_notifications_due"] == ["sent_at", "failed", "next_attempt_at"]


def test_the_outbox_counts_stay_consistent(db: Database, clock: FixedClock) -> None:
    _enqueue(db, clock, [WORKER, ADVISOR])
    with db.unit_of_work() as session:
        assert session.scalar(select(func.count(Notification.id))) == 2
        assert notify.waiting_count(session) == 2
        state = notify.status(session, clock.now())
    assert (state.due, state.scheduled, state.oldest_waiting) == (2, 0, clock.now())



# --- TLS: implicit on 465, STARTTLS, certificates verified --------------------------------------

@dataclass(frozen=True)
class Authority:
    """A certificate authority made for one test, and the certificate it issued to 127.0.0.1."""

    ca_file: Path
    certificate: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certificate, self.key)
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_usage(*, sign_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=not sign_certificates, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=sign_certificates, crl_sign=sign_certificates,
                         encipher_only=False, decipher_only=False)


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    # The wall clock, not the FixedClock: OpenSSL checks validity against the real time.
    now = datetime.now(UTC) - timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder()
          .subject_name(_name("Liaison test mail CA")).issuer_name(_name("Liaison test mail CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(now + timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(_key_usage(sign_certificates=True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(_name("127.0.0.1")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(sign_certificates=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    made = Authority(tmp_path / "mail-ca.pem", tmp_path / "mail.pem", tmp_path / "mail.key")
    made.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    made.certificate.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    made.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return made


@pytest.fixture
def smtps(authority: Authority) -> Iterator[SmtpServer]:
    """A server that speaks TLS from the first byte, as on port 465."""
    server = SmtpServer(_free_port(), ssl_context=authority.server_context())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_starttls(authority: Authority) -> Iterator[SmtpServer]:
    """A submission server that accepts a message only after STARTTLS, as on port 587."""
    server = SmtpServer(_free_port(), tls_context=authority.server_context(),
                        require_starttls=True)
    server.start()
    yield server
    server.stop()


def _mail_settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"LIAISON_MODE": "demo", "LIAISON_INSTANCE": str(tmp_path / "i"),
                              "LIAISON_SMTP_HOST": "127.0.0.1", **env})


@pytest.mark.parametrize(("server", "security"), [("smtps", "tls"),
                                                ("smtp_starttls", "starttls")])
def test_mail_travels_encrypted_to_a_server_whose_certificate_is_verified(
        request: pytest.FixtureRequest, db: Database, clock: FixedClock, authority: Authority,
        tmp_path: Path, server: str, security: str) -> None:
    """Implicit TLS (port 465) and STARTTLS (587), the certificate checked against the
    authority named by LIAISON_SMTP_CA_FILE."""
    running: SmtpServer = request.getfixturevalue(server)
    settings = _mail_settings(tmp_path, LIAISON_SMTP_PORT=str(running.port),
                              LIAISON_SMTP_SECURITY=security,
                              LIAISON_SMTP_CA_FILE=str(authority.ca_file))
    _enqueue(db, clock, [WORKER])

    report = deliver_pending(db, Mailer.from_settings(settings), clock.now())

    assert report.sent == 1 and running.inbox.recipients() == [WORKER]
    assert running.inbox.encrypted == [True]


def test_a_server_whose_certificate_is_not_trusted_gets_nothing(
        db: Database, clock: FixedClock, smtps: SmtpServer, smtp_starttls: SmtpServer) -> None:
    """Someone on the path answering with their own certificate (here: one no trusted
    authority issued) receives no message, over implicit TLS or STARTTLS."""
    _enqueue(db, clock, [WORKER])
    for server, security in ((smtps, "tls"), (smtp_starttls, "starttls")):
        mailer = Mailer("127.0.0.1", server.port, security=security)
        with pytest.raises(ssl.SSLCertVerificationError):
            mailer.send(WORKER, "Liaison : test", "Corps du message.")
        report = deliver_pending(db, mailer, clock.now())
        assert (report.sent, report.interrupted) == (0, True)
        assert server.inbox.received == []
        clock.advance(timedelta(hours=6))


def test_a_server_that_does_not_offer_starttls_is_never_used_in_clear(
        db: Database, clock: FixedClock, smtp: SmtpServer) -> None:
    """A downgrade (STARTTLS stripped from the server's answer) stops the send."""
    _enqueue(db, clock, [WORKER])
    mailer = Mailer("127.0.0.1", smtp.port, security="starttls")
    with pytest.raises(smtplib.SMTPNotSupportedError):
        mailer.send(WORKER, "Liaison : test", "Corps du message.")
    assert deliver_pending(db, mailer, clock.now()).sent == 0
    assert smtp.inbox.received == []
