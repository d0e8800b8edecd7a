"""The chromadb knowledge index: incremental sync, search by text or vector, one hit per entry.

Real chromadb (embedded, in a temporary folder) and the real encoder, on a four-entry copy of
the shipped knowledge base so the suite stays fast.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.ai.encoder import get_encoder
from app.ai.index import KnowledgeIndex
from app.ai.knowledge import load_knowledge
from app.config import Settings

SHIPPED = Path(__file__).resolve().parents[2] / "knowledge"
SMALL = ("store-hours", "cancel-club", "reschedule-appointment", "refund-timing")


@pytest.fixture(scope="module", autouse=True)
def _no_telemetry() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ANONYMIZED_TELEMETRY", "False")
        yield


def small_kb(root: Path) -> Path:
    """A knowledge folder with four shipped entries and the shipped catalogue."""
    (root / "entries").mkdir(parents=True)
    shutil.copy(SHIPPED / "intents.yaml", root)
    for entry_id in SMALL:
        shutil.copy(SHIPPED / "entries" / f"{entry_id}.md", root / "entries")
    return root


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    return small_kb(tmp_path / "knowledge")


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeIndex:
    """One synced index shared by the read-only tests (embedding is the slow part)."""
    root = tmp_path_factory.mktemp("index")
    kb_dir = small_kb(root / "knowledge")
    settings = Settings(data_dir=root / "data", knowledge_dir=kb_dir, env="test")
    built = KnowledgeIndex(settings)
    built.sync(load_knowledge(kb_dir))
    return built


def test_sync_is_incremental(tmp_path: Path, kb_dir: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", knowledge_dir=kb_dir, env="test")
    index = KnowledgeIndex(settings)
    calls: list[tuple[int, int]] = []
    first = index.sync(
        load_knowledge(kb_dir), progress=lambda done, total: calls.append((done, total))
    )
    assert sorted(first.added) == sorted(SMALL)
    assert calls[-1] == (4, 4)
    documents = index.count()
    assert documents > 4 * 3  # question, phrasings and the answer view per entry

    # A fresh client on the same folder sees the persisted index: nothing to do.
    again = KnowledgeIndex(settings).sync(load_knowledge(kb_dir))
    assert sorted(again.unchanged) == sorted(SMALL)
    assert not again.changed

    # The answer changes (the body is not indexed content: editing it alone re-indexes nothing).
    edited = kb_dir / "entries" / "store-hours.md"
    original = edited.read_text()
    assert "Sun 10am-6pm" in original.split("\n---", 1)[0]  # in the front matter's answer
    edited.write_text(original.replace("Sun 10am-6pm", "Sun 11am-5pm"))
    report = index.sync(load_knowledge(kb_dir))
    assert report.updated == ("store-hours",)
    assert len(report.unchanged) == 3
    assert "Sun 11am-5pm" in index.search("when do you open on sunday", 1)[0].answer

    (kb_dir / "entries" / "refund-timing.md").unlink()
    report = index.sync(load_knowledge(kb_dir))
    assert report.removed == ("refund-timing",)
    assert not report.added and not report.updated
    assert index.count() < documents
    assert "refund-timing" not in {hit.entry_id for hit in index.search("refund", 4)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("wat time do u guys close on sundays", "store-hours"),
        ("i dont want to be a club member anymore", "cancel-club"),
        ("can i push my appt to next tuesday", "reschedule-appointment"),
        ("how many days until my money is back on my card", "refund-timing"),
    ],
)
def test_search_finds_the_entry_for_a_paraphrase(
    index: KnowledgeIndex, text: str, expected: str
) -> None:
    hits = index.search(text, 4)
    assert hits[0].entry_id == expected
    assert len({hit.entry_id for hit in hits}) == len(hits)  # one hit per entry
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert 0.0 <= hits[-1].score <= hits[0].score <= 1.0
    assert (
        hits[0].matched_text
        in load_knowledge(index._settings.knowledge_dir).entry(expected).texts()
    )


def test_search_with_a_precomputed_vector_matches_text_search(index: KnowledgeIndex) -> None:
    text = "are you open on sunday"
    vector = get_encoder().encode_one(text)
    by_text = index.search(text, 3)
    by_vector = index.search(vector, 3, text=text)
    assert [h.entry_id for h in by_vector] == [h.entry_id for h in by_text]
    assert np.isclose(by_vector[0].score, by_text[0].score, atol=1e-5)
    # A bare vector (no text for the lexical part) still finds the entry.
    assert index.search(vector, 1)[0].entry_id == "store-hours"


@pytest.mark.parametrize("with_text", [True, False])
def test_chroma_backend_agrees_with_the_in_memory_path(
    index: KnowledgeIndex, with_text: bool
) -> None:
    text = "can i move my appointment to friday"
    vector = get_encoder().encode_one(text)
    kwargs = {"text": text} if with_text else {}
    memory = index.search(vector, 2, **kwargs)
    chroma = KnowledgeIndex(index._settings, backend="chroma").search(vector, 2, **kwargs)
    assert chroma[0].entry_id == memory[0].entry_id == "reschedule-appointment"
    assert np.isclose(chroma[0].score, memory[0].score, atol=1e-4)
    assert chroma[0].matched_text == memory[0].matched_text


def test_empty_index_returns_no_hits(tmp_path: Path) -> None:
    index = KnowledgeIndex(Settings(data_dir=tmp_path / "data", env="test"))
    vector = np.ones(384, dtype=np.float32) / np.sqrt(384)
    assert index.search(vector, 5) == []
    index.backend = "chroma"
    assert index.search(vector, 5) == []
