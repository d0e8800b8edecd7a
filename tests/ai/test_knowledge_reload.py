"""Hot reload of the knowledge: a console save or `smsdesk kb sync` reaches every process that
answers texts on its next text, without a restart (`app.ai.knowledge_version`).

Real models, a real index on a copy of the demo knowledge, the real pipeline. Nothing waits
on a timer: the announced version is checked on every text, so the text after the change is
the trigger.
"""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from app import clock
from app.ai.index import KnowledgeIndex
from app.ai.knowledge import load_knowledge, render_entry
from app.ai.knowledge_edit import EntryForm, Refused, Saved, save_entry
from app.ai.knowledge_version import (
    VersionStamp,
    bump,
    fingerprint,
    stamp_path,
    write_atomically,
)
from app.ai.models import AiModels
from app.ai.responder import AiResponder
from app.ai.training import training_data
from app.cli import app as cli
from app.config import Settings, get_settings
from app.runtime import build_runtime
from tests.ai.test_responder import ai_settings, sent, text
from tests.conftest import REPO

NEW_HOURS = "Acme stores are now open every day 7am to 10pm, local time."
TUESDAY_MORNING = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(TUESDAY_MORNING) as stopped:
        yield stopped


@dataclass
class Live:
    """A copy of the demo knowledge and an index of its own, and models loaded on it."""

    settings: Settings
    models: AiModels

    def responder(self) -> AiResponder:
        """A responder as a freshly started process has it (its own models object)."""
        index = KnowledgeIndex(self.settings)
        index.warm()
        return AiResponder(self.settings, models=replace(self.models, index=index))


@pytest.fixture
def live(tmp_path: Path, ai_models: AiModels, ai_data_dir: Path) -> Live:
    """The session's models (encoder, heads) on a knowledge folder and index of this test's."""
    settings = ai_settings(tmp_path / "data")
    settings = settings.model_copy(update={"knowledge_dir": tmp_path / "knowledge"})
    shutil.copytree(REPO / "knowledge", settings.knowledge_dir)
    # The session index already embeds this content: copying it saves re-encoding 59 entries.
    shutil.copytree(ai_data_dir / "chroma", settings.chroma_dir)
    kb = load_knowledge(settings.knowledge_dir)
    index = KnowledgeIndex(settings)
    assert not index.sync(kb).changed
    index.warm()  # as `AiModels.load` does
    models = replace(ai_models, kb=kb, index=index, version=fingerprint(settings.knowledge_dir))
    return Live(settings, models)


@pytest.fixture
def cli_env(live: Live, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SMSDESK_DATA_DIR", str(live.settings.data_dir))
    monkeypatch.setenv("SMSDESK_KNOWLEDGE_DIR", str(live.settings.knowledge_dir))
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def edit_hours(settings: Settings, answer: str) -> Saved | Refused:
    kb = load_knowledge(settings.knowledge_dir)
    form = EntryForm.of(kb.entry("store-hours")).model_copy(update={"answer": answer})
    return save_entry(settings, form, editing="store-hours")


def test_a_console_save_changes_the_next_answer_without_a_restart(
    live: Live, sqlite_engine: Engine, frozen: clock.FrozenClock
) -> None:
    runtime = build_runtime(live.settings, engine=sqlite_engine, responder=live.responder())
    text(runtime, "what time do you open on sunday", phone="+12125550101")
    assert "Sun 10am-6pm" in sent(sqlite_engine)[-1]

    assert isinstance(edit_hours(live.settings, NEW_HOURS), Saved)
    text(runtime, "what time do you open on sunday", phone="+12125550102")
    assert NEW_HOURS in sent(sqlite_engine)[-1]


def test_every_answering_process_picks_up_the_announced_version(live: Live) -> None:
    # The embedded worker child and two scale-out workers: each has its own models in memory.
    child, worker_a, worker_b = live.responder(), live.responder(), live.responder()
    assert child.models.kb.entry("store-hours").answer != NEW_HOURS
    old = worker_b.models

    assert isinstance(edit_hours(live.settings, NEW_HOURS), Saved)
    for process in (child, worker_a, worker_b):
        assert process.models.kb.entry("store-hours").answer == NEW_HOURS
        hit = process.models.index.search("what time do you open on sunday", 1)[0]
        assert (hit.entry_id, hit.answer) == ("store-hours", NEW_HOURS)
    # A text already being answered keeps the copy it started with.
    assert old.kb.entry("store-hours").answer != NEW_HOURS
    assert old.index.search("what time do you open on sunday", 1)[0].answer != NEW_HOURS


def test_only_changed_entries_are_re_indexed(live: Live) -> None:
    responder = live.responder()
    before = responder.models
    save = edit_hours(live.settings, NEW_HOURS)
    assert isinstance(save, Saved)
    after = responder.models
    report = before.index.successor().apply(before.kb, after.kb)
    assert (report.added, report.updated, report.removed) == ((), ("store-hours",), ())
    assert len(report.unchanged) == len(before.kb.entries) - 1
    assert not after.index.apply(after.kb, after.kb).changed
    assert after.intents is before.intents  # an answer edit does not retrain the classifier
    assert after.index.count() == before.index.count()


def test_a_new_entry_is_answered_at_once_and_the_classifier_retrained_behind(
    live: Live,
) -> None:
    responder = live.responder()
    trained_on: list[list[str]] = []

    def train(models: AiModels) -> AiModels:
        # Stands in for the real training (up to a minute): what it was asked to learn.
        trained_on.append([t for t, _ in training_data(models.kb).examples])
        intents = copy.copy(models.intents)
        intents.hyperparameters = {
            **intents.hyperparameters,
            "training_data_sha256": training_data(models.kb).digest,
        }
        return replace(models, intents=intents)

    responder.intent_trainer = train
    loaded_intents = responder.models.intents
    assert responder.models.index.search("do you rent kayaks", 1)[0].entry_id != "kayak-rental"
    form = EntryForm(
        id="kayak-rental",
        intent="product_availability",
        question="Do you rent kayaks?",
        phrasings="do you rent kayaks\nkayak rental\ncan i rent a kayak",
        answer="Yes: kayaks rent for $40 a day at 6 Acme stores. acme.com/rentals",
    )
    saved = save_entry(live.settings, form, editing=None)
    assert isinstance(saved, Saved), saved
    models = responder.models
    assert models.index.search("do you rent kayaks", 1)[0].entry_id == "kayak-rental"
    if responder.retraining is not None:  # started by the reload; may be done already
        responder.retraining.join()
    assert "can i rent a kayak" in trained_on[0]
    assert responder.models.intents is not loaded_intents
    assert not responder.models.retrain_needed()
    assert responder.retraining is None


def test_kb_sync_announces_a_hand_edit(live: Live, cli_env: None) -> None:
    responder = live.responder()
    file = live.settings.knowledge_dir / "entries" / "store-hours.md"
    entry = responder.models.kb.entry("store-hours")
    old = entry.answer
    file.write_text(render_entry(entry.model_copy(update={"answer": NEW_HOURS})))
    # Not announced yet: a file being edited by hand is not used half-written.
    assert responder.models.kb.entry("store-hours").answer == old

    result = CliRunner().invoke(cli, ["kb", "sync"])
    assert result.exit_code == 0, result.output
    assert "updated 1" in result.output
    assert responder.models.kb.entry("store-hours").answer == NEW_HOURS


def test_an_announced_folder_that_does_not_validate_keeps_the_loaded_knowledge(
    live: Live,
) -> None:
    responder = live.responder()
    old = responder.models.kb.entry("store-hours").answer
    file = live.settings.knowledge_dir / "entries" / "store-hours.md"
    file.write_text(file.read_text().replace("intent: store_hours", "intent: no_such_intent"))
    bump(live.settings)  # as a stamp written by hand would
    assert responder.models.kb.entry("store-hours").answer == old
    assert stamp_path(live.settings).is_file()


def test_the_per_text_check_is_one_stat_until_the_stamp_is_replaced(tmp_path: Path) -> None:
    stamp = tmp_path / "knowledge.version"
    seen = VersionStamp(stamp)
    assert seen.announced() is None  # nothing announced: the loaded knowledge stands
    stamp.write_text("aaaa\n")
    assert seen.announced() == "aaaa"
    # Rewritten in place with the same size and times: the cached value stands, which shows
    # the file is not read again while its stat is unchanged.
    info = stamp.stat()
    stamp.write_text("bbbb\n")
    os.utime(stamp, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert seen.announced() == "aaaa"
    write_atomically(stamp, "cccc\n")  # how `bump` writes: a new file, renamed over
    assert seen.announced() == "cccc"
