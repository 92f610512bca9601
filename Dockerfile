# KubeProxy Lab container: `docker build -t kube-proxy-lab .` then
# `docker run -p 8000:8000 kube-proxy-lab`. Another base: `--build-arg BASE=python:3.12-slim`.
# Any Debian-like base with python3 (and its venv module) works: `make docker-test` builds on a
# debootstrapped Debian bookworm when Docker Hub is out of reach.
ARG BASE=python:3.11-slim

# Build stage: the virtual environment with the app and its dependencies.
FROM ${BASE} AS build
# Marks this stage's leftovers so `make docker-test` can remove them.
LABEL kube-proxy-lab.stage=build
# Where pip finds packages, for builds behind a private index or a TLS-inspecting proxy. Declared
# without values, so an unset one stays unset (an empty PIP_INDEX_URL would break pip). They live
# in this stage only: the runtime image's history does not carry them.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
ARG PIP_CERT
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
# python3, not python: Debian's own python3 package has no `python` command.
RUN python3 -m venv /opt/venv
COPY pyproject.toml ./
# The dependencies first, in a layer of their own: editing the app does not reinstall them.
RUN python3 -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" > /tmp/requirements.txt \
 && /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt
COPY README.md LICENSE ./
COPY app ./app
# Editable, so the package finds templates/, static/ and lessons/ beside it at /app.
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps -e .

# Runtime stage: no compilers, no pip cache, a non-root user.
FROM ${BASE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite:////var/lib/kube-proxy-lab/lab.sqlite3
RUN groupadd --system --gid 10001 lab \
 && useradd --system --uid 10001 --gid lab --home-dir /app --shell /usr/sbin/nologin lab \
 && mkdir -p /var/lib/kube-proxy-lab \
 && chown lab:lab /var/lib/kube-proxy-lab
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --chown=root:root . /app
# Nothing under /app is writable by the app: the root filesystem can be mounted read-only
# (Kubernetes readOnlyRootFilesystem) given a writable /tmp and the data volume.
USER 10001:10001
EXPOSE 8000
VOLUME ["/var/lib/kube-proxy-lab"]
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
CMD ["kube-proxy-lab", "serve", "--host", "0.0.0.0", "--port", "8000"]
