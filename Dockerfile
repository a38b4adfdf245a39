# The reconciler as a container image, for the Kubernetes CronJob in
# examples/schedule/kubernetes-cronjob.yaml (or any scheduler that runs images).
#   docker build -t tensormesh-reconciler .
#   docker run --rm -e TENSORMESH_CONTROL_PLANE_TOKEN -v "$PWD:/work" -w /work \
#     tensormesh-reconciler reconcile deploy/ --state tensormesh.state.json --once
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY reconciler ./reconciler
COPY schemas ./schemas
RUN pip install . && rm -rf /src

# Never run as root: the reconciler needs no privileges, only the token and its files.
RUN useradd --create-home --uid 10001 reconciler
USER 10001
WORKDIR /work

ENTRYPOINT ["tensormesh-reconciler"]
CMD ["--help"]
