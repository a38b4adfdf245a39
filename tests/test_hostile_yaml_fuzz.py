"""Generated YAML documents, valid manifests with random structures and scalars mixed in,
through `validate` and `plan` in-process: exit 0 or 1, never an internal error or traceback,
and what validate accepts, the API can be sent (strict JSON, int64, gpuCount in bounds).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reconciler.adapters import manifest_files
from reconciler.cli import main

# Plain YAML scalars as written in a file: the awkward corners of the core schema.
RAW_SCALARS = [
    ".nan", ".NaN", ".inf", "-.Inf", "+.INF", "1e999", "-1e999", "1e308", "0x" + "f" * 20,
    "9223372036854775807", "9223372036854775808", "-9223372036854775809", "9" * 5000,
    "0o777", "0o8", "0x", "1_000", "0777", "+7", "-0", "1:30", "2024-01-02", "yes", "on",
    "~", "null", "", "true", "TRUE", "tRue", "!!binary aGk=", "!!float 1", "!!int 'x'",
    "!!str 12", "!custom x", "!!python/none ''", "*undefined", "&a 1", "&a [*a]", "'quoted'",
    '"\\x00"', '"\\u0007"', "'", '"', "[", "{", "]", "}", "? x", "- x", "|", ">", "%YAML 1.2",
    "---", "...", "@", "`", "\t1", "café ✓", "\U0001f600", "a: b", "[1, .nan]", "{x: .inf}",
    "{? [a]: 1}", "[[[[[[[[[[1]]]]]]]]]]", "GPU_TYPE_H100", "CLOUD_PROVIDER_NEBIUS", "65",
    "64", "0", "-1", "1.0",
]  # fmt: skip
KEYS = [
    "apiVersion", "kind", "metadata", "spec", "reconcile", "name", "labels", "modelPath",
    "gpuType", "gpuCount", "infra", "cloudProvider", "nebiusRegion", "modelSpec", "hfToken",
    "apiKey", "fromFile", "fromEnv", "selfHeal", "x", "1", "on", "<<",
]  # fmt: skip
# Places in the valid manifest where generated content is put.
PLACES = [
    (),
    ("metadata",),
    ("metadata", "labels"),
    ("spec",),
    ("spec", "infra"),
    ("spec", "modelSpec"),
    ("spec", "hfToken"),
    ("reconcile",),
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(KEYS),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=4)
    ),
    max_leaves=12,
)


def base_manifest(name: str) -> dict[str, object]:
    return {
        "apiVersion": "tensormesh.gitops/v1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "labels": {"team": "search"}},
        "spec": {
            "modelPath": "org/model",
            "gpuType": "GPU_TYPE_H100",
            "gpuCount": 1,
            "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
            "modelSpec": {"maxModelLen": 8192},
            "hfToken": {"fromEnv": "HF_TOKEN"},
        },
        "reconcile": {"selfHeal": True},
    }


SPEC: dict[str, Any] = base_manifest("x")["spec"]  # type: ignore[assignment]
NAN = float("nan")


@st.composite
def structured_documents(draw: st.DrawFn) -> str:
    """A valid manifest with generated values put at random places, dumped by PyYAML."""
    document = base_manifest(draw(st.sampled_from(["alpha", "beta", "Bad_Name", "x" * 70])))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        target: object = document
        for part in draw(st.sampled_from(PLACES)):
            target = target.get(part) if isinstance(target, dict) else None
        if isinstance(target, dict):
            key = draw(st.sampled_from(KEYS))
            if draw(st.booleans()):
                target[key] = draw(values)
            else:
                target.pop(key, None)
    return yaml.safe_dump(document, sort_keys=draw(st.booleans()), allow_unicode=True)


@st.composite
def raw_documents(draw: st.DrawFn) -> str:
    """A valid manifest's text with some lines' values replaced by raw scalars or lines."""
    lines = yaml.safe_dump(base_manifest("gamma"), sort_keys=False).splitlines()
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        raw = draw(st.one_of(st.sampled_from(RAW_SCALARS), st.text(max_size=12)))
        line = lines[index]
        if ":" in line and draw(st.booleans()):
            lines[index] = line.split(":", 1)[0] + ": " + raw
        else:
            lines.insert(index, raw)
    return "\n".join(lines) + "\n"


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from(RAW_SCALARS[:13]),
)


@st.composite
def number_documents(draw: st.DrawFn) -> str:
    """A valid manifest whose gpuCount or a modelSpec value, at some depth, is a number
    drawn from the whole float and integer range (NaN, infinities, beyond int64)."""
    number = draw(numbers)
    text = number if isinstance(number, str) else yaml.safe_dump(number).split("\n")[0]
    nested = text
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        nested = draw(st.sampled_from(["[{}]", "{{k: {}}}", "[1, {}]"])).format(nested)
    lines = yaml.safe_dump(base_manifest("delta"), sort_keys=False).splitlines()
    key = draw(st.sampled_from(["gpuCount", "maxModelLen"]))
    return (
        "\n".join(
            line.split(":", 1)[0] + ": " + (text if key == "gpuCount" else nested)
            if line.strip().startswith(key + ":")
            else line
            for line in lines
        )
        + "\n"
    )


documents = st.lists(
    st.one_of(structured_documents(), raw_documents(), number_documents()), min_size=1, max_size=3
)


@contextlib.contextmanager
def debug_mode() -> Iterator[None]:
    # With TENSORMESH_DEBUG a bug raises instead of printing "internal error": Hypothesis
    # then shrinks the failing document and shows the traceback.
    saved = os.environ.get("TENSORMESH_DEBUG")
    os.environ["TENSORMESH_DEBUG"] = "1"
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TENSORMESH_DEBUG"]
        else:
            os.environ["TENSORMESH_DEBUG"] = saved


def run(args: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with debug_mode(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue() + err.getvalue()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(documents, st.sampled_from(["utf-8", "utf-8-sig"]))
@example(
    [yaml.safe_dump({**base_manifest("nan"), "spec": {**SPEC, "modelSpec": {"x": NAN}}})], "utf-8"
)
@example([yaml.safe_dump({**base_manifest("big"), "spec": {**SPEC, "gpuCount": 2**63}})], "utf-8")
def test_generated_manifests_never_break_validate_or_plan(texts: list[str], encoding: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        manifests = Path(folder, "deploy")
        manifests.mkdir()
        for index, text in enumerate(texts):
            try:
                data = text.encode(encoding)
            except UnicodeEncodeError:  # lone surrogates from st.text()
                data = text.encode("utf-8", "surrogatepass")
            (manifests / f"m{index}.yaml").write_bytes(data)
        state = str(Path(folder, "state.json"))
        codes = []
        for args in (
            ["validate", str(manifests)],
            ["plan", str(manifests), "--state", state],
        ):
            code, output = run(args)
            assert code in (0, 1), (args, code, output)
            assert "internal error" not in output and "Traceback" not in output, output
            assert not Path(state).exists()
            codes.append(code)
        assert len(set(codes)) == 1, codes  # plan refuses exactly what validate refuses
        if codes[0] == 0:
            for model in manifest_files.load_desired([str(manifests)]):
                assert_sendable(model.spec)


def assert_sendable(spec: Mapping[str, Any]) -> None:
    """The Deploy Model body is built from the spec: strict JSON, int64 numbers."""
    json.dumps(spec, allow_nan=False)  # ValueError on NaN or Infinity
    assert 1 <= spec["gpuCount"] <= 64, spec["gpuCount"]
    assert_int64(spec)


def assert_int64(value: Any) -> None:
    if isinstance(value, dict):
        for item in value.values():
            assert_int64(item)
    elif isinstance(value, list):
        for item in value:
            assert_int64(item)
    elif isinstance(value, int) and not isinstance(value, bool):
        assert -(2**63) <= value < 2**63, value
