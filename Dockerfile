# syntax=docker/dockerfile:1
# watcher as a container: `docker compose up -d` (compose.yaml), or
#   docker build -t watcher . && docker run --env-file watcher.env -v watcher-state:/data/state \
#     -v watcher-rules:/data/rules -v watcher-feeds:/data/feeds watcher
# What is kept lives in three volumes, owned by uid 10001, 0700: /data/state (watcher.db),
# /data/rules (the watchlist and incident types) and /data/feeds (feeds.yaml). Rules and feeds
# are folders of their own, not files in the image, because monitors edit them from the bot
# and the CLI (a lock file and an atomic replace in the same folder). On first run the
# entry point copies the shipped feeds.yaml and rules/ into empty volumes
# (contrib/docker-entrypoint.sh); later runs never touch them.
FROM python:3.11-slim

# EXTRAS: optional extras to install with watcher, e.g. --build-arg EXTRAS=encrypted for
# SQLCipher (WATCHER_DB_KEY). Empty by default: no dev or test extras in the image.
ARG EXTRAS=""
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Install the package from a copy of the source, then drop the source: only the installed
# package and its console script `watcher` stay in the image.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY watcher ./watcher
RUN pip install ".${EXTRAS:+[$EXTRAS]}" && cd / && rm -rf /src

# A system user with a fixed uid (10001), so host folders can be chowned to it before the
# container exists; no login shell, no home it could write (the root filesystem is read-only).
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin watcher \
    && mkdir -p /data/state /data/rules /data/feeds \
    && chown 10001:10001 /data/state /data/rules /data/feeds \
    && chmod 0700 /data/state /data/rules /data/feeds

WORKDIR /app
COPY feeds.yaml /app/defaults/feeds.yaml
COPY rules/ /app/defaults/rules/
# The shipped rules are a template: refuse to bake a watchlist into an image (a checkout where
# `watcher run` was used has people in rules/people.yaml; build from a clean one).
RUN python -c "import pathlib, sys; from ruamel.yaml import YAML; \
listed = [p.name for p in sorted(pathlib.Path('/app/defaults/rules').glob('*.yaml')) \
          if (YAML(typ='safe').load(p.read_text()) or {}).get('people')]; \
sys.exit(f'refused: {listed} list people; build from a clean checkout' if listed else 0)"
COPY --chmod=0755 contrib/docker-entrypoint.sh /usr/local/bin/watcher-entrypoint
COPY --chmod=0644 contrib/healthcheck.py /usr/local/lib/watcher/healthcheck.py

ENV WATCHER_STATE=/data/state \
    WATCHER_RULES=/data/rules \
    WATCHER_FEEDS=/data/feeds/feeds.yaml \
    XDG_CACHE_HOME=/tmp/cache
VOLUME ["/data/state", "/data/rules", "/data/feeds"]

USER 10001:10001

# Liveness, not set-up: healthy while some source was polled in the last 2 h (every poll,
# failed or not, writes its `last_polled`; see contrib/healthcheck.py for why this and not
# `watcher doctor --quick`, which checks the set-up and scans the whole database). The start
# period covers the first polls after a start.
HEALTHCHECK --interval=5m --timeout=30s --start-period=10m --retries=3 \
    CMD ["python", "/usr/local/lib/watcher/healthcheck.py", "7200"]

# SIGTERM (docker stop) lets polls in flight finish: give it the time (compose.yaml: 60 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["watcher-entrypoint"]
CMD ["watcher", "run"]
