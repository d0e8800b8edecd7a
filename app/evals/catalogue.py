"""`smsdesk eval intents --dataset kb`: how well a team's own catalogue separates, so the team
sees which of its intents and entries collide before customers do.

Intents: 5-fold cross-validation over the catalogue's examples and the entries' phrasings (the
texts the served classifier trains on), each fold trained exactly as `smsdesk train` trains.
Entries: every question and phrasing is held out in turn and matched against the other texts
of every entry (cosine of the shared encoder); the entry it lands on shows the collisions.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import numpy as np

from app.ai.encoder import Encoder
from app.ai.intents import IntentModel
from app.ai.knowledge import KnowledgeBase
from app.ai.training import training_data
from app.evals.progress import Advance
from app.evals.report import EvalReport, Plot, Table, sha256_of

FOLDS = 5
SEED = 13


def evaluate_catalogue(
    kb: KnowledgeBase, encoder: Encoder, *, advance: Advance | None = None
) -> EvalReport:
    """Cross-validated intents and held-out entry matching for one knowledge folder."""
    started = time.perf_counter()
    data = training_data(kb)
    texts = [text for text, _ in data.examples]
    labels = [label for _, label in data.examples]
    predicted = _cross_validate(texts, labels, data.out_of_scope, advance)
    intent_rows, intent_pairs = _intent_tables(labels, predicted)
    entry_recall, entry_pairs, entry_rows = _entry_collisions(kb, encoder)
    correct = sum(p == t for p, t in zip(predicted, labels, strict=True))
    names = sorted(set(labels))
    matrix = [[0] * len(names) for _ in names]
    for truth, guess in zip(labels, predicted, strict=True):
        matrix[names.index(truth)][names.index(guess)] += 1
    return EvalReport(
        suite="intents",
        dataset="kb",
        metrics={
            "texts": float(len(texts)),
            "intent_accuracy": round(100.0 * correct / len(texts), 2),
            "entry_recall_at_1": entry_recall,
            "colliding_pairs": float(len(intent_pairs) + len(entry_pairs)),
        },
        config={
            "knowledge": str(kb.root),
            "folds": FOLDS,
            "seed": SEED,
            "intents": len(names),
            "entries": len(kb.entries),
        },
        tables=[
            Table(
                "Intents (cross-validated)",
                ["intent", "texts", "precision", "recall", "F1"],
                intent_rows,
            ),
            Table(
                "Intents confused (true -> predicted)", ["true", "predicted", "texts"], intent_pairs
            ),
            Table(
                "Entries that collide (phrasing of -> closer to)",
                ["phrasing of", "lands on", "texts", "example"],
                entry_pairs,
            ),
            Table("_entries", ["entry", "texts", "recall@1"], entry_rows),
        ],
        plots=[
            Plot(
                "confusion",
                "Intents (rows: true, columns: predicted)",
                {"labels": names, "matrix": matrix},
            ),
        ],
        data_files={str(kb.root): sha256_of(kb.root)},
        seconds=round(time.perf_counter() - started, 1),
    )


def _cross_validate(
    texts: list[str], labels: list[str], out_of_scope: list[str], advance: Advance | None
) -> list[str]:
    rng = np.random.default_rng(SEED)
    fold_of = np.zeros(len(texts), dtype=int)
    for label in set(labels):  # stratified: each intent spread over the folds
        members = [i for i, lab in enumerate(labels) if lab == label]
        rng.shuffle(members)
        for rank, i in enumerate(members):
            fold_of[i] = rank % FOLDS
    predicted = [""] * len(texts)
    for fold in range(FOLDS):
        train = [(texts[i], labels[i]) for i in range(len(texts)) if fold_of[i] != fold]
        test = [i for i in range(len(texts)) if fold_of[i] == fold]
        model = IntentModel.train(train, oos_examples=out_of_scope)
        for i, guess in zip(test, model.predict_texts([texts[i] for i in test]), strict=True):
            predicted[i] = guess.intent
        if advance is not None:
            advance(1)
    return predicted


def _intent_tables(
    labels: list[str], predicted: list[str]
) -> tuple[list[list[Any]], list[list[Any]]]:
    rows: list[list[Any]] = []
    for name in sorted(set(labels)):
        tp = sum(t == name and p == name for t, p in zip(labels, predicted, strict=True))
        support = labels.count(name)
        guessed = predicted.count(name)
        precision = tp / guessed if guessed else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append(
            [name, support, round(100 * precision, 1), round(100 * recall, 1), round(100 * f1, 1)]
        )
    rows.sort(key=lambda row: row[4])
    pairs = Counter((t, p) for t, p in zip(labels, predicted, strict=True) if t != p)
    return rows, [[t, p, n] for (t, p), n in pairs.most_common() if n >= 2]


def _entry_collisions(
    kb: KnowledgeBase, encoder: Encoder
) -> tuple[float, list[list[Any]], list[list[Any]]]:
    owners: list[str] = []
    entry_texts: list[str] = []
    for entry in kb.entries:
        for text in entry.texts():
            owners.append(entry.id)
            entry_texts.append(text)
    if not entry_texts:
        return 0.0, [], []
    matrix = encoder.encode(entry_texts)
    similarity = matrix @ matrix.T
    np.fill_diagonal(similarity, -1.0)  # a held-out text never matches itself
    ids = [entry.id for entry in kb.entries]
    owner_index = np.array([ids.index(o) for o in owners])
    hits = 0
    landed: Counter[tuple[str, str]] = Counter()
    example: dict[tuple[str, str], str] = {}
    per_entry: dict[str, list[bool]] = {}
    for i, owner in enumerate(owners):
        best = np.full(len(ids), -1.0)
        np.maximum.at(best, owner_index, similarity[i])
        guess = ids[int(np.argmax(best))]
        ok = guess == owner
        hits += ok
        per_entry.setdefault(owner, []).append(ok)
        if not ok:
            landed[(owner, guess)] += 1
            example.setdefault((owner, guess), entry_texts[i])
    pairs = [[a, b, n, example[(a, b)]] for (a, b), n in landed.most_common()]
    rows = [[e, len(v), round(100 * sum(v) / len(v), 1)] for e, v in sorted(per_entry.items())]
    return round(100.0 * hits / len(owners), 2), pairs, rows
