# Board of One (bo1d) — five stages on debian:bookworm-slim.
#
#   base          runtime libraries only (shared by production)
#   dependencies  toolchain and -dev packages; depends on no project file, so this
#                 layer is rebuilt only when this Dockerfile changes
#   build         the source, configured and compiled with meson (release)
#   development   dependencies + debugging tools; the source is mounted at /src and
#                 rebuilt incrementally at start (see compose.yaml)
#   testing       the build plus redis-server; its command runs the test suite
#   production    bo1d, zzz_important/, runtime libraries, user bo1user (uid 1000)
#
# Build one stage:  docker build --target production -t bo1:prod .
# Without a registry the base image is made locally: see scripts/docker-smoke.

ARG DEBIAN_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS base
# Versions come from the Debian release the base image pins (bookworm).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        ca-certificates curl tini \
        libmicrohttpd12 libjansson4 libcurl4 libhiredis0.14 libuv1 \
 && rm -rf /var/lib/apt/lists/*
ENV LANG=C.UTF-8

# ---------------------------------------------------------------------------
FROM base AS dependencies
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        gcc libc6-dev meson ninja-build pkg-config \
        libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libhiredis-dev libuv1-dev \
        check \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# ---------------------------------------------------------------------------
FROM dependencies AS build
ARG BUILDTYPE=release
COPY . /src
# The runtime data directory may not exist in every checkout; an empty one keeps the
# later COPY valid (bo1d then reports the missing files itself).
# Only the programs are compiled here (the production image waits for nothing else);
# the testing stage compiles the tests on top of this build directory.
RUN mkdir -p /src/zzz_important /out \
 && meson setup /build --buildtype="${BUILDTYPE}" -Db_ndebug=if-release \
 && ninja -C /build bo1d \
 && install -m 0755 /build/bo1d /out/bo1d \
 && if ninja -C /build -t targets all | grep -q '^src/fake/bo1-fake-llm:'; then \
        ninja -C /build src/fake/bo1-fake-llm \
        && install -m 0755 /build/src/fake/bo1-fake-llm /out/bo1-fake-llm; fi \
 && strip /out/*

# ---------------------------------------------------------------------------
FROM dependencies AS development
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends gdb redis-tools procps \
 && rm -rf /var/lib/apt/lists/*
ENV BO1_ENV=development \
    BO1_DATA_DIR=/src/zzz_important \
    BO1_EXPORTS_DIR=/src/exports \
    PORT=8000
EXPOSE 8000
# /src is a bind mount of the checkout; /build a named volume, so a restart only
# recompiles what changed.
ENTRYPOINT ["/usr/bin/tini", "--", "/src/scripts/docker-dev-entry"]

# ---------------------------------------------------------------------------
FROM build AS testing
# The integration tests start their own redis-server.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/*
ENV BO1_SOURCE_ROOT=/src
RUN ninja -C /build
CMD ["meson", "test", "-C", "/build", "--print-errorlogs", "--no-rebuild"]

# ---------------------------------------------------------------------------
FROM base AS production
ARG BO1_VERSION=dev
LABEL org.opencontainers.image.title="bo1d" \
      org.opencontainers.image.description="Board of One deliberation API server" \
      org.opencontainers.image.version="${BO1_VERSION}"
RUN groupadd --gid 1000 bo1user \
 && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /app \
        --shell /usr/sbin/nologin bo1user \
 && mkdir -p /app/exports \
 && chown 1000:1000 /app/exports
# Only the server: the fake model provider stays in the build and testing stages.
COPY --from=build /out/bo1d /usr/local/bin/bo1d
COPY --from=build /src/zzz_important/ /app/zzz_important/
WORKDIR /app
ENV BO1_ENV=production \
    BO1_DATA_DIR=/app/zzz_important \
    BO1_EXPORTS_DIR=/app/exports \
    PORT=8000
USER 1000:1000
EXPOSE 8000
# No --start-period here (bo1d serves /health well under a second after start, and
# dockerfilelint 1.8 misreads the option); the compose files set start_period.
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD curl -fsS -o /dev/null "http://127.0.0.1:${PORT}/health" || exit 1
# bo1d drains on SIGTERM (≤ 30 s); tini forwards the signal and reaps.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/bo1d"]
