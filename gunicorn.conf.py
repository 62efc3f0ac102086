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
# SQLite (the embedded mode) has one write lock, which other processes can only poll for: one
# worker per core. PostgreSQL's waits are row locks and round trips, which other workers fill:
# two per core. At most 4 either way (bench/bench_load.py on 2 cores: SQLite served more
# requests, with a lower p99, with 2 workers than with 4; PostgreSQL with 4 than with 2).
_cores = multiprocessing.cpu_count()
_sqlite = (os.environ.get("LIAISON_DATABASE_URL") or "sqlite").startswith("sqlite")
workers = int(os.environ.get("GUNICORN_WORKERS", str(min(4, _cores if _sqlite else 2 * _cores))))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# A gthread worker accepts connections while it holds fewer than worker_connections (1000 by
# default), whether or not a thread is free, and keeps a keep-alive connection for as long as its
# client sends on it: in a load run one worker ended up with nearly every connection and did the
# work on one core while the others idled. A worker that holds only as many connections as it
# has threads, each closed after its response (keepalive 0), takes a request only when it can
# start it, and the listening socket's queue is the one queue every worker serves. The proxy in
# front (nginx) then opens a connection per request to the app, on the loopback or the private
# network. GUNICORN_KEEPALIVE needs GUNICORN_WORKER_CONNECTIONS above GUNICORN_THREADS.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", str(threads)))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))  # a signed PDF of a large fiche
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "0"))
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
        "formatters": {"json": {"()": "exchange.platform.logs.JsonFormatter"}},
        "handlers": {"stdout": {"class": "exchange.platform.logs.StdoutHandler",
                                "formatter": "json"}},
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
