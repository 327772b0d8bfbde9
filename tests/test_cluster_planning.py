"""What a cluster job relies on before it starts: workers planned per node, the checks' verdicts, the settings that travel."""

from __future__ import annotations

import pytest
import torch

from arena.errors import ArenaError
from arena.cluster.check import first_error_line, format_report_line, parse_report
from arena.errors import holds_secret, mask_secrets
from arena.settings import load_settings, settings_environment, travelling_settings
from arena.spec import parse_spec
from arena.training import checks, node_inspection
from arena.training.checks import tracking_is_file
from arena.training.node_inspection import NodeReport
from arena.training.placement import NodeCapacity, plan_workers

HEAD = NodeCapacity("head", "10.0.0.1", cpus=0, gpus=0)


def gpu_node(name: str, cpus: float = 8, gpus: float = 4) -> NodeCapacity:
    return NodeCapacity(name, f"10.0.0.{len(name)}", cpus, gpus)


def test_workers_are_planned_per_node_not_against_the_totals() -> None:
    nodes = [HEAD, NodeCapacity("w1", "10.0.0.2", 2, 0), NodeCapacity("w2", "10.0.0.3", 2, 0)]
    plan, problem = plan_workers(nodes, 2, None, 0)
    assert problem is None and plan.cpus_per_worker == 2  # one whole worker host each
    plan, problem = plan_workers(nodes, 3, 2, 0)  # 6 CPUs asked, 4 in total, and no node holds 2 of 2
    assert plan is None and "3 workers of 2 CPUs each do not fit" in problem and "which hold 2" in problem
    plan, problem = plan_workers(nodes, 4, None, 0)  # the head's CPUs count for nothing
    assert plan.cpus_per_worker == 1
    plan, problem = plan_workers(nodes, 5, None, 0)
    assert plan is None and "5 workers of at least 1 CPU" in problem


def test_gpus_are_counted_per_worker_and_per_node() -> None:
    nodes = [HEAD, gpu_node("gpu-a"), gpu_node("gpu-b")]
    plan, _ = plan_workers(nodes, 4, None, 2)  # 2 GPUs each: two workers on each 4-GPU node
    assert (plan.workers, plan.cpus_per_worker, plan.gpus_per_worker) == (4, 4.0, 2)
    plan, problem = plan_workers(nodes, 3, None, 3)  # 9 GPUs asked, 8 in total, and a node holds one such worker
    assert plan is None and "3 workers of at least 1 CPU and 3 GPUs each do not fit" in problem
    plan, problem = plan_workers([HEAD], 1, None, 1)  # an autoscaling cluster with no GPU node up yet
    assert plan is None and "10.0.0.1: 0 CPUs 0 GPUs" in problem


def report(node_id: str, host: str, markers: list[str], **extra: object) -> NodeReport:
    return NodeReport(node_id, host, f"10.0.0.{len(host)}-{node_id}", 1, 0, False, markers_seen=markers, **extra)


def test_storage_is_shared_only_when_every_host_reads_every_marker(arena_env) -> None:
    every = ["a", "b", "c"]
    shared = [report("a", "head", every), report("b", "w1", every), report("c", "w2", every)]
    assert checks.storage_problems(shared, arena_env, hosts=3) == []
    private = [report("a", "head", ["a"]), report("b", "w1", ["b"]), report("c", "w2", every)]
    (problem,) = checks.storage_problems(private, arena_env, hosts=3)
    assert f"ARENA_STORAGE={arena_env.storage} is not shared" in problem and "missing on head, w1" in problem
    assert checks.storage_problems(private, arena_env, hosts=1) == []  # nodes on one machine share its disk
    unwritable = [report("a", "head", [], storage_error="[Errno 13] Permission denied")]
    (problem,) = checks.storage_problems(unwritable, arena_env, hosts=1)
    assert "cannot be written on head: [Errno 13] Permission denied" in problem


def test_a_file_tracking_uri_is_refused_on_several_hosts_only(arena_env, monkeypatch: pytest.MonkeyPatch) -> None:
    assert tracking_is_file("sqlite:////x/mlflow.db") and tracking_is_file("/x/mlruns") and tracking_is_file("file:///x")
    assert not tracking_is_file("http://mlflow:5000") and not tracking_is_file("postgresql://db/mlflow")
    nodes = [report("a", "head", ["a", "b"]), report("b", "w1", ["a", "b"])]
    problems = checks.node_problems(nodes, None, arena_env, None)
    assert any(p.startswith("ARENA_TRACKING_URI=sqlite:///") and "MLflow tracking server" in p for p in problems)
    one_host = [NodeReport("a", "head", "10.0.0.1", 1, 0, True, markers_seen=["a", "b"]),
                NodeReport("b", "w1", "10.0.0.1", 1, 0, False, markers_seen=["a", "b"])]
    assert checks.node_problems(one_host, None, arena_env, None) == []


def test_data_is_checked_only_where_workers_can_run() -> None:
    spec = parse_spec({"name": "g", "model": "resnet18", "data": {"dataset": "synthetic"},
                       "train": {"epochs": 1, "batch_size": 8}, "resources": {"workers": 1, "gpus_per_worker": 1}})
    nodes = [HEAD, NodeCapacity("cpu", "10.0.0.2", 8, 0), gpu_node("gpu")]
    assert [node.node_id for node in node_inspection.worker_nodes(nodes, spec)] == ["gpu"]
    assert [node.node_id for node in node_inspection.worker_nodes(nodes, None)] == ["cpu", "gpu"]


def test_only_explicit_settings_travel_and_never_a_password() -> None:
    environ = {
        "ARENA_HOME": "/Users/me/.arena", "ARENA_DB_URL": "postgresql+psycopg://me:pw123@db/arena",
        "ARENA_TRACKING_URI": "http://mlflow:5000", "ARENA_STORAGE": "s3://key:secret99@bucket/x",
        "ARENA_EMPTY": "", "RAY_AUTH_TOKEN": "token", "PATH": "/bin",
    }
    travelling, held_back = travelling_settings(environ)
    assert travelling == {"ARENA_TRACKING_URI": "http://mlflow:5000"}
    assert held_back == ["ARENA_DB_URL", "ARENA_HOME", "ARENA_STORAGE"]
    assert travelling_settings({"PATH": "/bin"}) == ({}, [])  # defaults never travel: the cluster's win


def test_passwords_are_masked_and_the_database_never_reaches_workers() -> None:
    assert mask_secrets("postgresql+psycopg://arena:pw123@db:5432/x") == "postgresql+psycopg://arena:***@db:5432/x"
    assert holds_secret("http://u:p@mlflow:5000") and not holds_secret("http://mlflow:5000")
    settings = load_settings({"ARENA_DB_URL": "postgresql+psycopg://arena:pw123@db/x"})
    assert "pw123" not in repr(settings_environment(settings))


def test_the_check_report_survives_a_noisy_log() -> None:
    line = format_report_line({"problems": ["x"], "nodes": []})
    logs = f"Runtime env is setting up.\nsomething else\n{line}\n(raylet) a warning\n"
    assert parse_report(logs) == {"problems": ["x"], "nodes": []}
    assert parse_report("no report here") is None


def test_a_failed_jobs_reason_is_its_own_error_line() -> None:
    assert first_error_line("step 1\nerror: data.root: /x does not exist (on w1)\n") == "data.root: /x does not exist (on w1)"
    trace = "Traceback (most recent call last):\n  File \"x\", line 1\nRuntimeError: CUDA out of memory\n"
    assert first_error_line(trace) == "RuntimeError: CUDA out of memory"
    assert first_error_line("") == "(the job printed nothing)"
    listed = "error: job spec: 2 problems\n  - data.root: /x does not exist (on w1)\n  - data.root: /x does not exist (on w2)\nlater\n"
    assert first_error_line(listed) == "job spec: 2 problems: data.root: /x does not exist (on w1); data.root: /x does not exist (on w2)"


def test_a_worker_takes_the_gpu_ray_train_gave_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray.train.torch

    from arena.training.worker import worker_device

    # Local rank 1 with 2 GPUs a worker owns its node's GPUs 2 and 3: Ray Train says cuda:2, not cuda:1.
    monkeypatch.setattr(ray.train.torch, "get_device", lambda: torch.device("cuda", 2))
    assert worker_device(2) == torch.device("cuda", 2)
    assert worker_device(0) == torch.device("cpu")


def gpu_job(workers: int = 2, timeout: float = 0.2) -> object:
    return parse_spec({"name": "g", "model": "resnet18", "data": {"dataset": "synthetic"},
                       "train": {"epochs": 1, "batch_size": 8},
                       "resources": {"workers": workers, "gpus_per_worker": 1, "scale_up_timeout_s": timeout}})


def ray_node(node_id: str, cpus: float, gpus: float) -> dict:
    return {"NodeID": node_id, "NodeManagerAddress": f"10.0.0.{len(node_id)}", "Alive": True,
            "Resources": {"CPU": cpus, "GPU": gpus}}


@pytest.fixture
def autoscaling_cluster(monkeypatch: pytest.MonkeyPatch) -> dict:
    """ray.nodes() of a cluster whose autoscaler adds a GPU node on the third look; what was asked of it."""
    import ray.autoscaler.sdk

    from arena.training import ray_driver

    state = {"looks": 0, "requests": []}

    def nodes() -> list[dict]:
        state["looks"] += 1
        up = [ray_node("head", 0, 0)]
        return up + [ray_node("gpu-node", 8, 2)] if state["looks"] >= 3 and state.get("adds", True) else up

    monkeypatch.setattr(ray_driver.ray, "nodes", nodes)
    monkeypatch.setattr(ray_driver, "autoscaler_running", lambda: True)
    monkeypatch.setattr(ray_driver, "SCALE_UP_POLL_SECONDS", 0.01)
    monkeypatch.setattr(ray.autoscaler.sdk, "request_resources", lambda bundles: state["requests"].append(bundles))
    return state


def test_a_gpu_job_waits_for_the_autoscaler_and_says_so(autoscaling_cluster: dict, arena_env) -> None:
    from arena.training.checks import check_resources

    said = []
    plan = check_resources(gpu_job(timeout=30), say=said.append)
    assert (plan.workers, plan.gpus_per_worker) == (2, 1)
    assert said and said[0].startswith("waiting up to 30 s for the autoscaler to add nodes")
    assert autoscaling_cluster["requests"][0] == [{"CPU": 1.0, "GPU": 1.0}] * 2  # it asked for the workers
    assert autoscaling_cluster["requests"][-1] == []  # and withdrew the request once they were there


def test_a_gpu_job_gives_up_after_the_stated_timeout(autoscaling_cluster: dict, arena_env) -> None:
    from arena.errors import SpecError
    from arena.training.checks import check_resources

    autoscaling_cluster["adds"] = False
    with pytest.raises(SpecError, match=r"within resources.scale_up_timeout_s \(0.2 s\)"):
        check_resources(gpu_job(timeout=0.2), say=lambda text: None)


def test_on_an_autoscaling_cluster_workers_that_do_not_fit_yet_are_a_wait(arena_env, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = parse_spec({"name": "g", "model": "resnet18", "data": {"dataset": "synthetic"},
                       "train": {"epochs": 1, "batch_size": 8}, "resources": {"workers": 2, "gpus_per_worker": 1}})
    nodes = [NodeReport("head", "head", "10.0.0.1", 0, 0, True, markers_seen=["head"])]
    monkeypatch.setattr(checks, "_autoscaling", lambda: False)
    (problem,) = checks.node_problems(nodes, spec, arena_env, [HEAD])
    assert problem.startswith("resources: 2 workers of at least 1 CPU and 1 GPU each do not fit")
    monkeypatch.setattr(checks, "_autoscaling", lambda: True)  # `arena train` waits for the GPU nodes
    assert checks.node_problems(nodes, spec, arena_env, [HEAD]) == []


def test_the_cluster_report_lists_what_arena_train_would_refuse(arena_env, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = parse_spec({"name": "h", "model": "resnet18", "data": {"dataset": "synthetic"},
                       "train": {"epochs": 1, "batch_size": 2, "precision": "fp16"}, "resources": {"workers": 4}})
    nodes = [NodeReport("a", "head", "10.0.0.1", 8, 0, True, markers_seen=["a"])]
    monkeypatch.setattr(node_inspection, "inspect_nodes", lambda spec, settings: ([NodeCapacity("a", "10.0.0.1", 8, 0)], nodes))
    monkeypatch.setattr(checks, "_autoscaling", lambda: False)
    problems = checks.cluster_report(spec, arena_env).problems
    assert any(p.startswith("train.batch_size: 2 is smaller than resources.workers") for p in problems)
    assert any(p.startswith("train.precision: fp16 needs GPUs") for p in problems)
    assert checks.cluster_report(spec.model_copy(update={"train": spec.train.model_copy(
        update={"batch_size": 8, "precision": "fp32"})}), arena_env).problems == []


def test_the_data_is_named_on_the_worker_hosts_and_must_be_the_same_copy(arena_env, tmp_path, monkeypatch) -> None:
    from arena.data.layout import check_and_name

    (tmp_path / "imgs" / "train" / "cat").mkdir(parents=True)
    (tmp_path / "imgs" / "train" / "cat" / "a.jpg").write_bytes(b"x")
    (tmp_path / "imgs" / "val" / "cat").mkdir(parents=True)
    spec = parse_spec({"name": "f", "model": "resnet18", "data": {"dataset": "imagefolder", "root": str(tmp_path / "imgs")},
                       "train": {"epochs": 1, "batch_size": 8}})
    problems, name = check_and_name(spec.data, home=tmp_path)
    assert problems == [] and name.startswith("imagefolder-") and name != "imagefolder-e3b0c44298fc1c14"
    problems, name = check_and_name(spec.data.model_copy(update={"root": tmp_path / "missing"}), home=tmp_path)
    assert name is None and problems == [f"data.root: {tmp_path / 'missing'} does not exist"]

    def on_one_machine(node_id: str, host: str, **extra: object) -> NodeReport:
        return NodeReport(node_id, host, "10.0.0.1", 1, 0, False, markers_seen=["a", "b", "h"], **extra)

    same = [on_one_machine("a", "w1", dataset="imagenet-1k"), on_one_machine("b", "w2", dataset="imagenet-1k"),
            on_one_machine("h", "head")]  # the head looked at nothing
    assert checks.dataset_problems(same) == [] and checks.named_dataset(same) == "imagenet-1k"
    differ = [report("a", "w1", [], dataset="imagenet-1k"), report("b", "w2", [], dataset="imagenet-1k-sub100-0a1b2c3d")]
    (problem,) = checks.dataset_problems(differ)
    assert problem == ("data.root: the worker hosts hold different data (imagenet-1k on w1; imagenet-1k-sub100-0a1b2c3d "
                       "on w2); give every worker host the same copy")
    monkeypatch.setattr(node_inspection, "inspect_nodes", lambda spec, settings: ([], same))
    assert checks.check_on_nodes(spec, arena_env) == "imagenet-1k"  # what the job's runs are tagged with
    monkeypatch.setattr(node_inspection, "inspect_nodes", lambda spec, settings: ([], [on_one_machine("h", "head")]))
    assert checks.check_on_nodes(spec, arena_env) is None  # no worker host up yet: the first worker names it


def test_the_driver_names_the_data_only_where_it_is_read(arena_env, tmp_path) -> None:
    from dataclasses import replace

    from arena.training.launcher import dataset_where_read

    spec = parse_spec({"name": "f", "model": "resnet18", "data": {"dataset": "imagefolder", "root": str(tmp_path / "elsewhere")},
                       "train": {"epochs": 1, "batch_size": 8}})
    on_cluster = replace(arena_env, ray_address="ray://head:10001")
    assert dataset_where_read(spec, on_cluster, nodes_named="imagenet-1k", local=False, in_trial=False) == "imagenet-1k"
    assert dataset_where_read(spec, on_cluster, nodes_named=None, local=False, in_trial=False) is None  # no worker host up yet
    for settings in (on_cluster, arena_env):  # a trial's actor cannot tell: Ray gives actors no RAY_ADDRESS
        assert dataset_where_read(spec, settings, nodes_named=None, local=False, in_trial=True) is None  # rank 0 names it
        with pytest.raises(ArenaError, match="does not exist on"):  # a local-mode trial is its own worker: the data is here
            dataset_where_read(spec, settings, nodes_named=None, local=True, in_trial=True)
    with pytest.raises(ArenaError, match="does not exist on"):  # without a cluster, this machine trains
        dataset_where_read(spec, arena_env, nodes_named=None, local=False, in_trial=False)


def test_a_multi_worker_trial_leaves_room_for_its_own_actor() -> None:
    from arena.training.placement import TRIAL_DRIVER_CPUS, WorkerResources, concurrent_trials

    nodes = [HEAD, NodeCapacity("w1", "10.0.0.2", 1, 0), NodeCapacity("w2", "10.0.0.3", 1, 0)]
    assert plan_workers(nodes, 2, None, 0)[0].cpus_per_worker == 1  # a job: its driver is a process, not an actor
    plan, problem = plan_workers(nodes, 2, None, 0, beside_cpus=TRIAL_DRIVER_CPUS)
    assert problem is None and plan.cpus_per_worker == 0.99 and plan.threads == 1  # just under a CPU each
    plan, problem = plan_workers(nodes, 2, 1, 0, beside_cpus=TRIAL_DRIVER_CPUS)  # asked for whole CPUs
    assert plan is None and problem == (
        "resources: 2 workers of 1 CPU each do not fit beside the trial's own actor (0.01 CPUs) on the cluster's nodes, "
        "which hold 1 (10.0.0.1: 0 CPUs 0 GPUs; 10.0.0.2: 1 CPU 0 GPUs; 10.0.0.3: 1 CPU 0 GPUs); "
        "resources.cpus_per_worker: 0.99 would leave it room")
    plan, problem = plan_workers(nodes, 3, None, 0, beside_cpus=TRIAL_DRIVER_CPUS)
    assert plan is None and problem.startswith("resources: 3 workers of at least 0.99 CPUs each do not fit beside the trial's own actor")
    big = [HEAD, NodeCapacity("w1", "10.0.0.2", 8, 4), NodeCapacity("w2", "10.0.0.3", 8, 4)]
    plan, _ = plan_workers(big, 2, None, 2, beside_cpus=TRIAL_DRIVER_CPUS)
    assert (plan.cpus_per_worker, plan.threads) == (7.99, 8)
    assert plan_workers([HEAD], 1, 0.5, 0, beside_cpus=TRIAL_DRIVER_CPUS)[0] is None  # a 0-CPU head holds not even the actor

    # Trials at once: each with its actor, on what the trials before it left.
    assert concurrent_trials(nodes, WorkerResources(2, 0.99, 0), TRIAL_DRIVER_CPUS) == 1
    four = [HEAD, *(NodeCapacity(f"w{i}", f"10.0.0.{i}", 1, 0) for i in range(2, 6))]
    assert concurrent_trials(four, WorkerResources(2, 0.99, 0), TRIAL_DRIVER_CPUS) == 2
    assert concurrent_trials(four, WorkerResources(2, 1, 0), TRIAL_DRIVER_CPUS) == 1  # whole CPUs strand the actors
    assert concurrent_trials(nodes, WorkerResources(1, 1, 0, local=True), 0.0) == 2  # local mode: the actor is the worker
    assert concurrent_trials(big, WorkerResources(2, 7.99, 2), TRIAL_DRIVER_CPUS) == 1


def test_a_trial_is_planned_beside_its_actor_on_the_live_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    from arena.errors import SpecError
    from arena.training import ray_driver
    from arena.training.checks import check_resources

    monkeypatch.setattr(ray_driver.ray, "nodes", lambda: [ray_node("head", 0, 0), ray_node("w1", 1, 0), ray_node("w22", 1, 0)])
    monkeypatch.setattr(ray_driver, "autoscaler_running", lambda: False)
    trial = parse_spec({"name": "t", "model": "resnet18", "data": {"dataset": "synthetic"},
                        "train": {"epochs": 1, "batch_size": 8}, "resources": {"workers": 2}})
    assert check_resources(trial, in_trial=True).cpus_per_worker == 0.99
    assert check_resources(trial).cpus_per_worker == 1  # the same job outside a search
    whole = trial.model_copy(update={"resources": trial.resources.model_copy(update={"cpus_per_worker": 1})})
    with pytest.raises(SpecError, match=r"beside the trial's own actor .*resources.cpus_per_worker: 0.99 would leave it room"):
        check_resources(whole, in_trial=True)


def test_a_trial_leaves_the_data_check_to_its_search(arena_env, tmp_path) -> None:
    from arena.errors import SpecError
    from arena.training.checks import check_job

    spec = parse_spec({"name": "f", "model": "resnet18", "data": {"dataset": "imagefolder", "root": str(tmp_path / "elsewhere")},
                       "train": {"epochs": 1, "batch_size": 8}})
    with pytest.raises(SpecError, match="elsewhere does not exist"):
        check_job(spec, arena_env)
    check_job(spec, arena_env, in_trial=True)  # its actor may sit on a host without the data; the search checked it
