"""E-mail notifications through a transactional outbox.

A use case calls `enqueue` inside its own unit of work: the rows are committed with the event
that causes them, or rolled back with it, so a fiche is never announced without being sent, nor
sent without being announced. `deliver_pending` then sends the due rows one by one, each in its
own short transaction, and never holds a database transaction open while it talks to the SMTP
server.

A message carries no personal data: a fixed French sentence chosen by the kind, and a link to
the portal made of route words and opaque ids. The recipient is a staff address known to the
portal (an active user or a unit), never a job seeker's. Logs name notifications by their public
id only, never by address, subject or body.

Delivery is at least once: if the process dies after the SMTP server accepted a message but
before `sent_at` is committed, the message goes again once its claim expires. SMTP offers
nothing better; a rare duplicate is preferred to a lost notification.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from exchange.accounts.models import User
from exchange.domain.clock import require_aware
from exchange.notify.models import Notification
from exchange.org.models import Unit
from exchange.platform.db import Database
from exchange.platform.settings import Settings

log = logging.getLogger("liaison.notify")

_FOOTER = (
    "\n\nCe message ne contient aucune donnée personnelle. Les informations ne sont "
    "consultables qu'après connexion au portail Liaison.\n"
    "Message automatique : merci de ne pas y répondre.\n"
)

TEMPLATES: dict[str, tuple[str, str]] = {
    "fiche_received": (
        "Liaison : une fiche de liaison vous a été adressée",
        "Une fiche de liaison a été adressée à votre structure. "
        "Consultez-la sur le portail : {link}" + _FOOTER,
    ),
    "fiche_acknowledged": (
        "Liaison : réception d'une fiche de liaison confirmée",
        "La structure destinataire a accusé réception d'une fiche de liaison que vous avez "
        "envoyée. Consultez l'accusé de réception sur le portail : {link}" + _FOOTER,
    ),
    "fiche_accepted": (
        "Liaison : une orientation a été acceptée",
        "Une orientation que vous avez adressée a été acceptée. "
        "Consultez-la sur le portail : {link}" + _FOOTER,
    ),
    "fiche_declined": (
        "Liaison : une orientation a été refusée",
        "Une orientation que vous avez adressée a été refusée. "
        "Le motif est consultable sur le portail : {link}" + _FOOTER,
    ),
    "fiche_rectified": (
        "Liaison : une fiche de liaison a été rectifiée",
        "Une fiche de liaison échangée avec votre structure a été rectifiée par son "
        "expéditeur : une nouvelle version signée remplace la précédente. "
        "Consultez-la sur le portail : {link}" + _FOOTER,
    ),
    "fiche_recalled": (
        "Liaison : une fiche de liaison a été rappelée",
        "Une fiche de liaison adressée à votre structure a été rappelée par son expéditeur. "
        "Consultez le portail : {link}" + _FOOTER,
    ),
    "consent_withdrawn": (
        "Liaison : un consentement a été retiré",
        "Le consentement attaché à une fiche de liaison échangée avec votre structure a été "
        "retiré ; aucun nouvel échange n'est possible à son sujet. "
        "Consultez le portail : {link}" + _FOOTER,
    ),
}
KINDS = tuple(TEMPLATES)

# Delay before the next try after the n-th failed attempt; the last value repeats.
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(minutes=60),
    timedelta(hours=6),
)
MAX_ATTEMPTS = 8
# A claimed row is not due again before this, so two workers never send it at the same time;
# it only matters if the worker dies before recording the outcome.
CLAIM_LEASE = timedelta(minutes=15)
SMTP_TIMEOUT = 10.0
MAX_LINK_LENGTH = 200

# A link is a path of route words (lowercase letters and hyphens) and opaque ids (the 32 hex
# digits of `new_public_id`): no query string, no fragment, no digits that could be a date, no
# "@", no percent-encoding, nothing that could spell a name with capitals or accents.
_LINK = re.compile(r"/|(?:/(?:[a-z]+(?:-[a-z]+)*|[0-9a-f]{32}))+/?")
_ADDRESS = re.compile(r"[^@\s<>,;:\"()\[\]\\]+@[^@\s<>,;:\"()\[\]\\]+\.[^@\s<>,;:\"()\[\]\\]+")


class NotificationError(ValueError):
    """A notification that must not be written; the message names the rule, not the data."""


class UnknownKind(NotificationError):
    pass


class InvalidLink(NotificationError):
    pass


class NotStaffAddress(NotificationError):
    """The address is not that of an active user or of a unit of the portal."""


def check_link(link: str) -> str:
    """Return `link` if it is a portal path of route words and opaque ids; else InvalidLink."""
    if len(link) > MAX_LINK_LENGTH or not _LINK.fullmatch(link):
        raise InvalidLink("Le lien d'une notification doit être un chemin du portail fait de "
                          "mots de route et d'identifiants opaques, sans paramètre.")
    return link


def portal_url(base_url: str, link: str) -> str:
    return base_url.rstrip("/") + check_link(link)


def render(kind: str, link: str, base_url: str) -> tuple[str, str]:
    """The subject and body of a notification: the fixed text of its kind and the link."""
    try:
        subject, body = TEMPLATES[kind]
    except KeyError:
        raise UnknownKind(f"Type de notification inconnu : {kind!r}.") from None
    return subject, body.format(link=portal_url(base_url, link))


def staff_addresses(session: Session, addresses: Iterable[str]) -> set[str]:
    """Those of `addresses` (lowercased) that belong to an active user or to a unit."""
    wanted = {a.strip().lower() for a in addresses if a.strip()}
    if not wanted:
        return set()
    users = select(func.lower(User.email)).where(func.lower(User.email).in_(wanted), User.active)
    units = select(func.lower(Unit.email)).where(func.lower(Unit.email).in_(wanted))
    return set(session.scalars(users)) | set(session.scalars(units))


def unit_addresses(session: Session, unit_id: int) -> list[str]:
    """The addresses of a unit's active users, for a notification to "the recipient unit"."""
    rows = session.scalars(
        select(User.email).where(User.unit_id == unit_id, User.active, User.email != "")
        .order_by(User.id)
    )
    return list(rows)


def enqueue(session: Session, kind: str, recipients: Iterable[str], link: str,
            now: datetime) -> list[Notification]:
    """Write one outbox row per distinct recipient in the caller's transaction.

    Empty addresses are skipped and duplicates (ignoring case) written once. Raises UnknownKind,
    InvalidLink or NotStaffAddress before writing anything."""
    distinct = _distinct(recipients)
    unknown = set(distinct) - staff_addresses(session, distinct.values())
    if unknown:
        raise NotStaffAddress(f"{len(unknown)} adresse(s) de notification ne sont ni celles "
                              "d'un utilisateur actif ni celles d'une structure.")
    return _write(session, kind, distinct, link, now)


def enqueue_for_unit(session: Session, kind: str, unit_id: int, link: str,
                     now: datetime) -> list[Notification]:
    """`enqueue` for the active users of a unit: their addresses are staff addresses by
    construction, so they are not looked up a second time."""
    return _write(session, kind, _distinct(unit_addresses(session, unit_id)), link, now)


def _distinct(recipients: Iterable[str]) -> dict[str, str]:
    distinct: dict[str, str] = {}
    for address in recipients:
        address = address.strip()
        if address:
            distinct.setdefault(address.lower(), address)
    for address in distinct.values():
        if not _ADDRESS.fullmatch(address):
            raise NotStaffAddress("Adresse de notification mal formée.")
    return distinct


def _write(session: Session, kind: str, distinct: dict[str, str], link: str,
           now: datetime) -> list[Notification]:
    if kind not in TEMPLATES:
        raise UnknownKind(f"Type de notification inconnu : {kind!r}.")
    check_link(link)
    now = require_aware(now, "now")
    rows = [
        Notification(kind=kind, recipient=address, link=link, created_at=now,
                     next_attempt_at=now, attempts=0, failed=False)
        for address in distinct.values()
    ]
    session.add_all(rows)
    session.flush()
    return rows


def next_delay(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt (1-based)."""
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


class Mailer:
    """Sends one message through the configured SMTP server; knows the portal's address.

    `security` is "tls" (implicit TLS from the first byte, port 465, RFC 8314), "starttls"
    (plain connection upgraded before anything is sent; a server that does not offer it is
    refused, never used in clear) or "none" (a relay on the same host or network). The server's
    certificate and name are always checked, against `ca_file` when given, else the system's
    trusted authorities."""

    def __init__(self, host: str, port: int = 25, *, user: str = "", password: str = "",
                 security: str = "none", ca_file: Path | None = None,
                 mail_from: str = "liaison@localhost",
                 base_url: str = "http://127.0.0.1:5000",
                 timeout: float = SMTP_TIMEOUT) -> None:
        if security not in ("tls", "starttls", "none"):
            raise ValueError(f"unknown SMTP security {security!r}")
        self.host = host
        self.port = port
        self.user = user
        self._password = password
        self.security = security
        self.ca_file = ca_file
        self.mail_from = mail_from
        self.base_url = base_url
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> Mailer:
        return cls(settings.smtp_host, settings.smtp_port, user=settings.smtp_user,
                   password=settings.smtp_password, security=settings.smtp_security,
                   ca_file=settings.smtp_ca_file, mail_from=settings.mail_from,
                   base_url=settings.base_url)

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    def __repr__(self) -> str:
        return f"Mailer(host={self.host!r}, port={self.port}, security={self.security!r})"

    def message(self, to: str, subject: str, body: str, *,
                at: datetime | None = None) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.mail_from
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = format_datetime(require_aware(at) if at else datetime.now(UTC))
        # The sender's domain, not socket.getfqdn(): no DNS lookup per message.
        domain = parseaddr(self.mail_from)[1].rpartition("@")[2] or "localhost"
        msg["Message-ID"] = make_msgid(domain=domain)
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(body)
        return msg

    def send(self, to: str, subject: str, body: str, *, at: datetime | None = None) -> None:
        """Raises smtplib.SMTPException or OSError (refused, timeout) when the send fails."""
        msg = self.message(to, subject, body, at=at)
        with self._connect() as smtp:
            if self.user:
                smtp.login(self.user, self._password)
            smtp.send_message(msg)

    def tls_context(self) -> ssl.SSLContext:
        """Certificate and host name verified (TLS 1.2 at least): what a browser would check."""
        context = ssl.create_default_context(
            cafile=str(self.ca_file) if self.ca_file is not None else None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                    context=self.tls_context())
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            try:
                smtp.starttls(context=self.tls_context())
            except BaseException:
                smtp.close()
                raise
        return smtp


@dataclass
class DeliveryReport:
    enabled: bool = True
    sent: int = 0
    retry_later: int = 0
    gave_up: int = 0
    skipped: int = 0
    interrupted: bool = False
    waiting: int = 0

    @property
    def attempted(self) -> int:
        return self.sent + self.retry_later + self.gave_up

    def add(self, other: DeliveryReport) -> None:
        self.enabled = self.enabled and other.enabled
        self.sent += other.sent
        self.retry_later += other.retry_later
        self.gave_up += other.gave_up
        self.skipped += other.skipped
        self.interrupted = self.interrupted or other.interrupted
        self.waiting = other.waiting

    def describe(self) -> str:
        if not self.enabled:
            return ("Envoi des courriels désactivé : aucun serveur SMTP configuré "
                    f"(LIAISON_SMTP_HOST). {self.waiting} notification(s) en attente, "
                    "rien n'a été envoyé.")
        line = (f"Notifications : {self.sent} envoyée(s), {self.retry_later} à réessayer, "
                f"{self.gave_up} abandonnée(s) après {MAX_ATTEMPTS} tentatives.")
        if self.interrupted:
            line += " Serveur SMTP injoignable : envoi interrompu, le reste attend."
        return line


# A refusal that concerns this message only; anything else (refused connection, timeout,
# authentication, disconnection) concerns the server, and the rest of the batch would fail the
# same way, so the batch stops there without spending the other rows' attempts.
_MESSAGE_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError)
_SERVER_ERRORS = (smtplib.SMTPException, OSError)


def due(session: Session, now: datetime, limit: int = 50) -> list[int]:
    """Ids of the rows to try now, oldest due first."""
    query = (
        select(Notification.id)
        .where(Notification.sent_at.is_(None), Notification.failed.is_(False),
               Notification.next_attempt_at <= now)
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def waiting_count(session: Session) -> int:
    return session.scalar(
        select(func.count(Notification.id))
        .where(Notification.sent_at.is_(None), Notification.failed.is_(False))
    ) or 0


def _claim(db: Database, row_id: int, now: datetime) -> Notification | None:
    """Count an attempt and push the row out of reach of other workers, or None if another
    worker took it first."""
    with db.unit_of_work() as session:
        result = session.execute(
            update(Notification)
            .where(Notification.id == row_id, Notification.sent_at.is_(None),
                   Notification.failed.is_(False), Notification.next_attempt_at <= now)
            .values(attempts=Notification.attempts + 1, last_attempt_at=now,
                    next_attempt_at=now + CLAIM_LEASE)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return session.get(Notification, row_id)


def _record_sent(db: Database, row_id: int, now: datetime) -> None:
    with db.unit_of_work() as session:
        session.execute(
            update(Notification).where(Notification.id == row_id).values(sent_at=now)
            .execution_options(synchronize_session=False)
        )


def _record_failure(db: Database, row: Notification, now: datetime) -> bool:
    """Schedule the next try, or give up after MAX_ATTEMPTS. True if given up."""
    gave_up = row.attempts >= MAX_ATTEMPTS
    values: dict[str, object] = (
        {"failed": True} if gave_up else {"next_attempt_at": now + next_delay(row.attempts)}
    )
    with db.unit_of_work() as session:
        session.execute(
            update(Notification).where(Notification.id == row.id).values(**values)
            .execution_options(synchronize_session=False)
        )
    return gave_up


def _reason(exc: BaseException) -> str:
    """The exception's class and SMTP code: its message may quote the address."""
    code = getattr(exc, "smtp_code", None)
    return f"{type(exc).__name__} {code}" if code else type(exc).__name__


def deliver_pending(db: Database, mailer: Mailer, now: datetime,
                    batch: int = 50) -> DeliveryReport:
    """Send up to `batch` due notifications, one transaction per row and outcome."""
    now = require_aware(now, "now")
    if not mailer.enabled:
        with db.unit_of_work() as session:
            return DeliveryReport(enabled=False, waiting=waiting_count(session))
    report = DeliveryReport()
    with db.unit_of_work() as session:
        ids = due(session, now, batch)
    for row_id in ids:
        row = _claim(db, row_id, now)
        if row is None:
            report.skipped += 1
            continue
        try:
            subject, body = render(row.kind, row.link, mailer.base_url)
            mailer.send(row.recipient, subject, body, at=now)
        except Exception as exc:  # one row's failure is recorded and never stops the others
            gave_up = _record_failure(db, row, now)
            log.warning("notification %s (%s) attempt %d failed: %s%s", row.public_id,
                        row.kind, row.attempts, _reason(exc), " - given up" if gave_up else "")
            if gave_up:
                report.gave_up += 1
            else:
                report.retry_later += 1
            if isinstance(exc, _SERVER_ERRORS) and not isinstance(exc, _MESSAGE_ERRORS):
                report.interrupted = True
                break
            continue
        _record_sent(db, row.id, now)
        report.sent += 1
        log.info("notification %s (%s) sent", row.public_id, row.kind)
    with db.unit_of_work() as session:
        report.waiting = waiting_count(session)
    return report


@dataclass(frozen=True)
class OutboxStatus:
    enabled: bool
    due: int
    scheduled: int
    sent: int
    failed: int
    oldest_waiting: datetime | None

    def describe(self) -> list[str]:
        lines = [
            "Serveur SMTP : " + ("configuré" if self.enabled else
                                 "aucun (LIAISON_SMTP_HOST vide) : rien n'est envoyé"),
            f"À envoyer maintenant : {self.due}",
            f"En attente d'une nouvelle tentative : {self.scheduled}",
            f"Envoyées : {self.sent}",
            f"Abandonnées après {MAX_ATTEMPTS} tentatives : {self.failed}",
        ]
        if self.oldest_waiting is not None:
            lines.append(f"Plus ancienne en attente : {self.oldest_waiting.isoformat()}")
        return lines


def status(session: Session, now: datetime, *, enabled: bool = True) -> OutboxStatus:
    def count(*conditions: object) -> int:
        return session.scalar(select(func.count(Notification.id)).where(*conditions)) or 0

    waiting = (Notification.sent_at.is_(None), Notification.failed.is_(False))
    return OutboxStatus(
        enabled=enabled,
        due=count(*waiting, Notification.next_attempt_at <= now),
        scheduled=count(*waiting, Notification.next_attempt_at > now),
        sent=count(Notification.sent_at.is_not(None)),
        failed=count(Notification.failed.is_(True)),
        oldest_waiting=session.scalar(select(func.min(Notification.created_at)).where(*waiting)),
    )
