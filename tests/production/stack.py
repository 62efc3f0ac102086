"""The pieces of a production deployment that the journey starts and stops itself: a throwaway
certificate authority and its trust in Chromium's NSS database, nginx from Debian's package
configured from deploy/nginx/liaison.conf, gunicorn with gunicorn.conf.py, a local SMTP server.

Every process runs as the current user in a temporary folder, on free loopback ports, writes
its output to a log file there, and is stopped by its process id at the end.
"""

from __future__ import annotations

import grp
import ipaddress
import os
import pwd
import re
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from exchange.platform.settings import ROOT

NGINX = Path("/usr/sbin/nginx")
CERTUTIL = "certutil"
SITE_TEMPLATE = ROOT / "deploy" / "nginx" / "liaison.conf"
_PLACEHOLDER = re.compile(r"\$\{(LIAISON_NGINX_[A-Z_]+)\}")


class StackError(Exception):
    """A piece of the deployment did not start; the message says which and shows its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path} is empty)"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


def run(command: list[str], *, env: dict[str, str], what: str, cwd: Path = ROOT,
        timeout: float = 120) -> str:
    """A command that must succeed; its output is the failure message otherwise."""
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if done.returncode != 0:
        raise StackError(f"{what} failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


# -- TLS ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tls:
    ca: Path
    certificate: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Liaison (tests)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_tls(folder: Path) -> Tls:
    """A certificate authority made for this run, and the certificate of 127.0.0.1 and
    localhost that it issues. Valid for one day; the CA key is never written."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = datetime.now(UTC) - timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder()
          .subject_name(_name("Liaison test CA")).issuer_name(_name("Liaison test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(now + timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(
              digital_signature=False, content_commitment=False, key_encipherment=False,
              data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
              encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256()))
    tls = Tls(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    tls.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    tls.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    fd = os.open(tls.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return tls


def trust_in_nss(home: Path, ca: Path) -> None:
    """Chromium on Linux trusts the anchors of $HOME/.pki/nssdb: a fresh database for a
    throwaway HOME, holding only this run's CA."""
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True, mode=0o700)
    env = {**os.environ, "HOME": str(home)}
    run([CERTUTIL, "-N", "-d", f"sql:{nssdb}", "--empty-password"], env=env,
        what="certutil -N (NSS database)")
    run([CERTUTIL, "-A", "-d", f"sql:{nssdb}", "-n", "Liaison test CA", "-t", "C,,",
         "-i", str(ca)], env=env, what="certutil -A (trust the test CA)")


def client_context(ca: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


# -- processes ---------------------------------------------------------------------------------


@dataclass
class Service:
    """A process started by the fixture, its log, and how to stop it."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    stop_signal: int = signal.SIGTERM

    def alive(self) -> bool:
        return self.process.poll() is None

    def describe(self) -> str:
        state = "running" if self.alive() else f"exited with {self.process.returncode}"
        return f"{self.name} ({state}), last lines of {self.log}:\n{tail(self.log)}"

    def stop(self, timeout: float = 20) -> None:
        """The signal to the process group it leads (its workers), then SIGKILL if needed."""
        if self.alive():
            try:
                os.killpg(self.process.pid, self.stop_signal)
            except ProcessLookupError:
                pass
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)


def start(name: str, command: list[str], *, env: dict[str, str], log: Path,
          stop_signal: int = signal.SIGTERM) -> Service:
    handle = log.open("ab")
    try:
        # Its own session: stop() signals the group it leads, workers included, and nothing else.
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    finally:
        handle.close()
    return Service(name, process, log, stop_signal)


def wait_until(check: Callable[[], bool], *, what: str, timeout: float,
               services: list[Service]) -> None:
    """Polls `check` until true; fails early, with the logs, when a service died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [service for service in services if not service.alive()]
        if dead:
            raise StackError(f"{what}: a process stopped.\n" +
                             "\n\n".join(service.describe() for service in dead))
        if check():
            return
        time.sleep(0.2)
    raise StackError(f"{what}: not ready after {timeout:.0f} s.\n" +
                     "\n\n".join(service.describe() for service in services))


def https_request(url: str, context: ssl.SSLContext, *, method: str = "GET",
                  data: bytes | None = None) -> tuple[int, str]:
    """Status and body; (0, reason) when nothing answers."""
    if not url.startswith("https://"):
        raise StackError(f"not an https URL: {url}")
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if data is not None else {}
    request = Request(url, data=data, method=method, headers=headers)  # noqa: S310 - https only
    try:
        with urlopen(request, context=context, timeout=5) as response:  # noqa: S310
            return int(response.status), response.read().decode("utf-8", "replace")
    except HTTPError as error:
        return int(error.code), error.read().decode("utf-8", "replace")
    except (URLError, OSError) as error:
        return 0, str(error)


# -- nginx -------------------------------------------------------------------------------------


def render_site(values: dict[str, str], template: Path = SITE_TEMPLATE) -> str:
    """deploy/nginx/liaison.conf with its ${LIAISON_NGINX_*} placeholders filled in by envsubst
    limited to those names, as DEPLOYMENT.md does it; nginx's own $variables are left alone."""
    text = template.read_text(encoding="utf-8")
    wanted = set(_PLACEHOLDER.findall(text))
    if wanted != set(values):
        raise StackError(f"placeholders of {template}: {sorted(wanted)}; given: {sorted(values)}")
    names = " ".join(f"${{{name}}}" for name in sorted(values))
    done = subprocess.run(["envsubst", names], input=text, env={**os.environ, **values},
                          capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise StackError(f"envsubst failed: {done.stderr}")
    if _PLACEHOLDER.search(done.stdout):
        raise StackError(f"envsubst left placeholders in {template}")
    return done.stdout


def nginx_main_conf(prefix: Path, site: Path) -> str:
    """The main configuration around the site file, as Debian's /etc/nginx/nginx.conf includes
    sites-enabled/ in its http block, with every path inside `prefix`."""
    lines = []
    if os.geteuid() == 0:
        # As root, nginx would hand its workers to `nobody`; they stay the current user, who
        # owns the gunicorn socket (umask 077) and the temporary folders.
        user = pwd.getpwuid(os.geteuid()).pw_name
        group = grp.getgrgid(os.getegid()).gr_name
        lines.append(f"user {user} {group};")
    lines += [
        "daemon off;",
        "worker_processes 1;",
        f"pid {prefix}/nginx.pid;",
        f"error_log {prefix}/logs/error.log notice;",
        "events { worker_connections 256; }",
        "http {",
        "    include /etc/nginx/mime.types;",
        "    default_type application/octet-stream;",
        f"    access_log {prefix}/logs/other.log;",
        f"    client_body_temp_path {prefix}/temp/body;",
        f"    proxy_temp_path {prefix}/temp/proxy;",
        f"    fastcgi_temp_path {prefix}/temp/fastcgi;",
        f"    uwsgi_temp_path {prefix}/temp/uwsgi;",
        f"    scgi_temp_path {prefix}/temp/scgi;",
        f"    include {site};",
        "}",
    ]
    return "\n".join(lines) + "\n"


# -- mail --------------------------------------------------------------------------------------


@dataclass
class Inbox:
    """aiosmtpd handler keeping every message it accepts."""

    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object,  # noqa: N802
                          envelope: object) -> str:
        self.messages.append(message_from_bytes(envelope.content))  # type: ignore[attr-defined]
        return "250 Message accepted for delivery"
