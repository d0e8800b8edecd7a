"""Train the sentiment heads shipped in `app/ai/data/sentiment/` (how the artifact was made).

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 PYTHONPATH=. \\
        nice .venv/bin/python scripts/train_sentiment.py \\
        --val ../shared/datasets/sentiment/tweeteval_sentiment_val.jsonl \\
        [--test ../shared/datasets/sentiment/tweeteval_sentiment_test.jsonl] [--write]

Training data: the TweetEval validation split (2,000 tweets; TweetEval's train split is not on
this machine) plus, for some configurations, the MIT-licensed VADER ground-truth sets committed
in `evals/data/sentiment/` (4,200 tweets, 3,708 Amazon snippets; their mean human rating on
-4..+4 mapped to three classes with a stated neutral band). Every configuration is scored by
stratified 5-fold cross-validation on the validation split, repeated with two shuffles; the
VADER sets only ever join the training folds. Selection uses the cross-validated macro recall
alone. `--test` scores each configuration on TweetEval test for the report; test figures never
choose anything. Embeddings are cached in `--cache` (npz keyed by the file's sha256).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import StratifiedKFold

from app.ai.encoder import MODEL_NAME, get_encoder
from app.ai.sentiment import CLASSES, FORMAT, MANIFEST, WEIGHTS, get_vader
from app.evals.sentiment import load_jsonl, score_labels

REPO = Path(__file__).resolve().parents[1]
VADER_DIR = REPO / "evals" / "data" / "sentiment"
OUT = REPO / "app" / "ai" / "data" / "sentiment"
VERSION = "1.0"
SEEDS = (0, 1)
FOLDS = 5
OFFSETS = np.round(np.arange(-1.0, 1.01, 0.1), 2)


@dataclass(frozen=True)
class Config:
    """One head to try: which features, how much regularisation, which extra data."""

    name: str
    features: tuple[str, ...]
    c: float
    """Inverse L2 strength of the logistic regression (features standardised first)."""
    vader_sets: bool = False
    band: float = 0.5
    """VADER ground truth: mean rating <= -band is negative, >= band positive, else neutral."""
    vader_weight: float = 0.5
    """Total weight of the VADER sets relative to the TweetEval training folds."""
    vader_scale: float = 1.0
    """Multiplier on the standardised VADER block: less shrinkage for the 4 strong features."""
    ridge_stack: bool = False
    """Add a ridge regression of the VADER human rating on the embedding as a feature."""
    tune_offset: bool = False
    """Tune an additive negative-class logit offset on out-of-fold predictions."""


CONFIGS = (
    Config("vader_lr", ("vader",), 1.0),
    Config("embedding_c0.01", ("embedding",), 0.01),
    Config("embedding_c0.003", ("embedding",), 0.003),
    Config("embedding_c0.001", ("embedding",), 0.001),
    Config("embedding_c0.01_vadersets", ("embedding",), 0.01, vader_sets=True, vader_weight=1.0),
    Config("combined_c0.0003", ("embedding", "vader"), 0.0003),
    Config("combined_c0.001", ("embedding", "vader"), 0.001),
    Config("combined_c0.003", ("embedding", "vader"), 0.003),
    Config("combined_c0.01", ("embedding", "vader"), 0.01),
    Config("combined_c0.03", ("embedding", "vader"), 0.03),
    Config("combined_c0.003_vs3", ("embedding", "vader"), 0.003, vader_scale=3.0),
    Config("combined_c0.003_stack", ("embedding", "vader"), 0.003, ridge_stack=True, vader_scale=3),
    Config("combined_c0.003_offset", ("embedding", "vader"), 0.003, tune_offset=True),
    Config("combined_c0.0003_vadersets", ("embedding", "vader"), 0.0003, vader_sets=True),
    Config("combined_c0.001_vadersets", ("embedding", "vader"), 0.001, vader_sets=True),
    Config(
        "combined_c0.001_vadersets_w1",
        ("embedding", "vader"),
        0.001,
        vader_sets=True,
        vader_weight=1.0,
    ),
    Config(
        "combined_c0.001_vadersets_offset",
        ("embedding", "vader"),
        0.001,
        vader_sets=True,
        tune_offset=True,
    ),
    Config("combined_c0.003_vadersets", ("embedding", "vader"), 0.003, vader_sets=True),
    Config("combined_c0.01_vadersets", ("embedding", "vader"), 0.01, vader_sets=True),
    Config(
        "combined_c0.01_vadersets_w1",
        ("embedding", "vader"),
        0.01,
        vader_sets=True,
        vader_weight=1.0,
    ),
    Config(
        "combined_c0.01_vadersets_band1",
        ("embedding", "vader"),
        0.01,
        vader_sets=True,
        band=1.0,
    ),
)
FAMILIES = {"vader_lr": ("vader",), "embedding": ("embedding",), "combined": None}
"""Shipped heads: the CV-best of each feature family (None: any), so the eval can compare."""


@dataclass
class Data:
    """Embeddings, VADER features and labels (class indices) of one set."""

    x: np.ndarray
    v: np.ndarray
    y: np.ndarray
    score: np.ndarray | None = None


def embed(path: Path, texts: list[str], cache: Path) -> np.ndarray:
    """Encode texts once per file content (the encoder is the slow part: ~20 ms a text here)."""
    key = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    cached = cache / f"{path.stem}.{key}.npz"
    if cached.exists():
        return np.asarray(np.load(cached)["x"], dtype=np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    x = get_encoder().encode(texts)
    np.savez(cached, x=x)
    return x


def load_tweeteval(path: Path, cache: Path) -> Data:
    examples = load_jsonl(path)
    texts = [e.text for e in examples]
    y = np.array([CLASSES.index(e.label) for e in examples])
    return Data(embed(path, texts, cache), get_vader().features(texts), y)


def load_vader_set(path: Path, cache: Path) -> Data:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    texts = [str(r["text"]) for r in rows]
    score = np.array([float(r["score"]) for r in rows], dtype=np.float32)
    return Data(embed(path, texts, cache), get_vader().features(texts), np.zeros(len(rows)), score)


def band_labels(score: np.ndarray, band: float) -> np.ndarray:
    return np.where(score <= -band, 0, np.where(score >= band, 2, 1))


def balanced(y: np.ndarray) -> np.ndarray:
    counts = np.bincount(y, minlength=len(CLASSES)).astype(np.float64)
    return np.asarray((len(y) / (len(CLASSES) * np.maximum(counts, 1)))[y])


class Fitted:
    """A trained head, folded into the artifact's form: standardise, one linear layer."""

    def __init__(self, cfg: Config, train: Data, extra: list[Data]) -> None:
        x, v, y, w = train.x, train.v, train.y, balanced(train.y)
        if cfg.vader_sets:
            for d in extra:
                assert d.score is not None
                yy = band_labels(d.score, cfg.band)
                x, v = np.vstack([x, d.x]), np.vstack([v, d.v])
                y = np.concatenate([y, yy])
                w = np.concatenate([w, cfg.vader_weight * balanced(yy) * len(train.y) / len(yy)])
        blocks = [b for b in (("embedding", x), ("vader", v)) if b[0] in cfg.features]
        feats = np.hstack([b for _, b in blocks]).astype(np.float64)
        # The ridge feature is linear in the embedding, so it folds into the first layer below.
        ridge_w, ridge_b = np.zeros(x.shape[1]), 0.0
        if cfg.ridge_stack:
            rx = np.vstack([d.x for d in extra])
            ry = np.concatenate([d.score for d in extra if d.score is not None])
            ridge = Ridge(alpha=10.0).fit(rx, ry)
            ridge_w, ridge_b = ridge.coef_, float(ridge.intercept_)
            feats = np.hstack([feats, (x @ ridge_w + ridge_b)[:, None]])
        mean, scale = feats.mean(axis=0), feats.std(axis=0) + 1e-6
        mult = np.ones(feats.shape[1])
        if "vader" in cfg.features and "embedding" in cfg.features:
            mult[x.shape[1] :] = cfg.vader_scale
        lr = LogisticRegression(C=cfg.c, max_iter=5000)
        lr.fit((feats - mean) / scale * mult, y, sample_weight=w)
        weights = (lr.coef_ * mult / scale).T  # (features, 3): standardisation folded in
        bias = lr.intercept_ - mean @ weights
        if cfg.ridge_stack:
            # logits += w_r * (x @ ridge_w + ridge_b): fold into the embedding rows and the bias.
            w_r = weights[-1]
            weights = weights[:-1].copy()
            weights[: x.shape[1]] += np.outer(ridge_w, w_r)
            bias = bias + ridge_b * w_r
        self.features = cfg.features
        self.weights, self.bias = weights.astype(np.float32), bias.astype(np.float32)
        self.offset = np.zeros(len(CLASSES), dtype=np.float32)

    def logits(self, d: Data) -> np.ndarray:
        blocks = {"embedding": d.x, "vader": d.v}
        feats = np.hstack([blocks[name] for name in self.features])
        return np.asarray(feats @ self.weights + self.bias + self.offset)


def subset(d: Data, idx: np.ndarray) -> Data:
    return Data(d.x[idx], d.v[idx], d.y[idx])


def figures(y: np.ndarray, logits: np.ndarray) -> tuple[float, float]:
    gold = [CLASSES[i] for i in y]
    s = score_labels(gold, [CLASSES[i] for i in logits.argmax(axis=1)])
    return float(s["macro_recall"]), float(s["negative_f1"])


def best_offset(y: np.ndarray, logits: np.ndarray) -> float:
    """The negative-class logit offset with the best macro recall on these predictions."""
    shift = np.eye(len(CLASSES))[0]  # adds the offset to the negative logit only
    scores = [figures(y, logits + o * shift)[0] for o in OFFSETS]
    return float(OFFSETS[int(np.argmax(scores))])


def cross_validate(cfg: Config, val: Data, extra: list[Data]) -> dict[str, float]:
    """Mean over shuffles of out-of-fold macro recall and negative F1 on validation."""
    results = []
    for seed in SEEDS:
        folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(val.x, val.y))
        oof = np.zeros((len(val.y), len(CLASSES)))
        for train_idx, held_idx in folds:
            oof[held_idx] = Fitted(cfg, subset(val, train_idx), extra).logits(subset(val, held_idx))
        if cfg.tune_offset:
            # Each fold gets the offset tuned on the other folds' out-of-fold predictions, so
            # the figure is not flattered by tuning on the very predictions it scores.
            for _, held_idx in folds:
                rest = np.setdiff1d(np.arange(len(val.y)), held_idx)
                oof[held_idx, 0] += best_offset(val.y[rest], oof[rest])
        results.append(figures(val.y, oof))
    mr, nf1 = np.mean(results, axis=0)
    return {"cv_macro_recall": round(float(mr), 2), "cv_negative_f1": round(float(nf1), 2)}


def fit_full(cfg: Config, val: Data, extra: list[Data]) -> Fitted:
    """Train on all of validation; a tuned offset comes from the seed-0 out-of-fold logits."""
    fitted = Fitted(cfg, val, extra)
    if cfg.tune_offset:
        folds = StratifiedKFold(FOLDS, shuffle=True, random_state=SEEDS[0]).split(val.x, val.y)
        oof = np.zeros((len(val.y), len(CLASSES)))
        for train_idx, held_idx in folds:
            oof[held_idx] = Fitted(cfg, subset(val, train_idx), extra).logits(subset(val, held_idx))
        fitted.offset[0] = best_offset(val.y, oof)
    return fitted


def write_artifact(
    heads: dict[str, tuple[Config, Fitted]], serve: str, rows: list[dict[str, Any]], args: Any
) -> None:
    arrays: dict[str, np.ndarray] = {}
    specs: dict[str, Any] = {}
    for name, (cfg, fitted) in heads.items():
        width = fitted.weights.shape[0]
        # Standardisation is folded into the weights, so mean 0 / scale 1 here.
        arrays[f"{name}.mean"] = np.zeros(width, dtype=np.float32)
        arrays[f"{name}.scale"] = np.ones(width, dtype=np.float32)
        arrays[f"{name}.W0"] = fitted.weights
        arrays[f"{name}.b0"] = fitted.bias
        arrays[f"{name}.offset"] = fitted.offset
        specs[name] = {"features": list(cfg.features), "layers": 1, "config": asdict(cfg)}
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT / WEIGHTS, allow_pickle=False, **arrays)
    shipped = {cfg.name for cfg, _ in heads.values()}
    validation = {
        r["name"]: {k: v for k, v in r.items() if k.startswith("cv_")}
        for r in rows
        if r["name"] in shipped
    }
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "classes": list(CLASSES),
        "encoder": MODEL_NAME,
        "serve": serve,
        "heads": specs,
        "weights_sha256": hashlib.sha256((OUT / WEIGHTS).read_bytes()).hexdigest(),
        "training_data": {
            "tweeteval_val": {
                "file": Path(args.val).name,
                "examples": int(args.n_val),
                "source": "cardiffnlp/tweeteval datasets/sentiment val (SemEval-2017 4A)",
            },
            "vader_ground_truth": {
                "files": [
                    f"evals/data/sentiment/{n}.jsonl" for n in ("vader_tweets", "vader_amazon")
                ],
                "licence": "MIT (evals/data/sentiment/LICENSE_vaderSentiment_MIT.txt)",
                "labels": "mean rating <= -band negative, >= band positive, else neutral",
                "used_by": "configurations with vader_sets=true (see heads.*.config)",
            },
        },
        "splits": {
            "selection": f"stratified {FOLDS}-fold CV on tweeteval val, shuffles {list(SEEDS)}",
            "final_fit": "all of tweeteval val (+ VADER sets where configured)",
            "test": "TweetEval test is never used for training or selection",
        },
        "selection_rule": "highest cross-validated macro recall on tweeteval val",
        "validation": validation,
        "all_configurations": rows,
        "all_configurations_note": "test_* figures are reported only; they never chose anything",
        "command": "scripts/train_sentiment.py --val ... --write",
    }
    (OUT / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--val", type=Path, required=True, help="TweetEval val JSONL")
    parser.add_argument("--test", type=Path, help="TweetEval test JSONL (reported, never used)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/smsdesk-sentiment-cache"))
    parser.add_argument("--write", action="store_true", help="write the artifact")
    parser.add_argument("--results", type=Path, help="also write the table as JSON here")
    args = parser.parse_args()

    val = load_tweeteval(args.val, args.cache)
    args.n_val = len(val.y)
    extra = [
        load_vader_set(VADER_DIR / f, args.cache)
        for f in ("vader_tweets.jsonl", "vader_amazon.jsonl")
    ]
    test = load_tweeteval(args.test, args.cache) if args.test else None

    rows: list[dict[str, Any]] = []
    fitted: dict[str, Fitted] = {}
    for cfg in CONFIGS:
        row: dict[str, Any] = {"name": cfg.name, **cross_validate(cfg, val, extra)}
        fitted[cfg.name] = fit_full(cfg, val, extra)
        if test is not None:
            mr, nf1 = figures(test.y, fitted[cfg.name].logits(test))
            row |= {"test_macro_recall": round(mr, 2), "test_negative_f1": round(nf1, 2)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    best = max(rows, key=lambda r: r["cv_macro_recall"])
    print(f"selected by CV macro recall: {best['name']}")
    if args.results:
        args.results.write_text(json.dumps(rows, indent=2) + "\n")
    if args.write:
        by_name = {c.name: c for c in CONFIGS}
        heads = {}
        for head, family in FAMILIES.items():
            members = [r for r in rows if family in (None, by_name[r["name"]].features)]
            chosen = max(members, key=lambda r: r["cv_macro_recall"])["name"]
            heads[head] = (by_name[chosen], fitted[chosen])
        write_artifact(heads, "combined", rows, args)
        print(f"wrote {OUT / WEIGHTS} and {OUT / MANIFEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
