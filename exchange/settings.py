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

ROOT = Path(__file__).resolve().parent.parent
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
    blob_url: str = field(default="", repr=False)  # s3://... : an object store replaces blob_dir
    log_format: str = "plain"  # "json": one JSON line per event on stdout (exchange.logs)
    base_url: str = "http://127.0.0.1:5000"
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_starttls: bool = False
    mail_from: str = "liaison@localhost"
    session_idle_minutes: int = 30
    session_lifetime_hours: int = 12
    login_max_failures_account: int = 5
    login_max_failures_address: int = 20
    login_window_minutes: int = 15
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 2
    max_attachment_bytes: int = 10 * 1024 * 1024
    max_payload_bytes: int = 20 * 1024 * 1024
    audit_retention_days: int = 365
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


def _common(env: Mapping[str, str], instance: Path) -> dict[str, object]:
    values: dict[str, object] = {
        "instance_path": instance,
        "base_url": env.get("LIAISON_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        "smtp_host": env.get("LIAISON_SMTP_HOST", ""),
        "smtp_port": int(env.get("LIAISON_SMTP_PORT", "25")),
        "smtp_user": env.get("LIAISON_SMTP_USER", ""),
        "smtp_password": env.get("LIAISON_SMTP_PASSWORD", ""),
        "smtp_starttls": env.get("LIAISON_SMTP_STARTTLS", "") in ("1", "true", "yes"),
        "mail_from": env.get("LIAISON_MAIL_FROM", "liaison@localhost"),
        "session_idle_minutes": int(env.get("LIAISON_SESSION_IDLE_MINUTES", "30")),
        "session_lifetime_hours": int(env.get("LIAISON_SESSION_LIFETIME_HOURS", "12")),
        "audit_retention_days": int(env.get("LIAISON_AUDIT_RETENTION_DAYS", "365")),
        "stats_mask_threshold": int(env.get("LIAISON_STATS_MASK_THRESHOLD", "5")),
        "retention_hour": int(env.get("LIAISON_RETENTION_HOUR", "2")),
        "retention_notice_days": int(env.get("LIAISON_RETENTION_NOTICE_DAYS", "30")),
        "proxy_count": int(env.get("LIAISON_PROXY_COUNT", "0")),
        "scheduler": env.get("LIAISON_SCHEDULER", "1") not in ("0", "false", "no"),
        "blob_dir": Path(env.get("LIAISON_BLOB_DIR", str(instance / "blobs"))),
        "blob_url": env.get("LIAISON_BLOB_URL", "").strip(),
        "log_format": env.get("LIAISON_LOG_FORMAT", "plain" if env.get(
            "LIAISON_MODE", "production").strip().lower() == "demo" else "json").strip().lower(),
    }
    if "LIAISON_MAX_ATTACHMENT_BYTES" in env:
        values["max_attachment_bytes"] = int(env["LIAISON_MAX_ATTACHMENT_BYTES"])
    return values


def _production_settings(
    env: Mapping[str, str], instance: Path, require_master_file: bool
) -> Settings:
    problems: list[str] = []
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
        **_common(env, instance),  # type: ignore[arg-type]
    )


def _demo_settings(env: Mapping[str, str], instance: Path) -> Settings:
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
        **_common(env, instance),  # type: ignore[arg-type]
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
