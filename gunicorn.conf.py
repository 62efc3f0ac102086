"""gunicorn for production (`make serve-prod`; DEPLOYMENT.md): `gunicorn -c gunicorn.conf.py
wsgi:app`. Every value can be set from the environment (the systemd unit's EnvironmentFile).

The app is not preloaded: each worker runs `create_app` itself, so it opens its own database
pool and master key and starts its own scheduler (the jobs hold database locks, so only one runs
a sweep at a time). Access lines carry no query string; with LIAISON_LOG_FORMAT=json (the
production default) the app writes its own JSON line per request (request id, endpoint, status,
duration) and gunicorn's access log is off unless GUNICORN_ACCESS_LOG asks for it.
"""

import multiprocessing
import os

_json = os.environ.get("LIAISON_LOG_FORMAT", "json").strip().lower() == "json"

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")
workers = int(os.environ.get("GUNICORN_WORKERS", str(min(4, multiprocessing.cpu_count() * 2))))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))  # a signed PDF of a large fiche
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "200"))
preload_app = False
# Only the reverse proxy may set X-Forwarded-*; the app trusts LIAISON_PROXY_COUNT hops.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
proxy_allow_ips = forwarded_allow_ips
limit_request_line = 4094
limit_request_fields = 100
umask = 0o077
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR") or None  # /dev/shm under systemd

# %(U)s is the path without its query string; %(q)s is never logged.
access_log_format = ('%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms '
                     'rid=%({x-request-id}o)s')
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "" if _json else "-") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
if _json:
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "exchange.logs.JsonFormatter"}},
        "handlers": {"stdout": {"class": "exchange.logs.StdoutHandler", "formatter": "json"}},
        "root": {"level": "INFO", "handlers": []},  # the app adds its own JSON handler
        "loggers": {
            "gunicorn.error": {"handlers": ["stdout"], "level": loglevel.upper(),
                               "propagate": False},
            # off unless GUNICORN_ACCESS_LOG asks: the app's own request line says more
            "gunicorn.access": {"handlers": ["stdout"] if accesslog else [],
                                "level": "INFO" if accesslog else "CRITICAL",
                                "propagate": False},
        },
    }
