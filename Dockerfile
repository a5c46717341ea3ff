# Roomful Meetings server image. Unbuilt in the project's own CI (no Docker daemon there):
# tests/test_container.py lints this file with hadolint and checks its structure.
#
#   docker build -t roomful-meetings .
#   docker run -e ROOMFUL_REDIS_URL=redis://redis:6379/0 -e ROOMFUL_JWT_SECRET=... -p 8765:8765 roomful-meetings
#
# The image has no Redis of its own: ROOMFUL_REDIS_URL is required (compose.yaml runs one).
# Calendar feeds need ROOMFUL_PUBLIC_BASE_URL (the https:// address calendar apps reach):
# listening on 0.0.0.0, the server has no address of its own to put in feed URLs (503).

FROM python:3.12-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY roomful_meetings ./roomful_meetings
COPY lua ./lua
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.12-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ROOMFUL_HOST=0.0.0.0 \
    ROOMFUL_PORT=8765 \
    ROOMFUL_HTTP_PORT=9765 \
    ROOMFUL_DATA_DIR=/var/lib/roomful-meetings
COPY --from=build /wheels /wheels
# The wheel's dependencies come from PyPI at the versions pyproject.toml allows; pin them
# with a constraints file if your builds must be reproducible.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir /wheels/*.whl \
    && rm -rf /wheels \
    && groupadd --system --gid 10001 roomful \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/roomful-meetings --create-home roomful
USER 10001:10001
WORKDIR /var/lib/roomful-meetings
EXPOSE 8765 9765
# /readyz is 200 once Redis and its pub/sub link are up, 503 while draining or cut off.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ['ROOMFUL_HTTP_PORT'], timeout=2)"]
# Exec form: the server is PID 1 and gets docker stop's SIGTERM itself, so it drains (stops
# accepting, answers what is in flight, closes with 1001, exits 0 within
# ROOMFUL_SHUTDOWN_DEADLINE, 10 s by default; give `docker stop -t` / stop_grace_period more).
STOPSIGNAL SIGTERM
CMD ["roomful-meetings", "serve"]
