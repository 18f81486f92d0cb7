"""The contract of monitor/agents/port.py with faust-streaming, mode-streaming, aiokafka and rocksdict.

Every private or undocumented name the port touches must exist with the signature it is used with.
When an upgrade moves one, this test fails (and the port's start-up version check refuses the new
release until the port is adapted and the version added to ``SUPPORTED``). A second test makes sure
no other module of the package touches those names.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor._errors import ConfigError
from monitor.agents.port import SUPPORTED, FaustPort, check_versions, fetch_batches
from monitor.settings import Settings
from monitor.topics import partition_for

ROOT = Path(__file__).resolve().parents[2]


def _params(fn) -> list[str]:  # type: ignore[no-untyped-def]
    return list(inspect.signature(fn).parameters)


def test_the_consumer_methods_the_port_calls():
    from faust.transport.consumer import Consumer as Base
    from faust.transport.drivers.aiokafka import Consumer

    expected = {
        "_drain_messages": ["self", "fetcher"],  # replaced by fetch_batches
        "_wait_next_records": ["self", "timeout"],
        "_to_message": ["self", "tp", "record"],
        "perform_seek": ["self"],
        "wait_first": ["self", "coros", "timeout"],
        "_commit_offsets": ["self", "offsets", "start_new_transaction"],
        "seek_to_committed": ["self"],
        "seek": ["self", "partition", "offset"],
        "seek_wait": ["self", "partitions"],
        "highwaters": ["self", "partitions"],
        "earliest_offsets": ["self", "partitions"],
        "assignment": ["self"],
    }
    for name, params in expected.items():
        assert _params(getattr(Consumer, name)) == params, name
    assert inspect.iscoroutinefunction(Base._drain_messages)
    assert inspect.iscoroutinefunction(Consumer._wait_next_records)
    assert Consumer.consumer_stopped_errors  # caught by fetch_batches when the consumer stops
    assert _params(fetch_batches)[:4] == ["app", "fetcher", "sources", "handle"]


def test_the_app_consumer_producer_and_table_attributes_the_port_reads(tmp_path):
    from monitor.agents.app import create_app

    app, shell = create_app(Settings(store="memory://", data_dir=tmp_path / "d", app_id="contract", partitions=2,
                                     topic_prefix="contract."), ops=False)
    consumer = app.consumer
    for name in ("_stopped", "_read_offset", "_buffered_partitions", "_committed_offset", "suspend_flow", "callback"):
        assert hasattr(consumer, name), name
    assert consumer._stopped.is_set() is False and isinstance(consumer.flow_active, bool)
    assert isinstance(consumer.should_stop, bool)
    assert hasattr(app, "consumer_generation_id") and hasattr(app, "should_stop")
    assert _params(type(app.assignor).assigned_actives) == ["self"]
    recovery = app.tables.recovery
    assert isinstance(recovery.in_recovery, bool) and _params(type(recovery).active_remaining_total) == ["self"]
    assert callable(app.topics.add)
    producer = app.producer
    assert _params(type(producer)._ensure_producer) == ["self"]
    assert _params(type(producer)._settings_extra) == ["self"]
    assert producer._settings_extra() == {"acks": "all", "enable_idempotence": True}  # the port set it
    port = shell.port
    assert isinstance(port, FaustPort) and port.changelog == "contract-borrowers-changelog"
    assert isinstance(port.table.data.data, dict)  # the memory store's dict
    port.write(partition_for("B1", 2), {b"B1": b"{}"}, 7)
    assert port.get(b"B1") == b"{}"


def test_the_rocksdb_store_takes_a_value_and_its_changelog_offset_in_one_write_batch(tmp_path):
    from faust.stores.rocksdb import Store
    from faust.types import TP

    from monitor.agents.app import create_app

    assert _params(Store._db_for_partition) == ["self", "partition"] and isinstance(Store.offset_key, bytes)
    _app, shell = create_app(Settings(store="rocksdb://", data_dir=tmp_path / "d", app_id="contract", partitions=2,
                                     topic_prefix="contract."), ops=False)
    port = shell.port
    store = port.table.data
    one = [b for b in ("B1", "B2", "B3", "B4", "B5", "B6") if partition_for(b, 2) == 1][:2]
    port.write(1, {b.encode(): f'{{"id": "{b}"}}'.encode() for b in one}, 41)
    assert [port.get(b.encode()) for b in one] == [f'{{"id": "{b}"}}'.encode() for b in one]
    assert store.persisted_offset(TP(port.changelog, 1)) == 41  # what Faust's recovery reads on from
    assert store.persisted_offset(TP(port.changelog, 0)) is None
    assert port.get(b"nobody") is None


def test_the_aiokafka_names_the_port_uses():
    from aiokafka import AIOKafkaProducer
    from aiokafka.consumer.group_coordinator import GroupCoordinator
    from aiokafka.producer.message_accumulator import BatchBuilder
    from aiokafka.protocol.commit import OffsetFetchRequest

    assert _params(GroupCoordinator._send_req) == ["self", "request"]
    assert _params(GroupCoordinator._do_fetch_commit_offsets) == ["self", "partitions"]
    assert _params(GroupCoordinator.coordinator_dead) == ["self"]
    assert _params(OffsetFetchRequest.__init__) == ["self", "consumer_group", "partitions"]
    assert _params(AIOKafkaProducer.create_batch) == ["self"]
    assert _params(AIOKafkaProducer.send_batch) == ["self", "batch", "topic", "partition"]
    assert _params(BatchBuilder.append) == ["self", "timestamp", "key", "value", "headers"]
    assert _params(BatchBuilder.close) == ["self"] and _params(BatchBuilder.record_count) == ["self"]


def test_an_unsupported_library_version_refuses_the_start():
    check_versions()  # the installed ones are the supported ones
    installed = {name: versions[0] for name, versions in SUPPORTED.items()}
    with pytest.raises(ConfigError) as err:
        check_versions(lambda package: {**installed, "faust-streaming": "0.16.0"}[package])
    text = str(err.value)
    assert "faust-streaming 0.16.0 (supported: 0.15.3)" in text and "monitor/agents/port.py" in text


LIBRARIES = ("faust", "mode", "aiokafka", "rocksdict")
#: documented names that start with an underscore (the standard library's os._exit, namedtuple methods)
DOCUMENTED = {"_exit", "_replace", "_asdict", "_fields", "_make", "_field_defaults"}
#: the port's own tests: they call the touched names on purpose
PORT_TESTS = {"tests/agents/test_port_contract.py", "tests/agents/test_port.py"}
_ATTR_CALLS = ("getattr", "hasattr", "setattr", "delattr")


def _attribute_strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """``getattr(x, "name")`` and its kin: (line, name)."""
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _ATTR_CALLS
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)):
            yield node.lineno, node.args[1].value


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _defined(tree: ast.AST) -> set[str]:
    """Every name a module defines itself: functions, classes, attributes it assigns, variables, arguments."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[0])
    return names


def _sources() -> dict[str, ast.AST]:
    """The product's and the tests' modules but the port and its own tests, by path."""
    out = {}
    for path in sorted([*(ROOT / "monitor").rglob("*.py"), *(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]):
        rel = path.relative_to(ROOT).as_posix()
        if rel != "monitor/agents/port.py" and rel not in PORT_TESTS:
            out[rel] = ast.parse(path.read_text(), rel)
    return out


def _offenders(rel: str, tree: ast.AST, touched: set[str], ours: set[str]) -> list[str]:
    """Where module ``rel`` reaches into a library's private parts: a name the port touches (on anything
    but the module's own objects), an underscore name nobody in the repository defines (so a library's),
    either as an attribute or through getattr and its kin, or an import of a private name or module."""
    own = _defined(tree)
    ours = ours | own
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in LIBRARIES:
            found += [f"{rel}:{node.lineno} imports {a.name} from {node.module}" for a in node.names if _private(a.name)]
            if any(_private(part) for part in node.module.split(".")):
                found.append(f"{rel}:{node.lineno} imports from the private module {node.module}")
        elif isinstance(node, ast.Import):
            found += [f"{rel}:{node.lineno} imports the private module {a.name}" for a in node.names
                      if a.name.split(".")[0] in LIBRARIES and any(_private(p) for p in a.name.split("."))]
        elif isinstance(node, ast.Attribute):
            mine = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls") and node.attr in own
            if node.attr in touched and not mine:
                found.append(f"{rel}:{node.lineno} touches .{node.attr}")
            elif _private(node.attr) and node.attr not in ours and node.attr not in DOCUMENTED:
                found.append(f"{rel}:{node.lineno} touches .{node.attr}, which nothing in the repository defines")
    for line, name in _attribute_strings(tree):
        if name in touched and name not in own or _private(name) and name not in ours:
            found.append(f"{rel}:{line} touches {name!r} by name")
    return found


def _touched_by_the_port() -> set[str]:
    """The attribute names the port reaches on the libraries' objects: every name it accesses that starts
    with an underscore (on anything but itself, as an attribute or through getattr and its kin), and the
    undocumented public ones it lists below."""
    tree = ast.parse((ROOT / "monitor" / "agents" / "port.py").read_text())
    private = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and _private(n.attr)
               and not (isinstance(n.value, ast.Name) and n.value.id in ("self", "cls"))}
    private |= {name for _, name in _attribute_strings(tree) if _private(name)}
    undocumented = {"assigned_actives", "consumer_generation_id", "seek_wait", "highwaters", "earliest_offsets",
                    "seek_to_committed", "perform_seek", "flow_active", "suspend_flow", "wait_first",
                    "in_recovery", "active_remaining_total", "recovery", "offset_key"}
    return private | undocumented


def test_no_private_faust_mode_or_aiokafka_name_is_touched_outside_the_port():
    """Product code, benches and tests alike (but the port's own tests): nothing reaches a name the port
    touches, nor any other underscore name that the repository does not define itself."""
    touched = _touched_by_the_port()
    assert {"_drain_messages", "_commit_offsets", "_ensure_producer", "_db_for_partition", "_send_req",
            "_committed_offset"} <= touched
    sources = _sources()
    ours = set().union(*(_defined(tree) for tree in sources.values()))
    assert len(sources) > 100 and "_watch_ends" in ours
    offenders = [o for rel, tree in sources.items() for o in _offenders(rel, tree, touched, ours)]
    assert offenders == []


@pytest.mark.parametrize(("source", "found"), [
    ("consumer._read_offset[tp] = 3", "touches ._read_offset"),
    ("class C(Consumer):\n    def f(self):\n        return self._read_offset", "touches ._read_offset"),
    ("x = app.consumer._fetcher", "touches ._fetcher, which nothing in the repository defines"),
    ("x = getattr(app.consumer, '_committed_offset', None)", "touches '_committed_offset' by name"),
    ("x = getattr(app.consumer, '_coordinator')", "touches '_coordinator' by name"),
    ("from faust.transport.consumer import _ensure_bytes", "imports _ensure_bytes from faust.transport.consumer"),
    ("from aiokafka._internal import thing", "imports from the private module aiokafka._internal"),
    ("import mode._private.x", "imports the private module mode._private.x"),
    ("x = app.tables.recovery.in_recovery", "touches .in_recovery"),
])
def test_the_private_name_check_catches(source, found):
    touched = _touched_by_the_port()
    offenders = _offenders("m.py", ast.parse(source), touched, {"_watch_ends"})
    assert any(found in o for o in offenders), offenders


@pytest.mark.parametrize("source", [
    ("class S:\n    async def _commit_offsets(self):\n        pass\n    async def run(self):\n"
     "        await self._commit_offsets()"),  # the shell's own method of the same name
    "import os\nos._exit(1)",
    "x = shell._watch_ends()",  # the repository's own private name, from its unit test
])
def test_the_private_name_check_lets_pass(source):
    assert _offenders("m.py", ast.parse(source), _touched_by_the_port(), {"_watch_ends"}) == []


def test_the_in_memory_port_offers_what_the_shell_asks_of_the_port():
    from monitor.agents.port import Port
    from tests.agents.memory_port import MemoryPort

    wanted = {n for n, v in vars(Port).items() if not n.startswith("_") and (callable(v) or isinstance(v, property))}
    assert wanted and all(hasattr(MemoryPort, n) or n == "changelog" for n in wanted), wanted
    assert all(hasattr(FaustPort, n) for n in wanted)
    asyncio.run(MemoryPort().committed())
