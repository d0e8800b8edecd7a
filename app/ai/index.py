"""The knowledge index: entry texts embedded by our encoder, stored in chromadb, searched fast.

Each entry is indexed as several documents ("views"): its question, each phrasing, and its
answer (embedded together with the question, as the Bitext eval measured best). A query is scored
against every view and the scores are fused per entry (`Fusion`), so a text matches the closest
phrasing while the answer still breaks ties. Results are one hit per entry.

chromadb is the store of record: embedded `PersistentClient` under the data dir by default, an
`HttpClient` when `SMSDESK_CHROMA_HOST` is set. Its default embedding function is never used (it
would download a model); embeddings always come from `app.ai.encoder`.

Searching reads a numpy copy of the stored vectors by default (`backend="memory"`), because the
AI layer's whole p95 budget is 25 ms and encoding one text already takes most of it. Measured on
the demo knowledge base (59 entries, 424 documents) on a busy 1-core box: one chromadb query
(40 neighbours) p50 2.2 ms / p95 6.7 ms, a full `backend="chroma"` search p50 3.1 / p95 8.3 ms;
the in-memory search p50 0.17 / p95 0.27 ms (0.05 ms without the lexical part). The copy is
reloaded after `sync` and on `refresh()`.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from app.ai.encoder import MODEL_NAME, Encoder, Vectors, get_encoder
from app.ai.knowledge import KnowledgeBase, KnowledgeEntry
from app.config import Settings, get_settings

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from sklearn.feature_extraction.text import TfidfVectorizer

COLLECTION = "knowledge"
INDEX_VERSION = "2"
"""Bump when the views or their text change: every entry's stored hash then differs (re-index)."""
View = Literal["question", "phrasing", "answer"]
Backend = Literal["memory", "chroma"]
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class Fusion:
    """How view scores combine into one entry score.

    score = (1 - answer - lexical) * best text view + answer * answer view + lexical * TF-IDF

    The defaults were chosen on a dev split of the Bitext eval (never on its test queries):
    the phrasing match carries most of the weight, the question+answer view breaks ties between
    near-identical phrasings, and character n-grams rescue typos and keyword-only texts.
    """

    answer: float = 0.4
    lexical: float = 0.15

    def combine(
        self, text: npt.NDArray[np.float32], answer: npt.NDArray[np.float32],
        lexical: npt.NDArray[np.float32] | None = None,
    ) -> npt.NDArray[np.float32]:  # fmt: skip
        """Fused scores per entry; without lexical scores the other two weights are rescaled."""
        dense = (1.0 - self.answer - self.lexical) * text + self.answer * answer
        if lexical is None:
            fused = dense / max(1e-9, 1.0 - self.lexical)
        else:
            fused = dense + self.lexical * lexical
        return np.clip(fused, 0.0, 1.0).astype(np.float32)


def lexical_vectorizer() -> TfidfVectorizer:
    """The TF-IDF the index and the eval share: character 2-4-grams within words."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)


@dataclass(frozen=True)
class Hit:
    """One retrieved entry and why it matched."""

    entry_id: str
    score: float
    """Fused score, cosine-like in 0..1 (`retrieval_min_score` applies to it)."""
    matched_text: str
    """The question or phrasing closest to the query."""
    matched_view: View
    similarity: float
    """Cosine similarity of the query to `matched_text` alone."""
    answer_similarity: float
    """Cosine similarity of the query to the answer view (question + answer)."""
    lexical_similarity: float | None
    """Best character n-gram TF-IDF cosine to the entry's texts (None: searched by vector only)."""
    intent: str
    answer: str


@dataclass(frozen=True)
class SyncReport:
    """Entry ids by what `sync` did to them."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether the index differs from before the sync."""
        return bool(self.added or self.updated or self.removed)


@dataclass(frozen=True)
class _Doc:
    id: str
    entry_id: str
    view: View
    text: str
    embed_text: str


def entry_docs(entry: KnowledgeEntry) -> list[_Doc]:
    """The documents one entry is indexed as (question, phrasings, answer view)."""
    docs = [
        _Doc(f"{entry.id}#{i}", entry.id, "question" if i == 0 else "phrasing", text, text)
        for i, text in enumerate(entry.texts())
    ]
    # Question + answer in one text: the answer alone scores poorly on short questions, and the
    # question anchors what the answer is about (see the retrieval eval's configurations).
    qa = f"{entry.question}\n{entry.answer}"
    docs.append(_Doc(f"{entry.id}#a", entry.id, "answer", entry.answer, qa))
    return docs


def _stored_hash(entry: KnowledgeEntry) -> str:
    return f"{INDEX_VERSION}:{MODEL_NAME}:{entry.content_hash()}"


def make_client(settings: Settings) -> ClientAPI:
    """The configured chromadb client: a server when chroma_host is set, else embedded."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
        return chromadb.HttpClient(
            host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
        )
    settings.chroma_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.chroma_dir), settings=chroma_settings)


@dataclass
class _Matrix:
    """The stored views as numpy arrays, grouped so per-entry maxima are one reduceat."""

    entry_ids: list[str]
    text_vectors: Vectors  # text views, grouped by entry in `entry_ids` order
    text_starts: npt.NDArray[np.intp]
    texts: list[str]
    text_views: list[View]
    answer_vectors: Vectors  # one answer view per entry, in `entry_ids` order
    metas: list[dict[str, Any]] = field(default_factory=list)
    lexical: _Lexical | None = None

    def lexical_scores(self, text: str | None) -> npt.NDArray[np.float32] | None:
        """TF-IDF cosine of `text` to every text view (None when there is no text)."""
        if text is None or self.lexical is None:
            return None
        return self.lexical.scores(text)


class _Lexical:
    """TF-IDF cosine against a fixed set of texts, computed without sklearn's per-call overhead.

    `TfidfVectorizer.transform` costs ~0.5 ms (p95 ~5 ms on a busy box) for one short text,
    mostly input validation; the same weights computed here cost ~0.1 ms. The result equals
    `fitted.transform([text]) @ matrix.T` (sublinear tf, idf, L2 norm over known n-grams).
    """

    def __init__(self, texts: Sequence[str]) -> None:
        vectorizer = lexical_vectorizer()
        self._by_term = vectorizer.fit_transform(texts).T.tocsr()  # n-grams x texts
        self._analyze = vectorizer.build_analyzer()
        self._vocabulary: dict[str, int] = vectorizer.vocabulary_
        self._idf: npt.NDArray[np.float64] = vectorizer.idf_
        self._size = len(texts)

    def scores(self, text: str) -> npt.NDArray[np.float32]:
        """Cosine of `text`'s TF-IDF vector to every text's."""
        counts = Counter(g for g in self._analyze(text) if g in self._vocabulary)
        if not counts:
            return np.zeros(self._size, dtype=np.float32)
        cols = np.fromiter((self._vocabulary[g] for g in counts), np.intp, len(counts))
        tf = np.fromiter((1.0 + math.log(c) for c in counts.values()), np.float64, len(counts))
        weights = tf * self._idf[cols]
        weights /= np.linalg.norm(weights)
        return np.asarray(self._by_term[cols].T @ weights, dtype=np.float32).ravel()


class KnowledgeIndex:
    """Sync a knowledge base into chromadb and search it (one hit per entry)."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        client: ClientAPI | None = None,
        collection: str = COLLECTION,
        fusion: Fusion | None = None,
        backend: Backend = "memory",
    ) -> None:
        self._settings = settings or get_settings()
        self._client = client or make_client(self._settings)
        self._collection_name = collection
        self.fusion = fusion or Fusion()
        self.backend: Backend = backend
        self._matrix: _Matrix | None = None
        self._collection: Collection | None = None
        self._lock = threading.Lock()

    @property
    def collection(self) -> Collection:
        """The chromadb collection (cosine space, no embedding function of its own)."""
        if self._collection is None:
            self._collection = self._client.get_or_create_collection(
                self._collection_name,
                configuration={"hnsw": {"space": "cosine"}},
                embedding_function=None,  # never chromadb's default: it downloads a model
            )
        return self._collection

    def count(self) -> int:
        """How many documents (views) the index holds."""
        return int(self.collection.count())

    def sync(self, kb: KnowledgeBase, *, progress: ProgressFn | None = None) -> SyncReport:
        """Bring the index in line with `kb`, re-embedding only entries whose content changed."""
        collection = self.collection
        stored = collection.get(include=["metadatas"])
        ids_by_entry: dict[str, list[str]] = {}
        hash_by_entry: dict[str, str] = {}
        for doc_id, meta in zip(stored["ids"], stored["metadatas"] or [], strict=True):
            entry_id = str(meta["entry_id"])
            ids_by_entry.setdefault(entry_id, []).append(doc_id)
            hash_by_entry[entry_id] = str(meta["hash"])
        added, updated, unchanged, todo = [], [], [], []
        for entry in kb.entries:
            if entry.id not in hash_by_entry:
                added.append(entry.id)
                todo.append(entry)
            elif hash_by_entry[entry.id] != _stored_hash(entry):
                updated.append(entry.id)
                todo.append(entry)
            else:
                unchanged.append(entry.id)
        current = {entry.id for entry in kb.entries}
        removed = sorted(set(ids_by_entry) - current)
        stale = [i for e in [*removed, *updated] for i in ids_by_entry[e]]
        if stale:
            collection.delete(ids=stale)
        self._add(collection, todo, progress)
        self._matrix = None  # the next search reloads from the store
        return SyncReport(tuple(added), tuple(updated), tuple(removed), tuple(unchanged))

    def apply(
        self, old: KnowledgeBase, new: KnowledgeBase, *, encoder: Encoder | None = None
    ) -> SyncReport:
        """Bring the index from `old` to `new` by entry id: delete removed and changed
        entries' documents, re-encode and upsert only added and changed ones (a hot reload).

        The diff is taken between the two in-memory knowledge bases, not against the stored
        hashes: another process may have written the same change already, and upserting the
        same vectors again is harmless, while trusting its write would not be (an embedded
        chromadb does not promise to show one process's writes to another)."""
        before = {entry.id: entry for entry in old.entries}
        added = [e for e in new.entries if e.id not in before]
        updated = [
            e
            for e in new.entries
            if e.id in before and _stored_hash(before[e.id]) != _stored_hash(e)
        ]
        current = {entry.id for entry in new.entries}
        removed = sorted(set(before) - current)
        # Upsert first, then delete only the documents the new version no longer has: a
        # concurrent process applying the same change never deletes a document it needs.
        self._add(self.collection, [*added, *updated], None, encoder=encoder)
        kept = {doc.id for e in updated for doc in entry_docs(e)}
        leftovers = [
            doc.id
            for entry_id in [*removed, *(e.id for e in updated)]
            for doc in entry_docs(before[entry_id])
            if doc.id not in kept
        ]
        if leftovers:
            self.collection.delete(ids=leftovers)
        if added or updated or removed:
            self._matrix = None
        unchanged = tuple(sorted(current - {e.id for e in [*added, *updated]}))
        return SyncReport(
            tuple(e.id for e in added), tuple(e.id for e in updated), tuple(removed), unchanged
        )

    def _add(
        self,
        collection: Collection,
        entries: Sequence[KnowledgeEntry],
        progress: ProgressFn | None,
        *,
        encoder: Encoder | None = None,
    ) -> None:
        if not entries:
            return  # nothing to embed: do not load the encoder at all
        encoder = encoder or get_encoder(self._settings.encoder_threads)
        batch = 16  # entries per encode call: small enough for a smooth progress bar
        if progress:
            progress(0, len(entries))
        for start in range(0, len(entries), batch):
            chunk = entries[start : start + batch]
            docs = [(entry, doc) for entry in chunk for doc in entry_docs(entry)]
            vectors = encoder.encode([doc.embed_text for _, doc in docs])
            # upsert, not add: two processes may index the same change (a hot reload).
            collection.upsert(
                ids=[doc.id for _, doc in docs],
                embeddings=vectors,
                documents=[doc.text for _, doc in docs],
                metadatas=[
                    {
                        "entry_id": entry.id,
                        "view": doc.view,
                        "hash": _stored_hash(entry),
                        "intent": entry.intent,
                        "answer": entry.answer,
                    }
                    for entry, doc in docs
                ],
            )
            if progress:
                progress(min(start + batch, len(entries)), len(entries))

    def successor(self) -> KnowledgeIndex:
        """A new index on the same store, for a hot reload: searches in flight keep this
        one's in-memory copy (consistent with the knowledge they started with)."""
        return KnowledgeIndex(
            self._settings,
            client=self._client,
            collection=self._collection_name,
            fusion=self.fusion,
            backend=self.backend,
        )

    def warm(self) -> None:
        """Build the in-memory copy now, so the first search after a reload does not."""
        self._load_matrix()

    def refresh(self) -> None:
        """Forget the in-memory copy (another process synced a shared Chroma server)."""
        self._matrix = None

    def _load_matrix(self) -> _Matrix:
        with self._lock:
            if self._matrix is not None:
                return self._matrix
            stored = self.collection.get(include=["embeddings", "metadatas", "documents"])
            rows = sorted(
                zip(
                    stored["ids"],
                    stored["metadatas"] or [],
                    stored["documents"] or [],
                    np.asarray(stored["embeddings"], dtype=np.float32),
                    strict=True,
                ),
                key=lambda row: (str(row[1]["entry_id"]), row[1]["view"] == "answer", row[0]),
            )
            entry_ids: list[str] = []
            text_rows: list[Vectors] = []
            texts: list[str] = []
            views: list[View] = []
            starts: list[int] = []
            answers: dict[str, Vectors] = {}
            metas: dict[str, dict[str, Any]] = {}
            for _, meta, text, vector in rows:
                entry_id = str(meta["entry_id"])
                if meta["view"] == "answer":
                    answers[entry_id] = vector
                    continue
                if not entry_ids or entry_ids[-1] != entry_id:
                    entry_ids.append(entry_id)
                    starts.append(len(text_rows))
                    metas[entry_id] = dict(meta)
                text_rows.append(vector)
                texts.append(text)
                views.append("question" if meta["view"] == "question" else "phrasing")
            dims = (0, 384)
            self._matrix = _Matrix(
                entry_ids=entry_ids,
                text_vectors=np.stack(text_rows) if text_rows else np.zeros(dims, np.float32),
                text_starts=np.asarray(starts, dtype=np.intp),
                texts=texts,
                text_views=views,
                answer_vectors=(
                    np.stack([answers[e] for e in entry_ids])
                    if entry_ids
                    else np.zeros(dims, np.float32)
                ),
                metas=[metas[e] for e in entry_ids],
                lexical=_Lexical(texts) if texts else None,
            )
            return self._matrix

    def search(self, query: str | Vectors, k: int = 5, *, text: str | None = None) -> list[Hit]:
        """The `k` best entries for a text, or for its precomputed (384,) vector.

        With a vector, pass the text too (`text=`) for the lexical part of the score; without
        it the score is the embedding views alone.
        """
        if isinstance(query, str):
            text = query
            vector = get_encoder(self._settings.encoder_threads).encode_one(query)
        else:
            vector = np.asarray(query, dtype=np.float32).reshape(-1)
        if self.backend == "chroma":
            return self._search_chroma(vector, text, k)
        return self._search_memory(vector, text, k)

    def _search_memory(self, vector: Vectors, text: str | None, k: int) -> list[Hit]:
        matrix = self._load_matrix()
        if not matrix.entry_ids:
            return []
        text_sims = matrix.text_vectors @ vector
        best_text = np.maximum.reduceat(text_sims, matrix.text_starts)
        answer_sims = matrix.answer_vectors @ vector
        lexical = matrix.lexical_scores(text)
        best_lexical = None if lexical is None else np.maximum.reduceat(lexical, matrix.text_starts)
        fused = self.fusion.combine(best_text, answer_sims, best_lexical)
        top = np.argsort(-fused, kind="stable")[:k]
        ends = [*matrix.text_starts[1:], len(text_sims)]
        hits = []
        for e in top:
            start, end = int(matrix.text_starts[e]), int(ends[e])
            row = start + int(np.argmax(text_sims[start:end]))
            meta = matrix.metas[e]
            hits.append(
                Hit(
                    entry_id=matrix.entry_ids[e],
                    score=float(fused[e]),
                    matched_text=matrix.texts[row],
                    matched_view=matrix.text_views[row],
                    similarity=float(text_sims[row]),
                    answer_similarity=float(answer_sims[e]),
                    lexical_similarity=None if best_lexical is None else float(best_lexical[e]),
                    intent=str(meta["intent"]),
                    answer=str(meta["answer"]),
                )
            )
        return hits

    def _search_chroma(self, vector: Vectors, text: str | None, k: int) -> list[Hit]:
        collection = self.collection
        total = collection.count()
        if total == 0:
            return []
        # Enough neighbours that k distinct entries (each several views) are very likely found.
        result = collection.query(
            query_embeddings=[vector.tolist()],
            n_results=min(total, max(8 * k, 40)),
            include=["metadatas", "documents", "distances"],
        )
        best: dict[str, tuple[float, str, View]] = {}
        answer: dict[str, float] = {}
        metas: dict[str, dict[str, Any]] = {}
        rows = zip(
            (result["metadatas"] or [[]])[0],
            (result["documents"] or [[]])[0],
            (result["distances"] or [[]])[0],
            strict=True,
        )
        for meta, document, distance in rows:
            entry_id, sim = str(meta["entry_id"]), 1.0 - float(distance)
            metas.setdefault(entry_id, dict(meta))
            if meta["view"] == "answer":
                answer[entry_id] = sim
            elif entry_id not in best or sim > best[entry_id][0]:
                view: View = "question" if meta["view"] == "question" else "phrasing"
                best[entry_id] = (sim, document, view)
        # An answer view outside the neighbours scores at most the farthest neighbour returned.
        floor = min([s for s, _, _ in best.values()] + list(answer.values()))
        ids = list(best)
        lexical = self._candidate_lexical(ids, text)
        fused = self.fusion.combine(
            np.asarray([best[e][0] for e in ids], dtype=np.float32),
            np.asarray([answer.get(e, floor) for e in ids], dtype=np.float32),
            lexical,
        )
        order = np.argsort(-fused, kind="stable")[:k]
        return [
            Hit(
                entry_id=ids[i],
                score=float(fused[i]),
                matched_text=best[ids[i]][1],
                matched_view=best[ids[i]][2],
                similarity=best[ids[i]][0],
                answer_similarity=answer.get(ids[i], floor),
                lexical_similarity=None if lexical is None else float(lexical[i]),
                intent=str(metas[ids[i]]["intent"]),
                answer=str(metas[ids[i]]["answer"]),
            )
            for i in order
        ]

    def _candidate_lexical(
        self, entry_ids: list[str], text: str | None
    ) -> npt.NDArray[np.float32] | None:
        """Per-entry TF-IDF scores of the chromadb candidates (the model needs every text)."""
        if text is None or not self.fusion.lexical:
            return None
        matrix = self._load_matrix()
        lexical = matrix.lexical_scores(text)
        if lexical is None:
            return None
        best = np.maximum.reduceat(lexical, matrix.text_starts)
        position = {entry_id: i for i, entry_id in enumerate(matrix.entry_ids)}
        return np.asarray([best[position[e]] for e in entry_ids], dtype=np.float32)
