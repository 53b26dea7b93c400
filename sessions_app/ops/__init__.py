"""Operating the site: health checks, Prometheus metrics, request ids and logs, static files, login lockouts.

- `health`: `/healthz` (the process answers) and `/readyz` (database reachable and migrated, Redis
  when runs queue there);
- `metrics`: `/metrics`, guarded by a token or an allowed network; `collectors` derives the run
  and cache numbers from the database at scrape time, so every process and node agrees;
  `instruments` holds what only a process can count (request latency, open event streams),
  shared across processes through prometheus_client's multiprocess mode when
  `PROMETHEUS_MULTIPROC_DIR` is set;
- `middleware` and `logs`: a request id on every request and log line, one line per request and
  per run transition, plain or JSON;
- `static_files`: WhiteNoise, answering without a thread under ASGI;
- `lockout`: what a person locked out by django-axes sees, and until when.
"""
