"""Hostile state, journal and saved-plan files through the real CLI entry point (in process).

Every case must end as one `error: state file …` (or plan file) message naming the file,
exit 1, no traceback, no "internal error", the file's bytes untouched, and a secret pasted
anywhere in the file never shown.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.cli import main
from tests.support.cli import write_manifest

GOLDEN = Path(__file__).resolve().parent / "golden" / "state.v1.json"
SECRET = "hf_SUPERSECRETVALUE0123456789"
FINGERPRINT = "hmac-sha256:" + "0f" * 32
QWEN_ID = "7d9e0f1a-2b3c-4d5e-8f60-718293a4b5c6"


def golden_text() -> str:
    return GOLDEN.read_text(encoding="utf-8")


def golden_doc() -> dict:  # type: ignore[type-arg]
    return json.loads(golden_text())  # type: ignore[no-any-return]


def edited(change: Callable[[dict], None]) -> bytes:  # type: ignore[type-arg]
    doc = golden_doc()
    change(doc)
    return json.dumps(doc, indent=2).encode()


def nested(depth: int, leaf: str = "1") -> str:
    return '{"a": ' * depth + leaf + "}" * depth


def conflicted() -> bytes:
    lines = golden_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if '"serial"' in line)
    ours, theirs = lines[at], lines[at].replace("3", "4")
    merged = [*lines[:at], "<<<<<<< HEAD\n", ours, "=======\n", theirs, ">>>>>>> main\n"]
    return "".join([*merged, *lines[at + 1 :]]).encode()


def _set(path: tuple[str, ...], value: object) -> Callable[[dict], None]:  # type: ignore[type-arg]
    def change(doc: dict) -> None:  # type: ignore[type-arg]
        for key in path[:-1]:
            doc = doc[key]
        doc[path[-1]] = value

    return change


LLAMA = ("entries", "llama-8b-chat")
TEXT = golden_text()

# (id, file bytes, a regex the message must match)
STATE_CORPUS: list[tuple[str, bytes, str]] = [
    (
        "duplicate-entry-key",
        TEXT.replace(
            '"entries": {',
            '"entries": {"qwen-32b": ' + json.dumps(golden_doc()["entries"]["qwen-32b"]) + ",",
            1,
        ).encode(),
        r'the key "qwen-32b" a second time .* line \d+ .*\$\.entries\.qwen-32b',
    ),
    (
        "duplicate-top-level-key",
        TEXT.replace('"serial": 3', '"serial": 3,\n  "serial": 4').encode(),
        r'the key "serial" a second time',
    ),
    (
        "duplicate-key-in-spec",
        TEXT.replace('"gpuCount": 1,', '"gpuCount": 1, "gpuCount": 8,').encode(),
        r'"gpuCount" a second time .*\$\.entries\.llama-8b-chat\.spec\.gpuCount',
    ),
    (
        "duplicate-key-escaped",
        TEXT.replace('"serial": 3', '"serial": 3, "\\u0073erial": 4').encode(),
        r'the key "serial" a second time',
    ),
    ("deep-arrays-1e5", b"[" * 100_000 + b"]" * 100_000, r"nesting deeper than 128 levels"),
    ("deep-objects-1e4", nested(10_000).encode(), r"nesting deeper than 128 levels"),
    (
        "deep-spec",
        TEXT.replace('"gpuCount": 1,', f'"modelSpec": {nested(200)}, "gpuCount": 1,').encode(),
        r"nesting deeper than 128 levels at line \d+ .*\$\.entries\.llama-8b-chat\.spec",
    ),
    (
        "huge-int-5000-digits",
        TEXT.replace('"serial": 3', '"serial": ' + "9" * 5000).encode(),
        r"an integer outside the 64-bit range at line \d+ column \d+ \(\$\.serial\)",
    ),
    (
        "int-past-int64",
        TEXT.replace('"gpuCount": 1', '"gpuCount": 9223372036854775808').encode(),
        r"outside the 64-bit range .*spec\.gpuCount",
    ),
    (
        "float-1e999",
        TEXT.replace('"gpuCount": 1', '"gpuCount": 1e999').encode(),
        r"a number too large to represent",
    ),
    ("nan", TEXT.replace('"gpuCount": 1', '"gpuCount": NaN').encode(), r"NaN, which is not JSON"),
    (
        "infinity",
        TEXT.replace('"serial": 3', '"serial": Infinity').encode(),
        r"Infinity, which is not JSON",
    ),
    (
        "minus-infinity",
        TEXT.replace('"gpuCount": 2', '"gpuCount": -Infinity').encode(),
        r"-Infinity, which is not JSON",
    ),
    (
        "secret-as-fingerprint",
        TEXT.replace(FINGERPRINT, SECRET).encode(),
        r"secrets\.hfToken\.fingerprint: a string of \d+ characters does not match",
    ),
    (
        "secret-as-fingerprint-long",
        TEXT.replace(FINGERPRINT, SECRET * 20).encode(),
        r"fingerprint: a string of \d+ characters",
    ),
    (
        "secret-as-secret-field-name",
        edited(_set((*LLAMA, "secrets", SECRET), {"ref": {"fromEnv": "X"}, "fingerprint": None})),
        r"secrets",
    ),
    (
        "secret-as-unknown-secret-field",
        edited(_set((*LLAMA, "secrets", "hfToken", SECRET), "x")),
        r"secrets\.hfToken: holds field\(s\) that are not allowed",
    ),
    (
        "secret-value-in-spec",
        edited(_set((*LLAMA, "spec", "hfToken"), SECRET)),
        r"spec: holds a field that is not allowed here",
    ),
    (
        "secret-as-fingerprint-number",
        edited(_set((*LLAMA, "secrets", "hfToken", "fingerprint"), 12345678901234)),
        r"fingerprint",
    ),
    (
        "conflict-markers",
        conflicted(),
        r"git merge conflict marker at line \d+.*`state merge-driver`",
    ),
    ("truncated", TEXT.encode()[: len(TEXT) // 2], r"is truncated"),
    ("truncated-in-string", TEXT.encode()[:60], r"is truncated"),
    ("empty", b"", r"is empty"),
    ("whitespace", b" \n\t\n", r"is empty"),
    ("not-utf8", b"\xff\xfe{}", r"not UTF-8"),
    ("nul-bytes", b"\x00" * 64, r"not valid JSON"),
    ("array-root", b"[]", r"\$: must be of type object, not array"),
    ("string-root", b'"state"', r"must be of type object, not string"),
    ("null-root", b"null", r"must be of type object, not null"),
    ("number-root-1e999", b"1e999", r"a number too large"),
    (
        "future-version-huge",
        TEXT.replace('"formatVersion": 1', '"formatVersion": 99999999999999999999').encode(),
        r"outside the 64-bit range",
    ),
    (
        "lone-surrogate",
        TEXT.replace('"status": "MODEL_STATUS_UP"', '"status": "\\ud800"').encode(),
        r"lone UTF-16 surrogate .*\$\.entries\.llama-8b-chat\.status",
    ),
    (
        "escape-sequence-in-model-id",
        TEXT.replace(QWEN_ID, "\\u001b[2J\\u001b[31mOWNED").encode(),
        r"\$\.entries\.qwen-32b\.modelId: .* does not match",
    ),
    (
        "carriage-return-in-status",
        TEXT.replace('"MODEL_STATUS_INIT"', '"MODEL_STATUS_UP\\rfake"').encode(),
        r"qwen-32b\.status",
    ),
    (
        "entries-as-array",
        edited(_set(("entries",), [])),
        r"\$\.entries: must be of type object, not array",
    ),
    (
        "key-differs-from-name",
        edited(lambda doc: doc["entries"].__setitem__("other", doc["entries"].pop("qwen-32b"))),
        r"\$\.entries\.other\.name",
    ),
    (
        "negative-serial",
        edited(_set(("serial",), -1)),
        r"\$\.serial: -1 breaks minimum 0",
    ),
    (
        "long-key",
        edited(_set(("entries", "x" * 10_000), {})),
        r"\$\.entries",
    ),
]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_clean_error(code: int, out: str, err: str, *, names: str, expected: str) -> None:
    assert code == 1, (code, out, err)
    assert "Traceback" not in out + err and "internal error" not in err, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert names in err, err
    import re

    assert re.search(expected, err), err
    assert SECRET not in out + err and SECRET[:12] not in out + err
    assert len(err) < 1000, err  # never a dump of the file


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    folder = tmp_path / "manifests"
    write_manifest(folder, "qwen-32b")
    return folder


@pytest.mark.parametrize(
    ("content", "expected"),
    [pytest.param(content, expected, id=case) for case, content, expected in STATE_CORPUS],
)
def test_hostile_state_file_is_one_clean_error(
    tmp_path: Path,
    manifests: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
    expected: str,
) -> None:
    state = tmp_path / "tensormesh.state.json"
    state.write_bytes(content)
    for args in (
        ["state", "list"],
        ["state", "list", "--output", "json"],
        ["state", "show", "qwen-32b"],
        ["plan", str(manifests)],
        ["plan", str(manifests), "--output", "json", "--out", str(tmp_path / "p.json")],
        ["state", "rm", "qwen-32b"],
    ):
        code, out, err = run([*args, "--state", str(state)], capsys)
        assert_one_clean_error(code, out, err, names=f"state file {state}", expected=expected)
        assert state.read_bytes() == content
    assert not (tmp_path / "p.json").exists()


def test_the_corpus_is_not_trivially_small() -> None:
    assert len(STATE_CORPUS) >= 30


def test_a_byte_order_mark_is_tolerated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "s.json"
    state.write_bytes("\ufeff".encode() + GOLDEN.read_bytes())
    code, out, _ = run(["state", "list", "--state", str(state)], capsys)
    assert code == 0 and "qwen-32b" in out


# -- the journal next to the state -------------------------------------------------------

GOOD_LINE = '{"name":"qwen-32b","op":"status","payload":"MODEL_STATUS_UP"}'

JOURNAL_CORPUS: list[tuple[str, str, str]] = [
    (
        "duplicate-key",
        '{"name":"qwen-32b","op":"status","payload":"A","payload":"B"}',
        r'the key "payload" a second time',
    ),
    ("nan", '{"name":"qwen-32b","op":"status","payload":NaN}', r"NaN, which is not JSON"),
    ("deep", '{"name":"x","op":"close","payload":' + nested(5000, "null") + "}", r"nesting"),
    (
        "huge-int",
        '{"name":"qwen-32b","op":"intent","payload":{"name":"qwen-32b","modelName":"q",'
        '"attempt":' + "7" * 5000 + ',"action":"create"}}',
        r"64-bit range",
    ),
    (
        "secret-as-fingerprint",
        json.dumps(
            {
                "op": "entry",
                "name": "qwen-32b",
                "payload": {
                    **golden_doc()["entries"]["llama-8b-chat"],
                    "name": "qwen-32b",
                    "secrets": {"hfToken": {"ref": {"fromEnv": "X"}, "fingerprint": SECRET}},
                },
            }
        ),
        r"fingerprint: a string of \d+ characters",
    ),
]


@pytest.mark.parametrize(
    ("line", "expected"),
    [pytest.param(line, expected, id=case) for case, line, expected in JOURNAL_CORPUS],
)
def test_hostile_journal_line_is_one_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, expected: str
) -> None:
    state = tmp_path / "s.json"
    state.write_bytes(GOLDEN.read_bytes())
    journal = tmp_path / "s.json.journal"
    journal.write_text(line + "\n" + GOOD_LINE + "\n", encoding="utf-8")  # not the torn tail
    before = journal.read_bytes()
    for args in (["state", "list"], ["state", "rm", "qwen-32b"]):
        code, out, err = run([*args, "--state", str(state)], capsys)
        assert_one_clean_error(
            code, out, err, names=f"state journal {journal} line 1", expected=expected
        )
    assert journal.read_bytes() == before


# -- saved plan files --------------------------------------------------------------------


@pytest.fixture
def plan_file(tmp_path: Path, manifests: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    state = tmp_path / "s.json"
    state.write_bytes(GOLDEN.read_bytes())
    out = tmp_path / "plan.json"
    code, _, err = run(["plan", str(manifests), "--state", str(state), "--out", str(out)], capsys)
    assert code == 0, err
    return out


def _plan_cases(text: str) -> list[tuple[str, str, str]]:
    doc = json.loads(text)
    recorded = next(c for c in doc["changes"] if "recorded" in c)["recorded"]
    recorded["secrets"] = {"hfToken": {"ref": {"fromEnv": "X"}, "fingerprint": SECRET}}
    return [
        (
            "duplicate-key",
            text.replace('"prune": false', '"prune": false, "prune": true'),
            "a second time",
        ),
        ("nan", text.replace('"serial": 3', '"serial": NaN'), r"NaN, which is not JSON"),
        ("huge-int", text.replace('"serial": 3', '"serial": ' + "1" * 5000), r"64-bit range"),
        ("float-1e999", text.replace('"gpuCount": 1', '"gpuCount": 1e999', 1), r"too large"),
        (
            "deep",
            text.replace('"prune": false', '"prune": false, "x": ' + nested(300)),
            r"nesting deeper than 128",
        ),
        ("secret-as-fingerprint", json.dumps(doc), r"fingerprint: a string of \d+ characters"),
        ("truncated", text[: len(text) // 2], r"not valid JSON"),
        (
            "future-version-secret-tool",
            json.dumps({**json.loads(text), "formatVersion": 2, "toolVersion": SECRET}),
            r"newer tensormesh-reconciler \(unknown version;",
        ),
    ]


def test_hostile_plan_files_are_one_clean_error(
    tmp_path: Path, plan_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = _plan_cases(plan_file.read_text(encoding="utf-8"))
    state = tmp_path / "s.json"
    for case, text, expected in cases:
        path = tmp_path / f"{case}.plan.json"
        path.write_text(text, encoding="utf-8")
        for args in (["show", str(path)], ["apply", "--plan", str(path), "--state", str(state)]):
            code, out, err = run(args, capsys)
            assert_one_clean_error(code, out, err, names=f"plan file {path}", expected=expected)
    assert state.read_bytes() == GOLDEN.read_bytes()


def test_the_deepest_spec_a_manifest_allows_is_read_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing we write is refused: a manifest nests at most yaml_loader.MAX_DEPTH levels."""
    from reconciler.adapters import state_file, yaml_loader

    doc = golden_doc()
    deep: object = 1
    for _ in range(yaml_loader.MAX_DEPTH - 1):  # the spec itself is the first level
        deep = {"a": deep}
    doc["entries"]["qwen-32b"]["spec"]["modelSpec"] = deep
    state = tmp_path / "s.json"
    state.write_text(json.dumps(doc), encoding="utf-8")
    loaded = state_file.read_state(state)
    state_file.save_state(state, loaded)
    assert state_file.read_state(state) == loaded
    assert main(["state", "list", "--state", str(state)]) == 0
    capsys.readouterr()
