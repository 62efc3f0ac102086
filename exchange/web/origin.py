"""Where a state-changing request comes from: the second half of the CSRF defence, beside the
synchronizer token that Flask-WTF checks on every form.

A POST (or PUT, PATCH, DELETE) is accepted only when the browser says it was sent by a page of
the portal itself:

- an `Origin` header equal to the origin of LIAISON_BASE_URL (scheme, host, port); or,
- when the browser sends no usable `Origin` (absent, or `null`), `Sec-Fetch-Site: same-origin`;
- in production, a request carrying neither is refused: every browser the portal supports sends
  one of them on a form submission, so only a non-browser client or a stripped request lacks both.

In demo mode (plain HTTP on 127.0.0.1, any port) the request's own origin is accepted too, and a
request with neither header (the Flask test client, curl) passes on the token alone.

Flask-WTF's HTTPS check (`WTF_CSRF_SSL_STRICT`) reads `Referer` instead. It is turned off: a
Referer is dropped by privacy settings, extensions and proxies, and it compares with the `Host`
header rather than the configured address. A refusal raises Flask-WTF's CSRFError, so it ends on
the same French page and the same `csrf.refused` audit event as a bad token. A future API
authenticated by bearer tokens, exempt from the form token, must be exempt here as well.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Flask, request
from flask_wtf.csrf import CSRFError

from exchange.platform.settings import Settings

log = logging.getLogger("liaison.web")

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` as a browser serialises it (lowercase, default port left out), or
    None when `url` is not an http(s) URL with a host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def refusal(origin: str | None, fetch_site: str | None, allowed: frozenset[str], *,
            require: bool) -> str | None:
    """Why a state-changing request must be refused, or None to let it through.

    `origin` and `fetch_site` are the raw `Origin` and `Sec-Fetch-Site` headers; `require` says
    whether a request carrying neither is refused (production) or left to the token (demo)."""
    if origin is not None and origin.strip().lower() != "null":
        return None if origin_of(origin) in allowed else "Origin of another site"
    # `Origin: null` comes from opaque contexts (sandboxed frames, data: URLs) and from pages
    # whose referrer policy is no-referrer: it proves nothing, so Fetch Metadata decides.
    if fetch_site is not None:
        return None if fetch_site.strip().lower() == "same-origin" else \
            f"Sec-Fetch-Site {fetch_site.strip()[:20]!r}"
    return "neither Origin nor Sec-Fetch-Site" if require else None


def init_app(app: Flask, settings: Settings) -> None:
    configured = origin_of(settings.base_url)
    if configured is None:
        raise ValueError(f"LIAISON_BASE_URL n'est pas une adresse http(s) : {settings.base_url!r}")
    if not settings.demo and not configured.startswith("https://"):
        log.warning("LIAISON_BASE_URL is %s: forms are accepted only from that origin, and "
                    "production is served over HTTPS", configured)
    methods = frozenset(app.config.get("WTF_CSRF_METHODS") or _UNSAFE_METHODS)

    @app.before_request
    def check_origin() -> None:
        if request.method not in methods or request.endpoint is None:
            return  # no route: the 404 answers, as Flask-WTF's token check also lets it
        allowed = {configured}
        if settings.demo:
            own = origin_of(request.host_url)
            if own is not None:
                allowed.add(own)
        reason = refusal(request.headers.get("Origin"), request.headers.get("Sec-Fetch-Site"),
                         frozenset(allowed), require=not settings.demo)
        if reason is not None:
            log.warning("csrf: request refused (%s; expected origin %s)", reason, configured)
            raise CSRFError(reason)
