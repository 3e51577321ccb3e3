"""The packaged default embedder (all-MiniLM-L6-v2, int8 ONNX) on the real model files."""

from __future__ import annotations

import itertools
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from memstrata.embed import onnx
from memstrata.embed.base import Embedder
from memstrata.embed.onnx import DEFAULT_MODEL_DIR, MiniLMEmbedder, window_starts
from memstrata.errors import ConfigError, EmbeddingError, InvalidInput

pytestmark = pytest.mark.model  # every test here uses the real packaged model files


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def test_identity_known_without_loading_the_model() -> None:
    e = MiniLMEmbedder()
    assert e.name == "all-MiniLM-L6-v2-int8"
    assert e.dim == 384
    assert e.fingerprint.startswith("sha256:") and len(e.fingerprint) == len("sha256:") + 16
    assert isinstance(e, Embedder)
    assert e._session is None and e._tokenizer is None


def test_shape_dtype_and_unit_norm(embedder: MiniLMEmbedder) -> None:
    out = embedder.embed(["hello world", "The quick brown fox jumps over the lazy dog."])
    assert out.shape == (2, 384)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_empty_texts_give_zero_rows(embedder: MiniLMEmbedder) -> None:
    out = embedder.embed(["", "a real sentence", "   \n"])
    assert not out[0].any() and not out[2].any()
    assert np.linalg.norm(out[1]) == pytest.approx(1.0, abs=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_all_empty_input_does_not_load_the_model() -> None:
    e = MiniLMEmbedder()
    assert not e.embed(["", " "]).any()
    assert e._session is None


def test_order_is_preserved_despite_length_sorting(embedder: MiniLMEmbedder) -> None:
    texts = [
        "a much longer sentence about the history of maritime trade in the Mediterranean sea",
        "short",
        "a medium sized sentence about cats",
        "tiny",
    ]
    together = embedder.embed(texts)
    alone = np.vstack([embedder.embed([t]) for t in texts])
    # int8 activations are quantized per batch, so batched and lone vectors differ slightly;
    # each row must still match its own text far better than any other text.
    sims = together @ alone.T
    assert (sims.argmax(axis=1) == np.arange(len(texts))).all()
    assert np.diag(sims).min() > 0.97


def test_paraphrase_is_closer_than_unrelated(embedder: MiniLMEmbedder) -> None:
    moved, relocated, eggs = embedder.embed(
        ["I moved to Lisbon in March", "she relocated to Portugal", "the recipe needs two eggs"]
    )
    assert moved @ relocated > moved @ eggs + 0.2
    assert relocated @ moved > relocated @ eggs + 0.2


def test_long_text_uses_more_than_the_first_window(embedder: MiniLMEmbedder) -> None:
    head = "The annual budget meeting covered salaries, rent and office supplies. " * 40
    tail = "My grandmother grows tomatoes and basil in her garden in Naples. " * 40
    long_text = head + tail
    assert len(embedder._tokenizer.encode(long_text).ids) > 2 * embedder.max_tokens

    whole, first, garden = embedder.embed([long_text, head, "gardening in Italy"])
    assert np.linalg.norm(whole) == pytest.approx(1.0, abs=1e-5)
    # A first-256-tokens-only embedding would equal `first` and know nothing of the garden.
    assert whole @ garden > first @ garden + 0.1


def test_window_starts_cover_the_text() -> None:
    assert window_starts(10, 254, 8) == [0]
    assert window_starts(254, 254, 8) == [0]
    starts = window_starts(600, 254, 8)
    assert starts[0] == 0 and starts[-1] == 600 - 254 and len(starts) == 3
    assert all(b - a <= 254 for a, b in itertools.pairwise(starts))  # no gaps
    many = window_starts(100_000, 254, 8)
    assert len(many) == 8 and many[0] == 0 and many[-1] == 100_000 - 254


def test_bad_input_types_are_rejected(embedder: MiniLMEmbedder) -> None:
    with pytest.raises(InvalidInput):
        embedder.embed("a single string")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        embedder.embed(["ok", None])  # type: ignore[list-item]


def test_concurrent_first_use_loads_once() -> None:
    e = MiniLMEmbedder(threads=1)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(e.embed(["concurrent first use"]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(np.array_equal(r, results[0]) for r in results)


@pytest.fixture()
def model_copy(tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, target)
    return target


def test_corrupted_model_file_is_an_embedding_error_until_it_is_fixed(
    model_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = model_copy / "model.onnx"
    good = model.read_bytes()
    data = bytearray(good)
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))

    e = MiniLMEmbedder(model_dir=model_copy)  # identity still comes from the manifest
    assert e.fingerprint == MiniLMEmbedder().fingerprint
    with pytest.raises(EmbeddingError, match=r"model\.onnx.*corrupt.*reinstall"):
        e.embed(["anything"])
    model.write_bytes(good)
    with pytest.raises(EmbeddingError, match="corrupt"):  # remembered, not read again
        e.embed(["anything"])
    monkeypatch.setattr(onnx, "_RETRY_LOAD_S", 0.0)
    assert e.embed(["anything"]).shape == (1, e.dim)  # loaded once the file is whole


def test_corrupted_tokenizer_is_an_embedding_error(model_copy: Path) -> None:
    tokenizer = model_copy / "tokenizer.json"
    tokenizer.write_text(tokenizer.read_text(encoding="utf-8").replace("lisbon", "lisbom"))
    with pytest.raises(EmbeddingError, match=r"tokenizer\.json.*corrupt"):
        MiniLMEmbedder(model_dir=model_copy).embed(["anything"])


def test_missing_manifest_raises_config_error(model_copy: Path) -> None:
    (model_copy / "manifest.json").unlink()
    with pytest.raises(ConfigError, match="manifest"):
        MiniLMEmbedder(model_dir=model_copy)


def test_bad_settings_raise_config_error() -> None:
    with pytest.raises(ConfigError):
        MiniLMEmbedder(max_tokens=4)
    with pytest.raises(ConfigError):
        MiniLMEmbedder(batch_size=0)
