"""The CI and scheduling examples, read as data: what the linters of `make lint-examples`
cannot see. Pinned sources, least privilege (no token where it is not used), one lock shared
by apply and the scheduled reconcile, [skip ci] write-back, Pod Security "restricted", a
cron entry that works in cron's bare environment, an image with git and a non-root user.
"""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.examples.pod_security import pod_spec_of, restricted_violations

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
GITHUB_PIPELINE = EXAMPLES / "pipelines" / "github-actions.yml"
GITHUB_SCHEDULE = EXAMPLES / "schedule" / "github-actions-reconcile.yml"
GITLAB = EXAMPLES / "pipelines" / "gitlab-ci.yml"
CRONJOB = EXAMPLES / "schedule" / "kubernetes-cronjob.yaml"
DEPLOYMENT = EXAMPLES / "schedule" / "kubernetes-deployment.yaml"
CRON = EXAMPLES / "schedule" / "cron.txt"
DOCKERFILE = ROOT / "Dockerfile"
WORKFLOWS = (GITHUB_PIPELINE, GITHUB_SCHEDULE)

SHA = re.compile(r"^[0-9a-f]{40}$")
# The only acceptable way to name the reconciler in a pip requirement: its repository at a
# full commit or a release tag. A bare `tensormesh-reconciler` would come from PyPI, where
# anyone can register that name.
PINNED_REQUIREMENT = re.compile(
    r"^tensormesh-reconciler @ git\+https://github\.com/[\w.-]+/tensormesh-reconciler"
    r"@(?P<rev>[0-9a-f]{40}|v\d+\.\d+\.\d+)$"
)
PRODUCTION_GROUP = "tensormesh-production"
API_TOKEN = "TENSORMESH_CONTROL_PLANE_TOKEN"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def joined_lines(text: str) -> list[str]:
    """Lines with shell `\\` continuations joined, as a shell reads them."""
    return text.replace("\\\n", " ").splitlines()


def code_only(text: str) -> str:
    """`text` without its comment lines: what a shell or YAML reader acts on."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


# ---- installed from a pinned source -------------------------------------------------------


def _files_that_install() -> list[Path]:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    examples = [path for path in sorted(EXAMPLES.rglob("*")) if path.is_file()]
    return [*docs, *examples, DOCKERFILE, ROOT / ".pre-commit-hooks.yaml"]


def test_no_example_or_doc_installs_the_reconciler_from_pypi_by_name() -> None:
    bare = []
    for path in _files_that_install():
        for number, line in enumerate(joined_lines(path.read_text(encoding="utf-8")), 1):
            if "pip install" in line and "tensormesh-reconciler" in line and "git+" not in line:
                bare.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert bare == []


def test_every_ci_example_installs_one_pinned_requirement() -> None:
    for path in (*WORKFLOWS, GITLAB):
        document = load(path)
        requirement = (document.get("env") or document.get("variables"))["RECONCILER"]
        assert PINNED_REQUIREMENT.match(requirement), (path.name, requirement)
        assert 'pip install "$RECONCILER"' in path.read_text(encoding="utf-8") or (
            'pip install --quiet "$RECONCILER"' in path.read_text(encoding="utf-8")
        ), path.name


def _pinned_revisions() -> dict[str, set[str]]:
    """Every reconciler revision the examples and docs tell users to pin, by file."""
    found: dict[str, set[str]] = {}
    patterns = (
        re.compile(r"tensormesh-reconciler@([0-9a-f]{7,40})\b"),
        re.compile(r"^\s*#?\s*rev:\s*(\S+)", re.MULTILINE),
        re.compile(r"tensormesh-reconciler:([0-9a-f]{7,40})\b"),
    )
    for path in _files_that_install():
        text = path.read_text(encoding="utf-8")
        revisions = {match for pattern in patterns for match in pattern.findall(text)}
        if revisions:
            found[str(path.relative_to(ROOT))] = revisions
    return found


def test_one_pinned_revision_everywhere_and_the_pre_commit_rev_is_a_full_sha() -> None:
    found = _pinned_revisions()
    assert ".pre-commit-hooks.yaml" in found
    assert "docs/pipelines.md" in found
    full = {rev for revs in found.values() for rev in revs if len(rev) == 40}
    assert len(full) == 1, found  # one revision to update, not one per file
    (revision,) = full
    assert SHA.match(revision)
    for path, revs in found.items():
        for rev in revs:  # a short form (an image tag) abbreviates the same commit
            assert revision.startswith(rev), (path, rev)


def test_the_pinned_revision_exists_in_this_repository() -> None:
    revision = next(rev for revs in _pinned_revisions().values() for rev in revs if len(rev) == 40)
    inside = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--is-shallow-repository"],
        capture_output=True,
        text=True,
        check=False,
    )
    if inside.returncode != 0:
        pytest.skip("not a git checkout: cannot look the pinned revision up")
    found = subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", f"{revision}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    if found.returncode != 0 and inside.stdout.strip() == "true":
        pytest.skip("shallow clone: the pinned revision may be older than its history")
    assert found.returncode == 0, f"{revision} is not a commit of this repository"


# ---- GitHub Actions ------------------------------------------------------------------------


def _jobs(path: Path) -> dict[str, Any]:
    return load(path)["jobs"]  # type: ignore[no-any-return]


def _triggers(workflow: dict[Any, Any]) -> Any:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true


def _secrets_in(value: Any) -> bool:
    return "secrets." in yaml.safe_dump(value)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_full_commit_sha(path: Path) -> None:
    uses = [step["uses"] for job in _jobs(path).values() for step in job["steps"] if "uses" in step]
    assert uses
    for use in uses:
        _, _, ref = use.partition("@")
        assert SHA.match(ref), f"{path.name}: {use} is not pinned by a full commit SHA"
    text = path.read_text(encoding="utf-8")
    assert len(re.findall(r"uses: \S+@[0-9a-f]{40} # v\d", text)) == len(uses)  # tag noted


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_permissions_and_tokens_only_in_the_steps_that_use_them(
    path: Path,
) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {}, "nothing by default; each job asks for its own"
    assert not _secrets_in(workflow.get("env") or {}), "no secret in the workflow's env"
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, name
        assert "timeout-minutes" in job, name
        assert not _secrets_in(job.get("env") or {}), f"{name}: secrets in the job's env"
        writes = {key for key, value in job["permissions"].items() if value == "write"}
        uses_token = any(_secrets_in(step.get("env") or {}) for step in job["steps"])
        if uses_token:
            # Environment secrets: only jobs of the protected `production` environment.
            assert job.get("environment") == "production", name
        for step in job["steps"]:
            if API_TOKEN in yaml.safe_dump(step.get("env") or {}):
                assert "tensormesh-reconciler apply" in step["run"] or (
                    "tensormesh-reconciler reconcile" in step["run"]
                ), f"{name}: the API token reaches a step that does not call the API"
            assert "secrets." not in str(step.get("run", "")), f"{name}: secret inlined in run"
        if writes & {"contents"}:
            checkout = next(s for s in job["steps"] if "actions/checkout" in s.get("uses", ""))
            assert checkout["with"]["ref"] == "main", "write-back needs the branch checked out"


def test_pull_request_jobs_get_no_token_and_plan_offline() -> None:
    workflow = load(GITHUB_PIPELINE)
    jobs = workflow["jobs"]
    pr_jobs = {name: job for name, job in jobs.items() if "pull_request" in job.get("if", "")}
    pr_jobs.update({name: job for name, job in jobs.items() if job.get("needs") == "plan"})
    assert set(pr_jobs) == {"plan", "comment"}
    for name, job in pr_jobs.items():
        assert not _secrets_in(job), f"{name} is a pull-request job and must not see a secret"
        assert "environment" not in job, name
    assert jobs["plan"]["permissions"] == {"contents": "read"}
    assert jobs["comment"]["permissions"] == {"pull-requests": "write"}
    assert not any("actions/checkout" in s.get("uses", "") for s in jobs["comment"]["steps"])
    checkout = next(s for s in jobs["plan"]["steps"] if "actions/checkout" in s.get("uses", ""))
    assert checkout["with"]["persist-credentials"] is False
    plan_runs = " ".join(str(s.get("run", "")) for s in jobs["plan"]["steps"])
    assert "tensormesh-reconciler plan" in plan_runs
    assert "--refresh" not in plan_runs  # --refresh would call the API


def test_apply_and_every_scheduled_reconcile_share_one_concurrency_group() -> None:
    writers = [
        _jobs(GITHUB_PIPELINE)["apply"],
        _jobs(GITHUB_PIPELINE)["reconcile"],
        _jobs(GITHUB_SCHEDULE)["reconcile"],
    ]
    for job in writers:
        assert job["concurrency"] == {"group": PRODUCTION_GROUP, "cancel-in-progress": False}
    for path in WORKFLOWS:
        assert "concurrency" not in load(path), "a workflow-level group would split the lock"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_state_commits_skip_ci_and_push_by_rebase_never_force(path: Path) -> None:
    runs = code_only(
        "\n".join(str(step.get("run", "")) for job in _jobs(path).values() for step in job["steps"])
    )
    commits = re.findall(r"git commit[^\n]*", runs)
    assert all("[skip ci]" in commit for commit in commits), commits
    assert "--force" not in runs
    assert "--autostash" not in runs
    if "tensormesh-reconciler apply" in runs:
        assert "--push" in runs  # the tool's own write-back: rebase and retry on rejection
    for command in joined_lines(runs):
        if "tensormesh-reconciler reconcile" in command:
            assert "--push" in command and "--once" in command, command
    # No hand-made write-back: the tool commits, rebases and pushes under its state lock.
    assert "git push" not in runs and "git commit" not in runs


def test_the_state_file_never_triggers_the_apply_workflow() -> None:
    push = _triggers(load(GITHUB_PIPELINE))["push"]
    assert push["paths"] == ["manifests/**"]


# ---- GitLab CI -----------------------------------------------------------------------------


def test_gitlab_scripts_are_plain_strings() -> None:
    """An unquoted `: ` in a script line makes a mapping, which GitLab rejects."""
    for name, job in load(GITLAB).items():
        if isinstance(job, dict) and "script" in job:
            for line in job["script"]:
                assert isinstance(line, str), f"{name}: script line parsed as {line!r}"


def test_gitlab_tokens_only_in_the_jobs_that_use_them() -> None:
    pipeline = load(GITLAB)
    text = {name: yaml.safe_dump(job) for name, job in pipeline.items() if isinstance(job, dict)}
    for name, body in text.items():
        if name not in {"apply", "reconcile"}:
            assert "TENSORMESH_PUSH_TOKEN" not in body, name
        if name != "plan":
            assert "TENSORMESH_NOTE_TOKEN" not in body, name
        assert "oauth2:$" not in body, f"{name}: a token in the remote URL ends in .git/config"
    for name in ("validate", "plan"):
        for rule in pipeline[name]["rules"]:
            assert rule["if"] == '$CI_PIPELINE_SOURCE == "merge_request_event"'
    header = GITLAB.read_text(encoding="utf-8").split("\nworkflow:")[0]
    assert "`api` scope" in header  # the notes API needs it; write_repository cannot post
    assert "`write_repository`" in header
    assert "*protected*" in header  # merge request pipelines never get the API token


def test_gitlab_apply_and_reconcile_share_a_resource_group_and_skip_ci() -> None:
    pipeline = load(GITLAB)
    assert pipeline["apply"]["resource_group"] == PRODUCTION_GROUP
    assert pipeline["reconcile"]["resource_group"] == PRODUCTION_GROUP
    apply_script = "\n".join(pipeline["apply"]["script"])
    assert "tensormesh-reconciler apply manifests/" in apply_script
    assert "--push" in apply_script
    reconcile_script = code_only("\n".join(pipeline["reconcile"]["script"]))
    (command,) = [
        line for line in joined_lines(reconcile_script) if "tensormesh-reconciler reconcile" in line
    ]
    assert "--push" in command and "--once" in command, command
    # The tool's own write-back ([skip ci], rebase, state merge driver), none by hand.
    for hand_made in ("git commit", "git push", "git pull", "--autostash", "--force"):
        assert hand_made not in reconcile_script, hand_made
    assert 'git checkout -B "$CI_COMMIT_BRANCH"' in reconcile_script  # --push needs a branch


# ---- Kubernetes ----------------------------------------------------------------------------


def _cronjob() -> dict[str, Any]:
    documents = [doc for doc in yaml.safe_load_all(CRONJOB.read_text(encoding="utf-8")) if doc]
    (cronjob,) = [doc for doc in documents if doc["kind"] == "CronJob"]
    return cronjob  # type: ignore[no-any-return]


def test_cronjob_passes_pod_security_restricted() -> None:
    assert restricted_violations(pod_spec_of(_cronjob())) == []


def _without(path: tuple[str | int, ...]) -> dict[str, Any]:
    broken = copy.deepcopy(_cronjob())
    node: Any = pod_spec_of(broken)
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return broken


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("securityContext", "seccompProfile"), "seccompProfile"),
        (("containers", 0, "securityContext", "allowPrivilegeEscalation"), "Escalation"),
        (("containers", 0, "securityContext", "capabilities"), "drop must include ALL"),
        (("securityContext", "runAsNonRoot"), "runAsNonRoot"),
    ],
)
def test_the_restricted_check_catches_each_missing_field(
    path: tuple[str | int, ...], expected: str
) -> None:
    broken = _without(path)
    if path[0] == "securityContext":  # the container repeats some pod-level fields
        del pod_spec_of(broken)["containers"][0]["securityContext"][path[-1]]
    problems = restricted_violations(pod_spec_of(broken))
    assert any(expected in problem for problem in problems), problems


def test_the_restricted_check_refuses_host_paths_and_root() -> None:
    broken = copy.deepcopy(_cronjob())
    pod = pod_spec_of(broken)
    pod["volumes"].append({"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}})
    pod["containers"][0]["securityContext"]["runAsUser"] = 0
    problems = restricted_violations(pod)
    assert any("hostPath" in problem for problem in problems), problems
    assert any("runAsUser must not be 0" in problem for problem in problems), problems


def test_cronjob_root_filesystem_is_read_only_and_writes_only_to_empty_dirs() -> None:
    pod = pod_spec_of(_cronjob())
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"]:
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        for mount in container["volumeMounts"]:
            if not mount.get("readOnly"):
                assert "emptyDir" in volumes[mount["name"]], mount
            else:
                assert "secret" in volumes[mount["name"]], mount
        mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
        assert "/tmp" in mounts


def test_cronjob_clones_reconciles_and_pushes_the_state_back() -> None:
    cronjob = _cronjob()
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = pod_spec_of(cronjob)
    (clone,) = pod["initContainers"]
    (container,) = pod["containers"]
    assert clone["command"][:2] == ["git", "clone"]
    assert clone["command"][-1] == container["workingDir"]
    assert clone["command"][-2].startswith("https://")
    # The tool's own write-back; a fresh clone every run, so no --pull.
    assert container["command"][:3] == ["tensormesh-reconciler", "reconcile", "manifests"]
    assert {"--once", "--push"} <= set(container["command"])
    assert "--pull" not in container["command"]
    env = {item["name"]: item for item in container["env"]}
    assert API_TOKEN not in env, "the token is read from its file, before every call"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert env[API_TOKEN + "_FILE"]["value"].startswith(mounts["api-token"] + "/")
    # The init container gets the push credential only, never the API token or a secret.
    clone_mounts = {m["name"] for m in clone["volumeMounts"]}
    assert "api-token" not in clone_mounts and "git-credentials" in clone_mounts
    assert "secretKeyRef" not in yaml.safe_dump(clone)
    # Git's settings (credential helper, identity) from the ConfigMap, in both containers.
    (settings,) = [
        doc
        for doc in yaml.safe_load_all(CRONJOB.read_text(encoding="utf-8"))
        if doc and doc["kind"] == "ConfigMap"
    ]
    name = settings["metadata"]["name"]
    for each in (clone, container):
        assert each["envFrom"] == [{"configMapRef": {"name": name}}]
    helper = settings["data"]["GIT_CONFIG_VALUE_1"]
    assert mounts["git-credentials"] + "/git-token" in helper
    assert settings["data"]["GIT_CONFIG_VALUE_0"] == ""  # drops any other helper


def _deployment() -> dict[str, Any]:
    documents = [doc for doc in yaml.safe_load_all(DEPLOYMENT.read_text(encoding="utf-8")) if doc]
    (deployment,) = [doc for doc in documents if doc["kind"] == "Deployment"]
    return deployment  # type: ignore[no-any-return]


def test_the_service_deployment_passes_pod_security_restricted() -> None:
    pod = pod_spec_of(_deployment())
    assert restricted_violations(pod) == []
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"]:
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        for mount in container["volumeMounts"]:
            kind = "secret" if mount.get("readOnly") else "emptyDir"
            assert kind in volumes[mount["name"]], mount


def test_the_service_deployment_is_one_replica_probed_and_scraped() -> None:
    deployment = _deployment()
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"  # never two at once
    template = deployment["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    (container,) = template["spec"]["containers"]
    port = {p["name"]: p["containerPort"] for p in container["ports"]}["http"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": "/metrics",
    }
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    args = container["args"]
    assert args[0] == "reconcile"
    flags = {args[i]: args[i + 1] for i in range(1, len(args) - 1) if args[i].startswith("--")}
    assert flags["--serve"] == f"0.0.0.0:{port}"
    assert flags["--git"].startswith("https://")
    assert {"--ref", "--path", "--workdir", "--state", "--verify-commits"} <= set(flags)
    work = next(m for m in container["volumeMounts"] if m["name"] == "work")["mountPath"]
    assert flags["--workdir"].startswith(work + "/")
    secrets = next(m for m in container["volumeMounts"] if m["name"] == "secrets")["mountPath"]
    assert flags["--verify-commits"].startswith(secrets + "/")
    assert "--once" not in args


# ---- cron ----------------------------------------------------------------------------------


def cron_entries() -> tuple[dict[str, str], list[list[str]]]:
    """(variables, entries): an /etc/cron.d file's NAME=value lines and its job lines, each
    split into 5 time fields, the user and the command."""
    variables: dict[str, str] = {}
    entries: list[list[str]] = []
    for line in CRON.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        assignment = re.match(r"^([A-Z_]+)=(.*)$", line)
        if assignment:
            variables[assignment.group(1)] = assignment.group(2).strip('"')
            continue
        entries.append(line.split(None, 6))
    return variables, entries


def test_cron_entry_sets_everything_cron_does_not() -> None:
    variables, entries = cron_entries()
    assert CRON.read_text(encoding="utf-8").endswith("\n")  # cron ignores a last line without
    assert variables["SHELL"] == "/bin/sh"
    path = variables["PATH"].split(":")
    assert "/usr/bin" in path
    assert "/bin" in path
    assert "/opt/tensormesh-reconciler/bin" in path  # where the install step puts the venv
    (entry,) = entries
    assert len(entry) == 7, "an /etc/cron.d line: 5 time fields, a user, the command"
    user, command = entry[5], entry[6]
    assert user == "tensormesh"
    assert "%" not in command  # cron turns % into a newline
    assert command.startswith("cd /")
    assert variables[API_TOKEN + "_FILE"].startswith("/etc/")  # read before every call
    assert API_TOKEN not in command  # never a token on a command line
    flags = re.search(r"flock -n \S+ tensormesh-reconciler reconcile (.*) >>", command)
    assert flags is not None, command
    assert {"--once", "--pull", "--push"} <= set(flags.group(1).split())  # a long-lived clone
    assert re.search(r">>\s*\S+\.log 2>&1$", command)


# ---- the image -----------------------------------------------------------------------------


def test_image_has_git_and_runs_as_a_numeric_non_root_user() -> None:
    instructions = [
        line.strip()
        for line in joined_lines(DOCKERFILE.read_text(encoding="utf-8"))
        if line.strip() and not line.lstrip().startswith("#")
    ]
    installs = " ".join(line for line in instructions if "apt-get install" in line)
    assert re.search(r"\bgit\b", installs)
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users, "no USER: the image would run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), "numeric, so Kubernetes can check runAsNonRoot"
    assert int(uid) != 0
    last_user = max(i for i, line in enumerate(instructions) if line.startswith("USER "))
    assert not any(line.startswith("RUN ") for line in instructions[last_user:])
    pod = pod_spec_of(_cronjob())
    assert pod["securityContext"]["runAsUser"] == int(uid)
    assert "safe.directory" in installs or any("safe.directory" in x for x in instructions)
    header = DOCKERFILE.read_text(encoding="utf-8")
    assert '--user "$(id -u):$(id -g)"' in header  # how to run it on a mounted work tree


def test_license_is_the_apache_2_text_pyproject_names() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^license = "Apache-2.0"$', pyproject, re.MULTILINE)
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert len(text) > 10_000  # the full text, not a pointer to it
