"""A damaged embedding model never refuses a write: the text is stored and counted,
found by full text with a warning in the result, and embedded later by reindex."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from memstrata import EmbeddingError, Memory
from memstrata.embed.onnx import DEFAULT_MODEL_DIR, MiniLMEmbedder

pytestmark = pytest.mark.model


@pytest.fixture()
def damaged(tmp_path: Path) -> MiniLMEmbedder:
    target = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, target)
    model = target / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 3] ^= 0x5A
    model.write_bytes(bytes(data))
    return MiniLMEmbedder(model_dir=target)


def test_a_damaged_model_stores_counts_and_falls_back_to_full_text(
    db_path: Path, damaged: MiniLMEmbedder
) -> None:
    with Memory(db_path, embedder=damaged) as m:
        with pytest.warns(UserWarning, match="the embedding model failed"):
            m.warm_up()
        with pytest.warns(UserWarning, match="without vectors"):
            stored = m.add(["I keep bees on the roof", "The roof leaks in winter"],
                           user_id="u")  # fmt: skip
        assert [m.get(r.id, user_id="u").text for r in stored] == [r.text for r in stored]
        stats = m.stats(user_id="u")
        assert stats["pending_vectors"] == 2
        assert stats["counters"]["embedding_failures"] == 2
        with pytest.warns(UserWarning, match="dense search skipped"):
            hits = m.search("bees", user_id="u")
        assert [h.record.text for h in hits] == ["I keep bees on the roof"]
        assert hits.warnings and "dense search skipped" in hits.warnings[0]
        with pytest.warns(UserWarning, match="dense search skipped"):
            ctx = m.context("bees", user_id="u")
        assert ctx.warnings and any("bees" in p.text for p in ctx.parts)
        with pytest.raises(EmbeddingError):
            m.search("bees", user_id="u", strategy="dense")  # it cannot go on without one
    with Memory(db_path) as m:  # the packaged model, whole
        assert m.reindex() >= 2
        assert m.stats(user_id="u")["pending_vectors"] == 0
        hits = m.search("insects kept up high", user_id="u", strategy="dense", k=1)
        assert hits[0].record.text == "I keep bees on the roof" and hits.warnings == []
