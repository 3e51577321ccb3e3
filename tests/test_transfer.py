"""Export then import gives back the same memory: records, vectors and history."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memstrata import InvalidInput, Memory

texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=80,
).filter(lambda t: t.strip())
plain = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**9), 10**9),
    plain,
    st.floats(allow_nan=False, allow_infinity=False),
)
metadata = st.dictionaries(plain.filter(bool), scalars, max_size=4)
message = st.fixed_dictionaries(
    {"content": texts},
    optional={
        "role": st.sampled_from(["user", "assistant", "tool"]),
        "metadata": metadata,
        "name": st.sampled_from(["alice", "bob", "Zoë"]),
        "kind": st.sampled_from(["event", "fact"]),
    },
)


def _snapshot(m: Memory, namespace: str = "default") -> list[tuple]:
    out = []
    for record, vector in m.store.iter_records(m.store_scope(namespace)):
        history = [(e.op, e.at, e.before, e.after) for e in m.store.history_entries(record.id)]
        out.append((record, None if vector is None else vector.tobytes(), history))
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(message, min_size=1, max_size=6), ops=st.lists(st.integers(0, 2), max_size=4))
def test_export_import_round_trip_is_lossless(batch: list[dict], ops: list[int]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        src = Memory(Path(folder) / "a.db", embedder="hash")
        records = src.add(batch, user_id="u", session_id="s")
        for i, op in enumerate(ops):
            target = records[i % len(records)].id
            try:
                if op == 0:
                    src.update(target, text=f"revised {i}", user_id="u")
                elif op == 1:
                    src.delete(target, user_id="u")
                else:
                    src.feedback(target, True, user_id="u")
            except Exception:  # deleted already: later ops on it are NotFound
                pass
        buffer = io.StringIO()
        stored = src.stats()["records"]  # the turns and what formation derived from them
        assert src.export(buffer) == stored >= len(records)
        dst = Memory(Path(folder) / "b.db", embedder="hash")
        buffer.seek(0)
        assert dst.import_(buffer) == stored
        before = _snapshot(src)
        after = _snapshot(dst)
        assert [(r, v) for r, v, _ in after] == [(r, v) for r, v, _ in before]
        # The copy's history is the original's plus one "import" entry.
        assert [h[:-1] for _, _, h in after] == [h for _, _, h in before]
        assert {h[-1][0] for _, _, h in after} == {"import"}
        buffer.seek(0)
        assert dst.import_(buffer) == 0  # idempotent
        src.close()
        dst.close()


def test_import_into_another_namespace_and_file_path(memory: Memory, tmp_path: Path) -> None:
    memory.add(["alpha", "beta"], user_id="u")
    path = tmp_path / "dump.jsonl"
    memory.export(path)
    with Memory(tmp_path / "c.db", embedder="hash") as other:
        assert other.import_(path, namespace="acme") == 2
        assert other.list(namespace="default").records == []
        assert sorted(r.text for r in other.list(namespace="acme").records) == ["alpha", "beta"]
        hit = other.search("alpha", namespace="acme", strategy="dense", k=1)[0]
        assert hit.record.text == "alpha"


def test_import_from_another_model_re_embeds(memory: Memory, tmp_path: Path) -> None:
    memory.add("penguins huddle together")
    buffer = io.StringIO()
    memory.export(buffer)
    buffer.seek(0)
    with Memory(tmp_path / "d.db", embedder="hash-32") as other:
        assert other.import_(buffer) == 1
        [(_record, vector)] = list(other.store.iter_records(other.store_scope("default")))
        assert vector is not None and vector.shape == (32,)
        assert np.isclose(np.linalg.norm(vector), 1.0)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("", "line 1 is not a memstrata-export header"),
        ('{"type": "header", "format": "memstrata-export", "version": 9}\n', "version 9"),
        ('{"type":"header","format":"memstrata-export","version":1}\nnot json\n', "line 2 is not"),
        (
            '{"type":"header","format":"memstrata-export","version":1}\n{"type":"record",'
            '"record":{"id":"x","evil":1}}\n',
            "line 2: malformed record",
        ),
        (
            '{"type":"header","format":"memstrata-export","version":1}\n{"type":"history",'
            '"entry":{}}\n',
            "before any record",
        ),
    ],
)
def test_bad_import_files_are_rejected(memory: Memory, content: str, fragment: str) -> None:
    memory.add("existing")
    with pytest.raises(InvalidInput, match=fragment):
        memory.import_(io.StringIO(content))
    assert [r.text for r in memory.list().records] == ["existing"]
