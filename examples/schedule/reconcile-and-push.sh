#!/bin/sh
# One scheduled reconcile pass with git write-back, for cron (cron.txt) and the Kubernetes
# CronJob (kubernetes-cronjob.yaml; the image ships it as tensormesh-reconcile-and-push).
#
#   clone or update -> reconcile --once -> commit the state file alone, with [skip ci]
#   -> push; when the push is rejected because the branch moved on, rebase and push again
#   (at most 3 pushes, never --force, never --autostash).
#
# `apply --push` does this write-back itself; `reconcile` has no git write-back of its own
# yet, so this script follows the same rules (docs/pipelines.md, "Git write-back").
# POSIX sh (Debian's dash, the image's /bin/sh). Settings come from the environment:
#
#   RECONCILE_REPO_DIR     the clone to work in (required). Cloned from RECONCILE_GIT_URL
#                          first when it holds no clone yet (an emptyDir in Kubernetes).
#   RECONCILE_GIT_URL      the config repository, e.g. https://github.com/ORG/gitops.git
#   RECONCILE_BRANCH       the branch to reconcile and push to (default: main)
#   RECONCILE_MANIFESTS    the manifests folder inside the clone (default: manifests)
#   RECONCILE_STATE        the state file inside the clone (default: tensormesh.state.json)
#   RECONCILE_TOKEN_FILE   a file holding the control-plane token; read at every run and
#                          exported as TENSORMESH_CONTROL_PLANE_TOKEN (so a rotated file is
#                          picked up by the next run)
#   RECONCILE_GIT_TOKEN_FILE  an HTTPS push token (fine-grained PAT, GitHub App or GitLab
#                          project access token). Git reads it through a credential helper:
#                          it is never written into the remote URL or .git/config. Leave
#                          unset when pushing over SSH with a deploy key (GIT_SSH_COMMAND).
#   RECONCILE_GIT_USER     the user name sent with that token (default: x-access-token;
#                          GitLab accepts any name, e.g. oauth2)
#   RECONCILE_GIT_NAME / RECONCILE_GIT_EMAIL  the commit identity, when the clone has none
#   RECONCILE_ARGS         more reconcile flags, split on spaces, e.g.
#                          "--metrics-file /var/lib/node_exporter/textfile/tensormesh.prom"
#
# Exit code: 0 when the pass succeeded (drift found and corrected included), 1 when the
# pass or the write-back failed. Reconcile's JSON report goes to stdout, logs to stderr.
set -eu

: "${RECONCILE_REPO_DIR:?set RECONCILE_REPO_DIR to the clone of the config repository}"
branch=${RECONCILE_BRANCH:-main}
manifests=${RECONCILE_MANIFESTS:-manifests}
state=${RECONCILE_STATE:-tensormesh.state.json}
max_pushes=3

log() {
    printf '%s reconcile-and-push: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

if [ -n "${RECONCILE_TOKEN_FILE:-}" ]; then
    # $(...) drops the trailing newline a file written by `echo` would add.
    TENSORMESH_CONTROL_PLANE_TOKEN=$(cat -- "$RECONCILE_TOKEN_FILE")
    export TENSORMESH_CONTROL_PLANE_TOKEN
fi

if [ -n "${RECONCILE_GIT_TOKEN_FILE:-}" ]; then
    # Git's environment config (git >= 2.31): an empty helper first drops any helper
    # configured elsewhere, then ours prints the token from its file when git asks.
    # shellcheck disable=SC2016 # expanded by the helper's shell, when git runs it
    helper='!f() { test "$1" = get || exit 0; echo "username=${RECONCILE_GIT_USER:-x-access-token}"; printf "password=%s\n" "$(cat -- "$RECONCILE_GIT_TOKEN_FILE")"; }; f'
    export GIT_CONFIG_COUNT=2
    export GIT_CONFIG_KEY_0=credential.helper GIT_CONFIG_VALUE_0=
    export GIT_CONFIG_KEY_1=credential.helper GIT_CONFIG_VALUE_1="$helper"
    export RECONCILE_GIT_TOKEN_FILE
fi
# A pipeline cannot answer a password prompt: fail instead of hanging.
export GIT_TERMINAL_PROMPT=0

if [ ! -e "$RECONCILE_REPO_DIR/.git" ]; then
    : "${RECONCILE_GIT_URL:?$RECONCILE_REPO_DIR holds no clone; set RECONCILE_GIT_URL to clone it}"
    log "cloning $branch into $RECONCILE_REPO_DIR"
    if ! git clone --quiet --single-branch --branch "$branch" -- "$RECONCILE_GIT_URL" "$RECONCILE_REPO_DIR"; then
        log "cannot clone $branch of the config repository; no pass was run"
        exit 1
    fi
fi
cd "$RECONCILE_REPO_DIR"

if ! git config user.name >/dev/null || ! git config user.email >/dev/null; then
    export GIT_AUTHOR_NAME="${RECONCILE_GIT_NAME:-tensormesh-reconciler}"
    export GIT_AUTHOR_EMAIL="${RECONCILE_GIT_EMAIL:-tensormesh-reconciler@localhost}"
    export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
fi

# Commit the state file, and only it, when it differs from HEAD. Returns 1 when unchanged.
commit_state() {
    [ -e "$state" ] || return 1
    git add -- "$state"
    if git diff --cached --quiet -- "$state"; then
        return 1
    fi
    git commit --quiet -m "tensormesh: reconcile$1 [skip ci]" -- "$state"
}

# Push HEAD; on a rejection, rebase the state commit onto the moved branch and retry.
push_state() {
    pushes=1
    until git push --quiet origin "HEAD:refs/heads/$branch"; do
        if [ "$pushes" -ge "$max_pushes" ]; then
            log "the push was refused $pushes times; the state commit stays in $RECONCILE_REPO_DIR: push it by hand (git pull --rebase && git push), never with --force"
            return 1
        fi
        if ! git pull --rebase --quiet origin "$branch"; then
            git rebase --abort 2>/dev/null || true
            log "rebasing the state commit onto origin/$branch failed (another run changed $state?); the rebase was aborted and the commit kept locally: merge the two states by hand"
            return 1
        fi
        pushes=$((pushes + 1))
    done
    log "pushed the state to origin $branch"
}

# A run killed after its pass left the state written but not committed: keep those IDs.
if commit_state " (left uncommitted by an earlier run)"; then
    log "committed a state file left uncommitted by an earlier run"
fi
# Reconcile what the branch holds now, never an old checkout (a stale clone would undo
# newer changes). No --autostash: our only change is committed above, and a commit an
# earlier run could not push is rebased here and pushed below.
if ! git pull --rebase --quiet origin "$branch"; then
    git rebase --abort 2>/dev/null || true
    log "cannot update $RECONCILE_REPO_DIR from origin $branch; no pass was run"
    exit 1
fi

set +e
# shellcheck disable=SC2086 # RECONCILE_ARGS is a list of flags, split on purpose
tensormesh-reconciler reconcile "$manifests" --state "$state" --once --detailed-exitcode \
    --output json ${RECONCILE_ARGS:-}
code=$?
set -e

# IDs recorded by a pass that failed half-way are committed too: they must not be lost.
case $code in
    0 | 2) note= ;;
    *) note=" (pass failed with exit $code)" ;;
esac
commit_state "$note" || log "the state did not change; nothing to commit"
if [ "$(git rev-list --count FETCH_HEAD..HEAD)" -gt 0 ]; then
    push_state || exit 1
fi

# Exit 2 means drift was found (and corrected unless --detect-only): a successful pass.
if [ "$code" -eq 0 ] || [ "$code" -eq 2 ]; then
    exit 0
fi
log "the reconcile pass failed with exit $code"
exit "$code"
