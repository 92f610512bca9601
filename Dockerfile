# KubeProxy Lab container: `docker build -t kube-proxy-lab .` then
# `docker run -p 8000:8000 kube-proxy-lab`. Another base: `--build-arg BASE=python:3.12-slim`.
ARG BASE=python:3.11-slim

# Build stage: the virtual environment with the app and its dependencies.
FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
RUN python -m venv /opt/venv
COPY pyproject.toml README.md LICENSE ./
COPY app ./app
# Editable, so the package finds templates/, static/ and lessons/ beside it at /app.
RUN /opt/venv/bin/pip install --no-cache-dir -e .

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
USER 10001:10001
EXPOSE 8000
VOLUME ["/var/lib/kube-proxy-lab"]
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
CMD ["kube-proxy-lab", "serve", "--host", "0.0.0.0", "--port", "8000"]
