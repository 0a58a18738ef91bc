# Image for the factory fleet simulator: the CLI plus a local Mosquitto, so
# `docker run <image>` runs the quickstart scenario with no broker to set up.
FROM python:3.11-slim-bookworm

# Mosquitto from Debian, pinned to 2.0.x: broker_config/mosquitto.conf relies
# on 2.0's queueing rules (see the comments there).
RUN apt-get update \
    && apt-get install -y --no-install-recommends "mosquitto=2.0.*" \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # An installed wheel has no broker_config/ beside the package; point the
    # launcher at the copy below.
    FACTORY_SIM_BROKER_CONFIG=/app/broker_config

WORKDIR /app

# Metadata and code first, scenarios and broker config last: editing a
# scenario does not reinstall the package.
COPY pyproject.toml README.md ./
COPY simulator/ simulator/
RUN pip install --no-cache-dir . \
    && rm -rf build ./*.egg-info
COPY broker_config/ broker_config/
COPY scenarios/ scenarios/

# Files stay root-owned and read-only to the runtime user; only runs/ (the
# SQLite output and reports) is writable. Mount a volume there to keep them.
RUN groupadd --system --gid 10001 sim \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin sim \
    && mkdir runs \
    && chown 10001:10001 runs
# Numeric, so the runtime can check it is not root without reading /etc/passwd.
USER 10001:10001

ENTRYPOINT ["factory-sim"]
CMD ["run", "scenarios/quickstart.toml"]
