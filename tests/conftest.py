"""Shared fixtures: `sandbox` is a real sandbox subprocess on loopback, one per session (per
xdist worker), reset (`POST /_sandbox/reset`) before each test so that every test starts from
a fresh one.
"""

from __future__ import annotations

import compileall
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support import examples
from tests.support.postgres import PostgresServer, start_postgres
from tests.support.sandbox import PROJECT_ROOT, SandboxProcess, start_sandbox

# Bytecode is written during a test session even where PYTHONDONTWRITEBYTECODE is set (this
# project's machines): pytest then keeps its rewritten test modules, and each run or xdist
# worker imports them compiled instead of compiling ~150 modules again (~2 s of CPU each).
sys.dont_write_bytecode = False

if examples.SCALE < 1:  # `make test-fast`: also fewer examples where a test sets none
    settings.register_profile("fast", max_examples=examples.examples(100))
    settings.load_profile("fast")


def pytest_configure(config: pytest.Config) -> None:
    # Every CLI and sandbox subprocess imports the package: compiled once here (as pip does on
    # install) instead of in each child, where PYTHONDONTWRITEBYTECODE (set on this project's
    # machines) would leave the bytecode unwritten, ~0.1-0.2 s of CPU per child.
    if not hasattr(config, "workerinput"):  # the xdist controller or a plain run, not a worker
        for package in ("reconciler", "bench", "tests"):
            compileall.compile_dir(PROJECT_ROOT / package, quiet=1)
        if getattr(config.option, "numprocesses", None):
            _rewrite_test_modules(config)
        if _runs_conformance(config):
            # The SDK's venv downloads from PyPI when first built: started now, in the
            # background, the download overlaps the tests instead of holding up a worker. The
            # conformance fixtures wait for it (a file lock) or build it themselves.
            threading.Thread(target=_build_sdk_env, daemon=True).start()


def _rewrite_test_modules(config: pytest.Config) -> None:
    """Write pytest's assertion-rewritten bytecode of every test module once, here, before
    the xdist workers start. In a fresh checkout each worker would otherwise rewrite all
    ~160 of them at the same moment (~5 s of CPU each). Uses pytest's own (private)
    functions; where they differ in another pytest version, the workers rewrite as before."""
    try:
        from _pytest.assertion import rewrite

        state = config.stash[rewrite.assertstate_key]
        for path in sorted((PROJECT_ROOT / "tests").rglob("*.py")):
            if not (path.name.startswith("test_") or path.name == "conftest.py"):
                continue
            pyc = rewrite.get_cache_dir(path) / (path.name[:-3] + rewrite.PYC_TAIL)
            if rewrite._read_pyc(path, pyc, state.trace) is None:
                pyc.parent.mkdir(exist_ok=True)
                source_hash, code = rewrite._rewrite_test(path, config)
                rewrite._write_pyc(state, code, source_hash, pyc)
    except (AttributeError, ImportError, KeyError, TypeError, OSError):
        return


def _runs_conformance(config: pytest.Config) -> bool:
    folder = PROJECT_ROOT / "tests" / "conformance"
    ignored = [Path(path).resolve() for path in config.getoption("ignore") or ()]
    if any(folder == path or folder.is_relative_to(path) for path in ignored):
        return False
    chosen = [Path(arg.split("::", 1)[0]).resolve() for arg in config.args]
    return any(folder.is_relative_to(path) or path.is_relative_to(folder) for path in chosen)


def _build_sdk_env() -> None:
    from tests.conformance.sdk_env import ensure_sdk_env

    try:
        ensure_sdk_env()
    except BaseException:  # a skip or a failure is the fixtures' to report
        return


# The longest single tests (tens of seconds each), started first so that, under xdist, no
# worker is left running one of them alone at the end.
_LONGEST = ("tests/e2e/test_fault_campaign.py", "tests/test_bench_smoke.py")
_SUBPROCESS_MARKS = frozenset({"e2e", "cli", "slow", "postgres"})
_SUBPROCESS_FOLDERS = ("tests/conformance/", "tests/examples/")


def _module_of(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def _rank(item: pytest.Item) -> int:
    module = _module_of(item)
    if module in _LONGEST:
        return 0
    if module.startswith(_SUBPROCESS_FOLDERS) or _SUBPROCESS_MARKS & {
        mark.name for mark in item.iter_markers()
    }:
        return 1
    return 2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test on the subprocess sandbox is end to end whatever its folder: `make test-fast`
    # leaves it out by marker.
    for item in items:
        if "sandbox" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)
    # Whole modules, longest kinds first (subprocess tests, then the many short unit tests
    # that fill the gaps): a module stays in one piece, so its sandbox is started once.
    ranks: dict[str, int] = {}
    for item in items:
        module = _module_of(item)
        ranks[module] = min(ranks.get(module, 2), _rank(item))
    items.sort(key=lambda item: ranks[_module_of(item)])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # A test's ("summary", text) property, e.g. the fault campaign's totals: printed here, as
    # an xdist worker's own output never reaches the terminal.
    for report in terminalreporter.getreports("passed") + terminalreporter.getreports("failed"):
        for name, text in getattr(report, "user_properties", ()):
            if name == "summary" and report.when == "call":
                terminalreporter.write_line(str(text))


@pytest.fixture(scope="session")
def _session_sandbox() -> Iterator[list[SandboxProcess]]:
    # A list, so that a test that stopped or killed the process gets a new one. One for the
    # session, not per module: the reset restores all a fresh start holds, and each start
    # costs ~0.5 s of CPU (uvicorn, fastapi).
    held: list[SandboxProcess] = []
    yield held
    for process in held:
        process.stop()


@pytest.fixture
def sandbox(_session_sandbox: list[SandboxProcess]) -> SandboxProcess:
    if _session_sandbox and _session_sandbox[-1].proc.poll() is None:
        process = _session_sandbox[-1]
        process.reset()
        return process
    process = start_sandbox()
    _session_sandbox.append(process)
    return process


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (skipped when the binaries are missing)."""
    with start_postgres() as server:
        yield server


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    """The URL (with password) of a fresh, empty database on the session's server."""
    return postgres_server.create_database()
