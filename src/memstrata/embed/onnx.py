"""The default embedder: all-MiniLM-L6-v2 as an int8 ONNX graph, run by onnxruntime.

The model ships inside the package (`embed/model/`, built by tools/build_model.py), so nothing
is downloaded and torch is never imported. Only `manifest.json` is read when the embedder is
created; the 23 MB graph and the tokenizer are loaded on the first `embed` call.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memstrata.config import usable_cpus
from memstrata.embed.base import check_texts, normalize_rows
from memstrata.errors import ConfigError, EmbeddingError

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "model"

# Rows x padded length per ORT call. Caps the attention/FFN activations of a batch of long
# windows (~100 MB) while leaving batches of short texts at full `batch_size`.
_TOKEN_BUDGET = 16_384
# Texts beyond this many characters are cut before tokenizing: bounds the tokenizer's time
# and memory on pathological inputs (~1 MB is ~250k tokens, far more than 8 windows).
_MAX_CHARS = 1_000_000
_RETRY_LOAD_S = 60.0  # how long a failed load is remembered before the next try
_REINSTALL = "reinstall memstrata (pip install --force-reinstall memstrata)"


def _read_manifest(model_dir: Path) -> dict[str, Any]:
    path = model_dir / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        name, dim, digest = manifest["name"], manifest["dim"], manifest["sha256"]
    except FileNotFoundError:
        raise ConfigError(f"embedding model manifest {path} is missing; {_REINSTALL}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"embedding model manifest {path} is unreadable ({exc}); {_REINSTALL}"
        ) from exc
    ok = (
        isinstance(name, str)
        and isinstance(dim, int)
        and dim > 0
        and isinstance(digest, str)
        and len(digest) == 64
    )
    if not ok:
        raise ConfigError(f"embedding model manifest {path} has invalid fields; {_REINSTALL}")
    return manifest


def window_starts(n_tokens: int, window: int, max_windows: int) -> list[int]:
    """Start offsets of the windows that cover a text of `n_tokens` content tokens.

    A text that fits gets one window. A longer one gets ceil(n / window) windows, at most
    `max_windows`, spread evenly from the first token to the last: consecutive windows
    overlap a little when the split is uneven, and a very long text is sampled at evenly
    spaced places rather than cut after its first windows.
    """
    if n_tokens <= window:
        return [0]
    count = min(max_windows, math.ceil(n_tokens / window))
    last = n_tokens - window
    return [round(i * last / (count - 1)) for i in range(count)] if count > 1 else [0]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384-d, Apache-2.0) on onnxruntime, int8, CPU only.

    `MiniLMEmbedder()` uses the packaged model; `model_dir` points at another folder with the
    same layout (model.onnx, tokenizer.json, manifest.json). `threads` defaults to the CPUs
    available to the process. Texts longer than `max_tokens` tokens are embedded as up to
    `max_windows` windows whose normalised vectors are averaged. Thread-safe.

    Activations are quantized to int8 per onnxruntime call, so a text's vector depends a
    little on the texts batched with it (cosine >= ~0.98 with its vector when embedded alone).
    `batch_size=1` makes every vector independent of its neighbours, at ~half the throughput.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        threads: int | None = None,
        batch_size: int = 64,
        max_tokens: int = 256,
        max_windows: int = 8,
    ) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        manifest = _read_manifest(self.model_dir)
        self.name: str = manifest["name"]
        self.dim: int = manifest["dim"]
        self._sha256: str = manifest["sha256"].lower()
        self.fingerprint: str = f"sha256:{self._sha256[:16]}"
        source = manifest.get("source")
        tok_digest = source.get("tokenizer_sha256") if isinstance(source, dict) else None
        self._tokenizer_sha256: str | None = tok_digest if isinstance(tok_digest, str) else None

        limit = int(manifest.get("max_position_embeddings", 512))
        if not 8 <= max_tokens <= limit:
            raise ConfigError(f"max_tokens must be between 8 and {limit}, got {max_tokens}")
        if batch_size < 1 or max_windows < 1 or (threads is not None and threads < 1):
            raise ConfigError("batch_size, max_windows and threads must be >= 1")
        self.threads = threads
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.max_windows = max_windows

        self._session: Any = None  # onnxruntime.InferenceSession, created on first embed
        self._tokenizer: Any = None
        self._input_names: frozenset[str] = frozenset()
        self._cls_id = self._sep_id = self._pad_id = 0
        self._lock = threading.Lock()
        self._load_failure: tuple[float, EmbeddingError] | None = None

    def __repr__(self) -> str:
        return f"MiniLMEmbedder(name={self.name!r}, dim={self.dim}, model_dir='{self.model_dir}')"

    # -- loading -------------------------------------------------------------------------

    def _ensure_loaded(self) -> None:
        """Load the model on first use. A model that cannot be loaded (a damaged or
        missing file) is an EmbeddingError, as a failed run is: the caller stores the
        text without a vector and finds it by full text. The failure is remembered for
        _RETRY_LOAD_S, so that each call does not read and hash the file again."""
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:  # another thread loaded it while we waited
                return
            failed = self._load_failure
            if failed is not None and time.monotonic() - failed[0] < _RETRY_LOAD_S:
                raise failed[1]
            try:
                self._load()
            except ConfigError as exc:
                error = EmbeddingError(str(exc))
                self._load_failure = (time.monotonic(), error)
                raise error from exc
            self._load_failure = None

    def _load(self) -> None:
        tokenizer = self._load_tokenizer()
        session = self._load_session()
        self._input_names = frozenset(i.name for i in session.get_inputs())
        self._tokenizer = tokenizer
        self._session = session  # last: it is the "loaded" flag other threads check

    def _load_tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        path = self.model_dir / "tokenizer.json"
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read tokenizer {path} ({exc}); {_REINSTALL}") from exc
        # A damaged vocabulary can still parse and would then silently change every vector.
        self._check_digest(path, data, self._tokenizer_sha256)
        try:
            tokenizer = Tokenizer.from_str(data.decode("utf-8"))
        except Exception as exc:
            raise ConfigError(f"cannot load tokenizer {path} ({exc}); {_REINSTALL}") from exc
        # The file pads every text to 128 and truncates at 128. We add [CLS]/[SEP], cut the
        # windows and pad each batch to its longest row ourselves, so switch all of that off.
        tokenizer.no_padding()
        tokenizer.no_truncation()
        cls, sep, pad = (tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]"))
        if cls is None or sep is None or pad is None:
            raise ConfigError(f"tokenizer {path} lacks [CLS]/[SEP]/[PAD]; {_REINSTALL}")
        self._cls_id, self._sep_id, self._pad_id = cls, sep, pad
        return tokenizer

    def _load_session(self) -> Any:
        import onnxruntime as ort

        path = self.model_dir / "model.onnx"
        try:
            data = path.read_bytes()  # read once: hashed here, then handed to ORT as bytes
        except OSError as exc:
            raise ConfigError(f"cannot read embedding model {path} ({exc}); {_REINSTALL}") from exc
        self._check_digest(path, data, self._sha256)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads or usable_cpus()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle ORT workers spin by default. Measured here on 2 cores: spinning doubles the CPU
        # per query (7.9 vs 3.9 ms) and, when other work shares the cores, doubles latency too
        # (11.6 vs 5.0 ms p50); on idle cores it saves at most ~1.5 ms a query. We run inside
        # someone else's agent process, so we do not burn its CPU.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only: ORT's warnings are not for our users
        try:
            return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ConfigError(
                f"onnxruntime cannot load {path} ({exc}); check onnxruntime>=1.20 or {_REINSTALL}"
            ) from exc

    @staticmethod
    def _check_digest(path: Path, data: bytes, expected: str | None) -> None:
        if expected is None:
            return  # the manifest pins no checksum for this file
        digest = hashlib.sha256(data).hexdigest()
        if digest != expected:
            raise ConfigError(
                f"embedding model file {path} is corrupt or was modified (sha256 {digest[:16]}…, "
                f"manifest says {expected[:16]}…); {_REINSTALL}"
            )

    # -- embedding -----------------------------------------------------------------------

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts`: float32 array (len(texts), dim), unit rows, zeros for empty texts."""
        texts = check_texts(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not any(t.strip() for t in texts):
            return out  # nothing to run: do not load the model for empty input
        self._ensure_loaded()

        windows, owners = self._windows(texts)
        if not windows:
            return out
        vectors = self._embed_windows(windows)
        # Average the unit window vectors of each text, then renormalise.
        np.add.at(out, np.asarray(owners), vectors)
        return normalize_rows(out)

    def _windows(self, texts: list[str]) -> tuple[list[list[int]], list[int]]:
        """Token id sequences ([CLS] … [SEP], at most max_tokens) and the text each came from."""
        encodings = self._tokenizer.encode_batch(
            [t[:_MAX_CHARS] for t in texts], add_special_tokens=False
        )
        width = self.max_tokens - 2  # room for [CLS] and [SEP]
        windows: list[list[int]] = []
        owners: list[int] = []
        for row, encoding in enumerate(encodings):
            ids = encoding.ids
            if not ids:
                continue  # empty or whitespace-only text keeps its zero row
            for start in window_starts(len(ids), width, self.max_windows):
                windows.append([self._cls_id, *ids[start : start + width], self._sep_id])
                owners.append(row)
        return windows, owners

    def _embed_windows(self, windows: list[list[int]]) -> np.ndarray:
        # Sorting by length keeps padding (wasted compute) small; results go back in place.
        order = sorted(range(len(windows)), key=lambda i: len(windows[i]))
        vectors = np.empty((len(windows), self.dim), dtype=np.float32)
        start = 0
        while start < len(order):
            # Rows are sorted, so a full batch's longest row is its last one; fewer rows of
            # long windows keep rows x length within the token budget.
            longest = len(windows[order[min(start + self.batch_size, len(order)) - 1]])
            rows = max(1, min(self.batch_size, _TOKEN_BUDGET // longest))
            batch = order[start : start + rows]
            vectors[batch] = self._run([windows[i] for i in batch])
            start += len(batch)
        return vectors

    def _run(self, batch: list[list[int]]) -> np.ndarray:
        """One ORT call: pad to the longest row, mean-pool over the mask, L2-normalise."""
        length = max(len(ids) for ids in batch)
        input_ids = np.full((len(batch), length), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=np.int64)
        for i, ids in enumerate(batch):
            input_ids[i, : len(ids)] = ids
            mask[i, : len(ids)] = 1
        feed = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        try:
            hidden = self._session.run(None, feed)[0]
        except Exception as exc:
            path = self.model_dir / "model.onnx"
            raise EmbeddingError(f"onnxruntime failed on {path}: {exc}") from exc
        if hidden.ndim != 3 or hidden.shape[-1] != self.dim:
            raise EmbeddingError(
                f"model output has shape {hidden.shape}, expected (batch, tokens, {self.dim})"
            )
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
        return normalize_rows(pooled)


__all__ = ["DEFAULT_MODEL_DIR", "MiniLMEmbedder", "window_starts"]
