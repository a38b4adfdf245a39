# The reconciler as a container image: for the Kubernetes CronJob in
# examples/schedule/kubernetes-cronjob.yaml, GitLab jobs, or any scheduler that runs images.
# It holds git (for `apply --commit/--push` and `reconcile --push`), runs as the
# unprivileged uid 10001, and needs no writable root filesystem.
#
#   docker build -t tensormesh-reconciler .
#
# On a work tree mounted from the host (docs/pipelines.md, "The container image"): run as
# your own uid so that the files it writes (the state, its lock and journal, commits) are
# yours and git trusts the repository (git refuses a repository owned by another uid,
# "dubious ownership"; /work is marked safe below for the case where the uids differ):
#
#   docker run --rm --user "$(id -u):$(id -g)" -e HOME=/tmp \
#     -v "$PWD:/work" -w /work \
#     -e TENSORMESH_CONTROL_PLANE_TOKEN -e HF_TOKEN \
#     -e GIT_AUTHOR_NAME="tensormesh-bot" -e GIT_AUTHOR_EMAIL="bot@example.com" \
#     -e GIT_COMMITTER_NAME="tensormesh-bot" -e GIT_COMMITTER_EMAIL="bot@example.com" \
#     tensormesh-reconciler apply manifests/ --state tensormesh.state.json --commit
#
# `-e NAME` without a value passes the variable from your shell: the token never appears on
# the command line. --push also needs the remote's credentials inside the container (a
# credential helper or an SSH agent socket mounted in); --commit and a push from the host
# need none.
# For reproducible builds, pin the base image by digest: python:3.12-slim@sha256:<digest>.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# git for the write-back; openssh-client for pushing with a deploy key; ca-certificates for
# HTTPS remotes and the control plane. safe.directory: a mounted work tree may belong to
# another uid than the one the container runs as. Package versions are not pinned: the
# base image's Debian release fixes them, and its security updates must get in.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && git config --system --add safe.directory /work

WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY reconciler ./reconciler
COPY schemas ./schemas
RUN pip install '.[serve]' && rm -rf /src

# Never run as root: the reconciler needs no privileges, only the token and its files.
# A fixed numeric uid and gid, so Kubernetes can check runAsNonRoot and match fsGroup.
RUN groupadd --gid 10001 reconciler \
    && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin reconciler
USER 10001:10001
WORKDIR /work

ENTRYPOINT ["tensormesh-reconciler"]
CMD ["--help"]
