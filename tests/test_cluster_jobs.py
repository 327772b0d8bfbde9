"""Job submission through the Ray Jobs API, on a real local cluster started by infra/local/ray-cluster.sh,
plus the pure parts: addresses, auth tokens, entrypoints, staging and the multi-node storage check."""

from __future__ import annotations

import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from arena.cluster import connection, jobs
from arena.errors import ArenaError, SpecError

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "infra" / "local" / "ray-cluster.sh"
TINY_SPEC = """\
name: t
model: resnet18
data: {dataset: synthetic, image_size: 32, num_classes: 4, train_size: 16, val_size: 8}
train: {epochs: 1, batch_size: 8}
"""


# ---- pure parts -------------------------------------------------------------------------------


def test_resolve_address_prefers_the_explicit_one() -> None:
    env = {"RAY_API_SERVER_ADDRESS": "http://api:8265", "RAY_ADDRESS": "http://other:8265"}
    assert connection.resolve_address("10.0.0.5:8265/", env) == "http://10.0.0.5:8265"
    assert connection.resolve_address(None, env) == "http://api:8265"
    assert connection.resolve_address(None, {"RAY_ADDRESS": "https://head:8265"}) == "https://head:8265"
    assert connection.resolve_address(None, {}) == connection.DEFAULT_ADDRESS


def test_resolve_address_refuses_a_gcs_address() -> None:
    with pytest.raises(ArenaError, match="RAY_ADDRESS=10.0.0.5:6379 .*--address"):
        connection.resolve_address(None, {"RAY_ADDRESS": "10.0.0.5:6379"})


def test_auth_token_follows_rays_order(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    assert connection.auth_token({"RAY_AUTH_TOKEN": "direct", "RAY_AUTH_TOKEN_PATH": str(token_file)}) == "direct"
    assert connection.auth_token({"RAY_AUTH_TOKEN_PATH": str(token_file)}) == "from-file"
    assert connection.auth_token({"RAY_AUTH_TOKEN_PATH": str(tmp_path / "missing")}) is None
    assert connection.auth_headers({"RAY_AUTH_TOKEN": "direct"}) == {"Authorization": "Bearer direct"}


def test_train_entrypoint_is_arena_train_with_quoted_overrides() -> None:
    command = jobs.train_entrypoint("jobs/t.yaml", ["train.epochs=3", "name=a b"])
    assert command.startswith("python -m arena.cli train jobs/t.yaml")
    assert shlex.split(command)[-4:] == ["--set", "train.epochs=3", "--set", "name=a b"]


def test_staging_carries_arena_source_and_spec(tmp_path: Path) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY_SPEC)
    staged = tmp_path / "stage"
    relative = jobs.stage_job_files(spec, staged)
    assert (staged / relative).read_text() == TINY_SPEC
    assert (staged / "arena" / "spec.py").is_file() and (staged / "arena" / "cluster" / "jobs.py").is_file()
    assert not list(staged.rglob("__pycache__")) and not list(staged.rglob("*.pyc"))


def test_unreachable_address_is_one_clear_error() -> None:
    with pytest.raises(ArenaError, match=r"cannot reach the Ray cluster at http://127\.0\.0\.1:9: connection refused"):
        jobs.list_jobs("http://127.0.0.1:9")


def test_bad_spec_fails_before_any_connection(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(TINY_SPEC.replace("epochs: 1", "epoch: 1"))
    with pytest.raises(SpecError, match="train.epoch"):
        jobs.submit_job(spec, "http://127.0.0.1:9")  # no cluster there: validation must come first


SEARCH_SPEC = """\
name: {name}
base:
  name: {name}
  {model}
  data: {{dataset: digits, image_size: 16, holdout: 200}}
  train: {{epochs: 1, batch_size: 16}}
{extra}
"""


@pytest.mark.parametrize("model, extra, kind", [
    ("model: efficientnet_b0", "", "scaling"), ("", "objective: {kind: flops, target: 0.002}", "nas"),
])
def test_a_search_spec_is_told_from_its_fields_and_runs_its_search_on_the_cluster(
    arena_env, tmp_path: Path, model: str, extra: str, kind: str
) -> None:
    from arena.cli.cluster import spec_file
    from arena.spec import spec_file_kind

    path = tmp_path / "search.yaml"
    path.write_text(SEARCH_SPEC.format(name="s", model=model, extra=extra))
    assert spec_file_kind(path) == kind
    staged = spec_file(path, ["base.train.epochs=2"], ["--resume", "a" * 32])
    assert (staged.kind, staged.name) == (kind, "s")
    words = shlex.split(staged.entrypoint("jobs/search.yaml"))
    assert words[:6] == ["python", "-m", "arena.cli", "search", kind, "jobs/search.yaml"]
    assert words[6:] == ["--set", "base.train.epochs=2", "--resume", "a" * 32]
    job = tmp_path / "job.yaml"
    job.write_text(TINY_SPEC)
    assert spec_file_kind(job) == "job" and spec_file(job, []).command == ("train",)


def test_a_bad_search_spec_is_refused_before_anything_is_sent(arena_env, tmp_path: Path) -> None:
    path = tmp_path / "search.yaml"
    path.write_text(SEARCH_SPEC.format(name="s", model="", extra="objective: {kind: speed, target: 0.002}"))
    env = {**os.environ, "RAY_AUTH_TOKEN": "t"}
    done = subprocess.run([sys.executable, "-m", "arena.cli", "submit", str(path), "--address", "http://127.0.0.1:9"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "objective.kind" in done.stderr and "Traceback" not in done.stderr and "127.0.0.1:9" not in done.stderr


def test_an_evaluation_result_comes_back_from_its_job_log_line() -> None:
    from arena.cluster.remote import parse_result, result_line
    from arena.evaluation import ClassError, EvaluationResult

    row = ClassError(index=0, folder="n01440764", name="tench", images=4, errors=1, top1_error=25.0, top5_error=0.0)
    result = EvaluationResult(run_id="a" * 32, eval_run_id="b" * 32, val_top1_error=25.0, val_top5_error=0.0, epochs=3,
                              per_class=[row], hardest=[row], crops=10, images=4)
    logs = f"evaluating...\n{result_line(result.to_json())}\njob done\n"
    assert EvaluationResult.from_json(parse_result(logs)) == result
    assert parse_result("no result here\n") is None


# ---- a real local cluster: head + one worker node, token auth on ---------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """infra/local/ray-cluster.sh with a head (no CPUs) and one worker node; yields the Jobs API URL."""
    folder = Path(tempfile.mkdtemp(prefix="arena-rc-", dir="/tmp"))  # Ray's socket paths must stay short
    base = random.randrange(21000, 31000, 1000)
    dashboard = base + 8  # inside the head's block, below its worker ports (base + 100 ...)
    env = {
        **os.environ,
        "ARENA_RAY_CLUSTER_DIR": str(folder / "c"),
        "ARENA_RAY_WORKERS": "1",
        "ARENA_RAY_HEAD_CPUS": "0",
        "ARENA_RAY_WORKER_CPUS": "2",
        "ARENA_RAY_PORT": str(base + 7),
        "ARENA_RAY_DASHBOARD_PORT": str(dashboard),
        "ARENA_RAY_PORT_BASE": str(base),
        "RAY_AUTH_TOKEN_PATH": str(folder / "token"),
        "RAY": str(Path(sys.executable).parent / "ray"),
    }
    env.pop("RAY_AUTH_TOKEN", None)
    saved = {name: os.environ.get(name) for name in ("RAY_AUTH_TOKEN_PATH", "RAY_AUTH_TOKEN")}
    try:
        started = subprocess.run(["bash", str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=300)
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"RAY_API_SERVER_ADDRESS=http://127.0.0.1:{dashboard}" in started.stdout
        os.environ["RAY_AUTH_TOKEN_PATH"] = env["RAY_AUTH_TOKEN_PATH"]
        os.environ.pop("RAY_AUTH_TOKEN", None)
        yield f"http://127.0.0.1:{dashboard}"
    finally:
        stopped = subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=300)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        assert stopped.returncode == 0, stopped.stderr
        leftovers = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout
        assert str(folder) not in leftovers, "ray-cluster.sh stop left processes behind"
        shutil.rmtree(folder, ignore_errors=True)


def python_job(code: str) -> str:
    return shlex.join(["python", "-c", code])


def wait(address: str, job_id: str, timeout: float = 180) -> str:
    return jobs.wait_for_job(connection.connect(address), job_id, timeout_seconds=timeout)


@pytest.mark.ray
@pytest.mark.slow
def test_job_sees_arena_source_settings_and_both_nodes(cluster: str, tmp_path: Path) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY_SPEC)
    staging = tmp_path / "stage"
    jobs.stage_job_files(spec, staging)
    code = (
        "import os, arena, ray; ray.init(); "
        "print('SOURCE', arena.__file__); print('STORAGE', os.environ['ARENA_STORAGE']); "
        "print('NODES', len([n for n in ray.nodes() if n['Alive']]))"
    )
    job_id = jobs.submit_entrypoint(
        cluster, python_job(code), working_dir=staging, env_vars={"ARENA_STORAGE": "s3://bucket/x"},
        metadata={"arena_spec": "probe"},
    )
    lines: list[str] = []
    status = jobs.wait_for_job(connection.connect(cluster), job_id, follow_logs=True, printer=lines.append, timeout_seconds=180)
    logs = "\n".join(lines)
    assert status == "SUCCEEDED", logs
    assert "STORAGE s3://bucket/x" in logs and "NODES 2" in logs
    source = next(line for line in lines if line.startswith("SOURCE"))
    assert str(REPO / "platform") not in source, "the job imported the installed arena, not the shipped source"
    assert any(job["job_id"] == job_id and job["spec"] == "probe" for job in jobs.list_jobs(cluster))
    assert jobs.job_status(cluster, job_id)["status"] == "SUCCEEDED"
    assert "NODES 2" in "".join(jobs.job_logs(cluster, job_id))


@pytest.mark.ray
@pytest.mark.slow
def test_stop_a_running_job(cluster: str) -> None:
    job_id = jobs.submit_entrypoint(cluster, python_job("import time; print('started', flush=True); time.sleep(600)"))
    deadline = time.monotonic() + 120
    while jobs.job_status(cluster, job_id)["status"] != "RUNNING":
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(1)
    assert jobs.stop_job(cluster, job_id) is True
    assert wait(cluster, job_id) == "STOPPED"
    assert jobs.stop_job(cluster, job_id) is False


@pytest.mark.ray
@pytest.mark.slow
def test_bad_spec_submits_nothing(cluster: str, tmp_path: Path) -> None:
    before = jobs.list_jobs(cluster)
    spec = tmp_path / "bad.yaml"
    spec.write_text(TINY_SPEC.replace("resnet18", "resnet18\nlayers: 3"))
    with pytest.raises(SpecError, match="layers"):
        jobs.submit_job(spec, cluster)
    assert jobs.list_jobs(cluster) == before


@pytest.mark.ray
@pytest.mark.slow
def test_unknown_job_and_wrong_token_are_clear_errors(cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ArenaError, match=f"no job 'raysubmit_nope' on the Ray cluster at {cluster}"):
        jobs.job_status(cluster, "raysubmit_nope")
    with pytest.raises(ArenaError, match="no job"):
        list(jobs.job_logs(cluster, "raysubmit_nope"))
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-the-token")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(wrong))
    with pytest.raises(ArenaError, match=f"the Ray cluster at {cluster} refused arena's credentials"):
        jobs.list_jobs(cluster)


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_submitted_spec_trains_to_success(cluster: str, tmp_path: Path, arena_env) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY_SPEC)
    job_id = jobs.submit_job(spec, cluster, ["train.max_steps_per_epoch=1"]).job_id
    status = wait(cluster, job_id, timeout=800)
    logs = "".join(jobs.job_logs(cluster, job_id))
    assert status == "SUCCEEDED", logs[-3000:]
    assert "python -m arena.cli train jobs/tiny.yaml --set train.max_steps_per_epoch=1" in logs
    import mlflow

    runs = mlflow.MlflowClient(arena_env.tracking_uri).search_runs(
        [e.experiment_id for e in mlflow.MlflowClient(arena_env.tracking_uri).search_experiments()],
        filter_string="attributes.run_name = 't'",
    )
    assert [run.info.status for run in runs] == ["FINISHED"], "the job did not record its run where the settings said"
    record = jobs.job_status(cluster, job_id)
    assert (record["spec"], record["model"]) == ("t", "resnet18")
