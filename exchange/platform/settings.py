"""One frozen settings object, read from the environment and checked before the app starts.

Production mode refuses to start without a strong secret key, a database URL and a master-key
file that exists with owner-only permissions. Demo mode (what `make run` uses) creates its own
secrets under the instance folder on purpose and says so.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
MODES = ("production", "demo")
MIN_SECRET_LENGTH = 32


class SettingsError(Exception):
    """The configuration cannot start the portal; `problems` says why, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    mode: str
    instance_path: Path
    secret_key: str
    database_url: str
    master_key_file: Path
    epoch_key_dir: Path
    blob_dir: Path
    share_key_dir: Path | None = None  # None: <epoch_key_dir parent>/shares (services.py)
    blob_url: str = field(default="", repr=False)  # s3://... : an object store replaces blob_dir
    log_format: str = "plain"  # "json": one JSON line per event on stdout (exchange.platform.logs)
    base_url: str = "http://127.0.0.1:5000"
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_security: str = "none"  # "tls" (implicit, port 465), "starttls" or "none"
    smtp_ca_file: Path | None = None  # certificates trusted for the SMTP server, else the system's
    mail_from: str = "liaison@localhost"
    session_idle_minutes: int = 30
    session_lifetime_hours: int = 12
    # Sign-in throttling (exchange.accounts.throttle): the growing delay of one account from one
    # address, the same for one address over all accounts, a short delay for one account over
    # all addresses.
    login_free_failures: int = 3
    login_max_delay_minutes: int = 15
    login_memory_hours: int = 24
    login_max_failures_address: int = 20
    login_max_failures_account: int = 100
    login_account_delay_seconds: int = 10
    login_window_minutes: int = 60
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 2
    max_attachment_bytes: int = 10 * 1024 * 1024
    max_payload_bytes: int = 20 * 1024 * 1024
    audit_retention_days: int = 365
    audit_checkpoint_hours: int = 1  # the scheduler signs the audit chain's head this often
    stats_mask_threshold: int = 5
    retention_hour: int = 2
    retention_notice_days: int = 30
    proxy_count: int = 0
    scheduler: bool = True
    announcements: tuple[str, ...] = ()

    @property
    def demo(self) -> bool:
        return self.mode == "demo"

    @property
    def secure_cookies(self) -> bool:
        return not self.demo

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, require_master_file: bool = True
    ) -> Settings:
        """`require_master_file` is False only for command-line use, where `flask keys init`
        must be able to run before the master-key file exists."""
        env = os.environ if env is None else env
        mode = env.get("LIAISON_MODE", "production").strip().lower()
        if mode not in MODES:
            raise SettingsError(
                [f"LIAISON_MODE doit valoir {' ou '.join(MODES)} (reçu : {mode!r})."])
        instance = Path(env.get("LIAISON_INSTANCE", str(ROOT / "instance"))).resolve()
        if mode == "demo":
            return _demo_settings(env, instance)
        return _production_settings(env, instance, require_master_file)


SMTP_SECURITY = ("tls", "starttls", "none")
_TRUE = frozenset({"1", "true", "yes", "on", "oui"})
_FALSE = frozenset({"0", "false", "no", "off", "non"})
LOG_FORMATS = ("json", "plain")


def _received(raw: str) -> str:
    """A refused value as the message quotes it: short, never a whole pasted secret."""
    return repr(raw if len(raw) <= 40 else raw[:40] + "…")


class _Reader:
    """Reads the environment strictly: a value that does not parse, or lies outside its range,
    becomes a problem naming the variable, instead of an exception or a silent default."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str, default: str = "") -> str:
        return self.env.get(name, default)

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.env.get(name)
        if raw is None or not raw.strip():
            return default
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        self.problems.append(f"{name} doit valoir 1, true, yes, on ou 0, false, no, off "
                             f"(reçu : {_received(raw)}).")
        return default

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.env.get(name)
        if raw is None or not raw.strip():
            return default
        value = raw.strip()
        digits = value[1:] if value[:1] in "+-" else value
        if not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
            self.problems.append(f"{name} doit être un nombre entier (reçu : {_received(raw)}).")
            return default
        number = int(value)
        if not low <= number <= high:
            self.problems.append(f"{name} doit être compris entre {low} et {high} "
                                 f"(reçu : {number}).")
            return default
        return number

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        raw = self.env.get(name)
        if raw is None or not raw.strip():
            return default
        value = raw.strip().lower()
        if value not in allowed:
            self.problems.append(f"{name} doit valoir {' ou '.join(allowed)} "
                                 f"(reçu : {_received(raw)}).")
            return default
        return value


def _smtp_security(read: _Reader, port: int) -> str:
    """LIAISON_SMTP_SECURITY, else what the port implies: 465 is implicit TLS (RFC 8314), 587
    is submission with STARTTLS. LIAISON_SMTP_STARTTLS=1 is the former way to ask STARTTLS."""
    legacy = read.boolean("LIAISON_SMTP_STARTTLS", False)
    if read.text("LIAISON_SMTP_SECURITY").strip():
        security = read.choice("LIAISON_SMTP_SECURITY", "none", SMTP_SECURITY)
        if legacy and security != "starttls":
            read.problems.append("LIAISON_SMTP_STARTTLS contredit LIAISON_SMTP_SECURITY : "
                                 "n'en gardez qu'une.")
        return security
    if legacy:
        return "starttls"
    return {465: "tls", 587: "starttls"}.get(port, "none")


def _common(env: Mapping[str, str], instance: Path) -> tuple[dict[str, object], list[str]]:
    """The settings both modes read, and the problems found in them."""
    read = _Reader(env)
    mode = env.get("LIAISON_MODE", "production").strip().lower()
    smtp_host = read.text("LIAISON_SMTP_HOST").strip()
    smtp_port = read.integer("LIAISON_SMTP_PORT", 25, 1, 65535)
    smtp_security = _smtp_security(read, smtp_port)
    smtp_user = read.text("LIAISON_SMTP_USER")
    if smtp_user and smtp_security == "none" and smtp_host not in ("localhost", "127.0.0.1",
                                                                    "::1"):
        read.problems.append("LIAISON_SMTP_USER : le mot de passe SMTP ne doit pas circuler en "
                             "clair ; choisissez LIAISON_SMTP_SECURITY=tls ou starttls.")
    ca_file = read.text("LIAISON_SMTP_CA_FILE").strip()
    if ca_file and not Path(ca_file).is_file():
        read.problems.append(f"LIAISON_SMTP_CA_FILE : le fichier {ca_file} est introuvable.")
    idle = read.integer("LIAISON_SESSION_IDLE_MINUTES", 30, 1, 24 * 60)
    lifetime = read.integer("LIAISON_SESSION_LIFETIME_HOURS", 12, 1, 24)
    if idle > lifetime * 60:
        read.problems.append("LIAISON_SESSION_IDLE_MINUTES dépasse la durée de vie d'une "
                             "session (LIAISON_SESSION_LIFETIME_HOURS).")
    values: dict[str, object] = {
        "instance_path": instance,
        "base_url": read.text("LIAISON_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        "smtp_host": smtp_host,
        "smtp_port": smtp_port,
        "smtp_user": smtp_user,
        "smtp_password": read.text("LIAISON_SMTP_PASSWORD"),
        "smtp_security": smtp_security,
        "smtp_ca_file": Path(ca_file) if ca_file else None,
        "mail_from": read.text("LIAISON_MAIL_FROM", "liaison@localhost"),
        "session_idle_minutes": idle,
        "session_lifetime_hours": lifetime,
        "audit_retention_days": read.integer("LIAISON_AUDIT_RETENTION_DAYS", 365, 1, 36500),
        "audit_checkpoint_hours": read.integer("LIAISON_AUDIT_CHECKPOINT_HOURS", 1, 1, 24),
        "stats_mask_threshold": read.integer("LIAISON_STATS_MASK_THRESHOLD", 5, 1, 1000),
        "retention_hour": read.integer("LIAISON_RETENTION_HOUR", 2, 0, 23),
        "retention_notice_days": read.integer("LIAISON_RETENTION_NOTICE_DAYS", 30, 0, 3650),
        "proxy_count": read.integer("LIAISON_PROXY_COUNT", 0, 0, 10),
        "scheduler": read.boolean("LIAISON_SCHEDULER", True),
        "blob_dir": Path(read.text("LIAISON_BLOB_DIR", str(instance / "blobs"))),
        "blob_url": read.text("LIAISON_BLOB_URL").strip(),
        "share_key_dir": Path(shares) if (shares := read.text("LIAISON_SHARE_KEY_DIR").strip())
        else None,  # None: beside the epoch-key directory
        "log_format": read.choice("LIAISON_LOG_FORMAT", "plain" if mode == "demo" else "json",
                                  LOG_FORMATS),
    }
    if "LIAISON_MAX_ATTACHMENT_BYTES" in env:
        # An attachment is sealed whole: it cannot exceed what the key store seals.
        values["max_attachment_bytes"] = read.integer(
            "LIAISON_MAX_ATTACHMENT_BYTES", Settings.max_attachment_bytes, 1024,
            Settings.max_payload_bytes)
    return values, read.problems


def _production_settings(
    env: Mapping[str, str], instance: Path, require_master_file: bool
) -> Settings:
    common, problems = _common(env, instance)
    secret = env.get("LIAISON_SECRET_KEY", "")
    if not secret:
        problems.append("LIAISON_SECRET_KEY est absente : fournissez une clé aléatoire d'au moins "
                        f"{MIN_SECRET_LENGTH} caractères (python -c 'import secrets; "
                        "print(secrets.token_urlsafe(48))').")
    elif weak_secret(secret):
        problems.append(f"LIAISON_SECRET_KEY est trop faible : au moins {MIN_SECRET_LENGTH} "
                        "caractères aléatoires sont exigés.")
    url = env.get("LIAISON_DATABASE_URL", "")
    if not url:
        problems.append("LIAISON_DATABASE_URL est absente (ex. postgresql+psycopg://liaison@/liaison).")
    else:
        problems.extend(database_url_problems(url))
    master = env.get("LIAISON_MASTER_KEY_FILE", "")
    if not master:
        problems.append("LIAISON_MASTER_KEY_FILE est absente : chemin du fichier de clé maîtresse, "
                        "hors de la base (créé par « flask keys init »).")
    elif require_master_file or Path(master).exists():
        problems.extend(master_key_file_problems(Path(master)))
    if problems:
        raise SettingsError(["Démarrage refusé en mode production :", *problems])
    master_path = Path(master)
    return Settings(
        mode="production",
        secret_key=secret,
        database_url=url,
        master_key_file=master_path,
        epoch_key_dir=Path(env.get("LIAISON_EPOCH_KEY_DIR", str(master_path.parent / "epochs"))),
        **common,  # type: ignore[arg-type]
    )


def _demo_settings(env: Mapping[str, str], instance: Path) -> Settings:
    common, problems = _common(env, instance)
    if problems:  # before anything is written to the instance folder
        raise SettingsError(["Démarrage refusé :", *problems])
    instance.mkdir(parents=True, exist_ok=True, mode=0o700)
    announcements: list[str] = []
    secret = env.get("LIAISON_SECRET_KEY", "")
    if not secret:
        secret_file = instance / "secret_key"
        if not secret_file.exists():
            _write_private(secret_file, secrets.token_urlsafe(48))
            announcements.append(f"Mode démo : clé secrète de session générée dans {secret_file}.")
        secret = secret_file.read_text().strip()
    url = env.get("LIAISON_DATABASE_URL", f"sqlite:///{instance / 'liaison.db'}")
    master = Path(env.get("LIAISON_MASTER_KEY_FILE", str(instance / "keys" / "master.key")))
    if not master.exists():
        announcements.append(f"Mode démo : la clé maîtresse sera générée dans {master}.")
    return Settings(
        mode="demo",
        secret_key=secret,
        database_url=url,
        master_key_file=master,
        epoch_key_dir=Path(env.get("LIAISON_EPOCH_KEY_DIR", str(master.parent / "epochs"))),
        announcements=tuple(announcements),
        **common,  # type: ignore[arg-type]
    )


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")


def weak_secret(secret: str) -> bool:
    """Too short, or too few distinct characters to be random."""
    return len(secret) < MIN_SECRET_LENGTH or len(set(secret)) < 12


def database_url_problems(url: str) -> list[str]:
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    if scheme not in ("sqlite", "postgresql"):
        return [f"LIAISON_DATABASE_URL : base {scheme!r} non prise en charge "
                "(sqlite ou postgresql)."]
    if scheme == "sqlite" and parts.path in ("", "/", "/:memory:"):
        return ["LIAISON_DATABASE_URL : une base SQLite en mémoire ne convient pas "
                "à la production."]
    if scheme == "postgresql" and parts.password is not None and weak_password(parts.password):
        return ["LIAISON_DATABASE_URL : le mot de passe de la base est trop faible "
                "(12 caractères au moins, ou une authentification par socket local)."]
    return []


def weak_password(password: str) -> bool:
    return len(password) < 12 or password.casefold() in {"postgres", "password", "liaison"}


def master_key_file_problems(path: Path) -> list[str]:
    if not path.is_file():
        return [f"LIAISON_MASTER_KEY_FILE : le fichier {path} est introuvable "
                "(créez-le avec « flask keys init »)."]
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return [f"LIAISON_MASTER_KEY_FILE : {path} est lisible par d'autres comptes "
                f"(droits {oct(mode)}) ; exigé : 0600."]
    return []
