"""The knowledge base loader: the shipped content validates, and bad content fails clearly."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from app.ai.knowledge import (
    MAX_REPLY_CHARS,
    MIN_INTENT_EXAMPLES,
    KnowledgeError,
    load_knowledge,
    parse_entry,
    render_entry,
)
from app.ai.knowledge_import import import_bitext, import_simple, write_import
from app.compliance.segments import count_segments

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "knowledge"
BITEXT = REPO / "evals" / "data" / "faq" / "bitext_customer_support_sample_4514.csv"

GOOD = """---
id: store-hours
intent: store_hours
question: What are your store hours?
phrasings:
- what time do you open
- are you open sunday
answer: Stores are open 9am to 9pm Monday to Saturday and 10am to 6pm Sunday.
link: https://acme.com/stores
---

# What are your store hours?

All stores keep the same hours.
"""


def make_kb(root: Path, *entries: tuple[str, str]) -> Path:
    """A knowledge folder with the shipped intent catalogue and the given entry files."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(SHIPPED / "intents.yaml", root / "intents.yaml")
    (root / "entries").mkdir(exist_ok=True)
    for name, text in entries:
        (root / "entries" / name).write_text(text, encoding="utf-8")
    return root


def test_shipped_knowledge_base_passes_every_check() -> None:
    kb = load_knowledge(SHIPPED)
    assert len(kb.entries) >= 40
    assert len({entry.id for entry in kb.entries}) == len(kb.entries)
    for entry in kb.entries:
        reply = entry.sms_reply()
        assert len(reply) <= MAX_REPLY_CHARS, entry.id
        assert count_segments(reply).encoding == "GSM-7", entry.id
        assert entry.intent in kb.intents, entry.id
        assert len(entry.phrasings) >= 3, entry.id
        assert entry.body, entry.id
    for name, intent in kb.intents.items():
        assert len(intent.examples) >= MIN_INTENT_EXAMPLES, name
    required = {"order_status", "returns", "refunds", "store_hours", "book_appointment",
                "reschedule_appointment", "cancel_subscription", "pause_subscription",
                "billing", "shipping"}  # fmt: skip
    assert required <= set(kb.intents)
    assert required <= {entry.intent for entry in kb.entries}


def test_a_good_entry_parses_and_round_trips() -> None:
    entry = parse_entry(GOOD, "store-hours.md")
    assert entry.texts()[0] == "What are your store hours?"
    assert entry.body == "All stores keep the same hours."
    # The link is appended bare (no scheme): shorter, and phones still make it tappable.
    assert entry.sms_reply() == f"{entry.answer} acme.com/stores"
    assert "https://" not in entry.sms_reply()
    again = parse_entry(render_entry(entry), "again.md")
    assert again.content_hash() == entry.content_hash()


def test_a_spanish_answer_is_sent_in_spanish_with_the_same_link() -> None:
    spanish = GOOD.replace(
        "link:", "answer_es: Abrimos de 9am a 9pm de lunes a sabado.\nlink:"
    ).replace("link: https://acme.com/stores", "link: https://acme.com/stores\n"
              "handoff_when_given:\n- order_number")  # fmt: skip
    entry = parse_entry(spanish, "store-hours.md")
    assert entry.speaks("es") and entry.speaks("en")
    assert entry.sms_reply("es") == "Abrimos de 9am a 9pm de lunes a sabado. acme.com/stores"
    assert entry.sms_reply("en").startswith("Stores are open")
    assert entry.handoff_when_given == ["order_number"]
    english_only = parse_entry(GOOD, "store-hours.md")
    assert not english_only.speaks("es")
    assert english_only.sms_reply("es") == english_only.sms_reply("en")  # no Spanish: English


def test_a_link_already_in_the_answer_is_not_appended_again() -> None:
    inline = GOOD.replace("Sunday.", "Sunday. See acme.com/stores")
    entry = parse_entry(inline, "store-hours.md")
    assert entry.sms_reply() == entry.answer
    assert entry.sms_reply().count("acme.com/stores") == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id: x\n", "no front matter"),
        ("---\nid: [x\n---\n", "not valid YAML at line"),
        ("---\n- a list\n---\n", "must be a mapping"),
        (GOOD.replace("answer: Stores", "answr: Stores"), "field 'answer': Field required"),
        (GOOD.replace("id: store-hours", "id: Store Hours!"), "field 'id'"),
        (GOOD.replace("are open 9am", "are open " + "x" * 300), "the limit is 320"),
        (GOOD.replace("are open 9am", "are ‘open’ 9am"), "outside GSM-7"),
        (GOOD.replace("Sunday.", "Sunday. Reply YES to confirm."), "reserved keyword"),
        (GOOD.replace("Sunday.", "Sunday. Text help for more."), "reserved keyword"),
    ],
)
def test_bad_entries_name_the_file_and_the_field(text: str, expected: str) -> None:
    with pytest.raises(KnowledgeError) as caught:
        parse_entry(text, "entries/bad.md")
    assert "entries/bad.md" in str(caught.value)
    assert expected in str(caught.value)


def test_every_problem_of_a_folder_is_reported_at_once(tmp_path: Path) -> None:
    root = make_kb(
        tmp_path / "kb",
        ("a.md", GOOD),
        ("b.md", GOOD),  # duplicate id
        ("c.md", GOOD.replace("id: store-hours", "id: c").replace("store_hours", "no_such")),
        ("d.md", GOOD.replace("id: store-hours", "id: d").replace("link:", "team: nobody\nlink:")),
    )
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(root)
    message = str(caught.value)
    assert "b.md: field 'id': duplicate id store-hours" in message
    assert "c.md: field 'intent': unknown intent no_such" in message
    assert "d.md: field 'team': unknown team nobody" in message


def test_intent_catalogue_needs_enough_examples(tmp_path: Path) -> None:
    root = make_kb(tmp_path / "kb", ("a.md", GOOD))
    (root / "intents.yaml").write_text(
        "intents:\n  store_hours:\n    description: Hours.\n    examples: [one, two]\n"
    )
    with pytest.raises(KnowledgeError, match=r"intent 'store_hours': field 'examples'"):
        load_knowledge(root)


def test_missing_folder_and_catalogue_are_clear(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match="not a folder"):
        load_knowledge(tmp_path / "nowhere")
    (tmp_path / "kb" / "entries").mkdir(parents=True)
    with pytest.raises(KnowledgeError, match="intent catalogue is missing"):
        load_knowledge(tmp_path / "kb")


def test_simple_import_writes_entries_that_validate(tmp_path: Path) -> None:
    csv_file = tmp_path / "faq.csv"
    csv_file.write_text(
        "question,answer,intent,phrasings,link\n"
        "Do you sell bikes?,Yes – every store sells bikes.,product_availability,"
        "got bikes?|do u have bikes,https://acme.com/bikes\n",
        encoding="utf-8",
    )
    root = make_kb(tmp_path / "kb", ("a.md", GOOD))
    written = write_import(import_simple(csv_file), root)
    assert [p.name for p in written] == ["do-you-sell-bikes.md"]
    entry = load_knowledge(root).entry("do-you-sell-bikes")
    assert entry.answer == "Yes - every store sells bikes."  # made GSM-7 friendly
    assert entry.phrasings == ["got bikes?", "do u have bikes"]
    with pytest.raises(KnowledgeError, match="exists"):
        write_import(import_simple(csv_file), root)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("question,answer\nq,a\n", "missing column(s) intent; found question, answer"),
        ("", "empty file"),
        ("question,answer,intent\n", "no rows after the header"),
        ("question,answer,intent\nq,,returns\n", "row 2: field 'answer'"),
        ("question,answer,intent\nq,a,Not An Intent\n", "row 2: field 'intent'"),
    ],
)
def test_bad_import_files_fail_clearly(tmp_path: Path, content: str, expected: str) -> None:
    csv_file = tmp_path / "faq.csv"
    csv_file.write_text(content, encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        import_simple(csv_file)
    assert expected in str(caught.value)


def test_import_refuses_non_utf8_and_missing_files(tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("question,answer,intent\ncaf\xe9,a,returns\n".encode("latin-1"))
    with pytest.raises(KnowledgeError, match="not UTF-8"):
        import_simple(latin)
    with pytest.raises(KnowledgeError, match="no such file"):
        import_simple(tmp_path / "missing.csv")


def test_bitext_import_makes_one_entry_per_intent_with_new_intents(tmp_path: Path) -> None:
    sample = tmp_path / "bitext.csv"
    # The Bitext columns, two intents' rows (a few hundred): enough examples for the catalogue.
    with BITEXT.open(newline="", encoding="utf-8") as src, sample.open("w", newline="") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, fieldnames=reader.fieldnames or [])
        writer.writeheader()
        for row in reader:
            if row["intent"] in ("cancel_order", "track_refund"):
                writer.writerow(row)
    result = import_bitext(sample)
    assert sorted(e.id for e in result.entries) == ["cancel-order", "track-refund"]
    for entry in result.entries:
        assert len(entry.answer) <= MAX_REPLY_CHARS
        assert len(entry.phrasings) >= 8
    root = tmp_path / "kb"
    write_import(result, root)
    kb = load_knowledge(root)
    assert set(kb.intents) == {"cancel_order", "track_refund"}
    assert result.warnings  # placeholders and shortened answers are flagged for review
