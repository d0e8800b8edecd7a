"""Training of the intent head: fit, calibrate, choose the out-of-scope threshold on validation.

Everything here sees only training and validation data; `app.evals.intents` keeps the test
split away from it. Training is a few logistic regressions on 384-d vectors, so the demo
catalogue trains in seconds and CLINC150's 15,000 texts in well under a minute per setting.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, get_args

import numpy as np
import numpy.typing as npt

from app.ai.encoder import DIMENSIONS, Vectors
from app.ai.intents import Floats, IntentModel, OosMethod, in_scope_scores
from app.errors import ConfigurationError
from app.log import get_logger

log = get_logger(__name__)

Ints = npt.NDArray[np.int64]

C_GRID = (2.0, 8.0, 32.0)
"""Inverse L2 strengths tried on validation (CLINC150 val peaked between 8 and 32)."""
MAX_IN_SCOPE_LOSS = 1.0
"""Points of validation in-scope accuracy the out-of-scope threshold may give up: at most ~1%
of answerable texts go to a person because they looked unusual."""
VALIDATION_FRACTION = 0.1
SEED = 0


@dataclass(frozen=True)
class Candidate:
    """One setting tried on validation, with what it scored there (percent)."""

    c: float
    oos_method: OosMethod
    threshold: float
    accuracy: float
    """Validation accuracy before any out-of-scope decision."""
    in_scope_accuracy: float
    """Validation accuracy counting texts flagged out of scope as wrong."""
    oos_recall: float | None
    """Share of out-of-scope validation texts flagged; None without such texts."""


def stratified_holdout(
    labels: Sequence[str], *, fraction: float = VALIDATION_FRACTION, seed: int = SEED
) -> npt.NDArray[np.bool_]:
    """A deterministic mask of ~`fraction` of each label's rows (labels with < 3 rows: none)."""
    rng = np.random.default_rng(seed)
    array = np.asarray(labels)
    mask = np.zeros(len(array), dtype=bool)
    for label in sorted(set(array.tolist())):
        rows = np.flatnonzero(array == label)
        if len(rows) < 3:
            continue  # a one- or two-example intent needs every example to be learnt at all
        take = max(1, int(len(rows) * fraction))
        mask[rng.permutation(rows)[:take]] = True
    return mask


def fit_logistic(x: Vectors, y: Ints, c: float) -> tuple[Floats, Floats]:
    """Multinomial logistic regression: (coef (K, d), intercept (K,))."""
    from sklearn.linear_model import LogisticRegression

    head = LogisticRegression(C=c, max_iter=2000)
    with warnings.catch_warnings():
        # A catalogue with one or two examples per intent is legitimate here, not a regression
        # problem in disguise, which is what scikit-learn warns about.
        warnings.filterwarnings(
            "ignore", message="The number of unique classes", category=UserWarning
        )
        head.fit(x, y)
    return np.asarray(head.coef_, dtype=np.float64), np.asarray(head.intercept_, dtype=np.float64)


def fit_temperature(logits: Floats, y: Ints) -> float:
    """The temperature minimising validation negative log-likelihood (Guo et al. 2017)."""
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 121))
    rows = np.arange(len(y))

    def nll(temperature: float) -> float:
        z = logits / temperature
        peak = z.max(axis=1)
        log_sum = peak + np.log(np.exp(z - peak[:, None]).sum(axis=1))
        return float((log_sum - z[rows, y]).mean())

    return float(min(grid, key=nll))


def choose_threshold(scores: Floats, correct: npt.NDArray[np.bool_], budget: float) -> float:
    """The highest threshold keeping in-scope accuracy within `budget` points of unthresholded.

    OOS recall only grows with the threshold and in-scope accuracy only shrinks, so the best
    trade-off under an accuracy budget is its edge; out-of-scope examples are not needed here
    (they choose between settings instead).
    """
    allowed_losses = int(np.floor(budget / 100.0 * len(scores)))
    # Correctly classified texts below the threshold are the only ones it costs.
    costly = np.sort(scores[correct])
    if not len(costly):
        return float(scores.min()) if len(scores) else 0.0  # nothing right: flag nothing
    if allowed_losses >= len(costly):
        return float(costly[-1])
    return float(costly[allowed_losses])


def candidate(
    logits: Floats,
    y: Ints,
    oos_logits: Floats | None,
    *,
    c: float,
    temperature: float,
    method: OosMethod,
    budget: float,
) -> Candidate:
    """Score one (C, method) setting on validation."""
    scores = in_scope_scores(logits, temperature, method)
    correct = logits.argmax(axis=1) == y
    threshold = choose_threshold(scores, correct, budget)
    recall = None
    if oos_logits is not None and len(oos_logits):
        oos_scores = in_scope_scores(oos_logits, temperature, method)
        recall = float((oos_scores < threshold).mean() * 100)
    return Candidate(
        c=c,
        oos_method=method,
        threshold=threshold,
        accuracy=float(correct.mean() * 100),
        in_scope_accuracy=float((correct & (scores >= threshold)).mean() * 100),
        oos_recall=recall,
    )


def train_from_vectors(
    x: Vectors,
    labels: Sequence[str],
    *,
    val_x: Vectors,
    val_labels: Sequence[str],
    oos_x: Vectors | None = None,
    c_grid: Sequence[float] = C_GRID,
    methods: Sequence[OosMethod] = get_args(OosMethod),
    budget: float = MAX_IN_SCOPE_LOSS,
) -> tuple[IntentModel, list[Candidate]]:
    """Fit on (x, labels), pick C, temperature, OOS method and threshold on validation."""
    names = sorted(set(labels))
    if len(names) < 2:
        raise ConfigurationError("an intent model needs at least two intents")
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted(set(val_labels) - set(names))
    if unknown:
        raise ConfigurationError(f"validation intents absent from training: {unknown[:5]}")
    y = np.array([index[label] for label in labels], dtype=np.int64)
    val_y = np.array([index[label] for label in val_labels], dtype=np.int64)

    # C is a classification setting, so validation accuracy picks it; the OOS method is then
    # picked by validation OOS recall at the accuracy budget. Ranking them jointly let ~100
    # noisy OOS texts (1 point of recall each) overrule 3,000 in-scope ones on CLINC150.
    tried: list[Candidate] = []
    best: tuple[Candidate, Floats, Floats, float] | None = None
    for c in c_grid:
        coef, intercept = fit_logistic(x, y, c)
        val_logits = val_x.astype(np.float64) @ coef.T + intercept
        oos_logits = None if oos_x is None else oos_x.astype(np.float64) @ coef.T + intercept
        temperature = fit_temperature(val_logits, val_y)
        found_here = [
            candidate(
                val_logits,
                val_y,
                oos_logits,
                c=c,
                temperature=temperature,
                method=method,
                budget=budget,
            )
            for method in methods
        ]
        for found in found_here:
            log.debug(
                "intents.candidate",
                c=c,
                method=found.oos_method,
                accuracy=round(found.accuracy, 2),
                in_scope_accuracy=round(found.in_scope_accuracy, 2),
                oos_recall=found.oos_recall,
            )
        tried.extend(found_here)
        # max() keeps the first of equals: `methods` lists the preferred method first.
        pick = max(found_here, key=lambda found: found.oos_recall or 0.0)
        if best is None or pick.accuracy > best[0].accuracy:
            best = (pick, coef, intercept, temperature)
    assert best is not None
    chosen, coef, intercept, temperature = best
    validation = {"accuracy": chosen.accuracy, "in_scope_accuracy": chosen.in_scope_accuracy}
    if chosen.oos_recall is not None:
        validation["oos_recall"] = chosen.oos_recall
    model = IntentModel(
        labels=names,
        coef=coef.astype(np.float32),
        intercept=intercept.astype(np.float32),
        temperature=temperature,
        oos_method=chosen.oos_method,
        threshold=chosen.threshold,
        hyperparameters={
            "head": "logistic_regression",
            "C": chosen.c,
            "in_scope_loss_budget": budget,
            "train_size": len(labels),
            "validation_size": len(val_labels),
            "oos_validation_size": 0 if oos_x is None else len(oos_x),
        },
        validation={key: round(value, 3) for key, value in validation.items()},
    )
    return model, tried


def train_from_texts(
    examples: Sequence[tuple[str, str]],
    *,
    validation: Sequence[tuple[str, str]] | None = None,
    oos_examples: Sequence[str] = (),
) -> IntentModel:
    """Encode with the shared encoder and train (see `IntentModel.train`)."""
    from app.ai.encoder import get_encoder

    if not examples:
        raise ConfigurationError("no intent examples to train on")
    if validation is None:
        held = stratified_holdout([intent for _, intent in examples])
        validation = [pair for pair, out in zip(examples, held, strict=True) if out]
        examples = [pair for pair, out in zip(examples, held, strict=True) if not out]
        if not validation:
            raise ConfigurationError(
                "too few examples to hold out validation data (3 per intent needed)"
            )
    encoder = get_encoder()
    x = encoder.encode([text for text, _ in examples])
    val_x = encoder.encode([text for text, _ in validation])
    oos_x = encoder.encode(list(oos_examples)) if oos_examples else None
    model, _ = train_from_vectors(
        x,
        [intent for _, intent in examples],
        val_x=val_x,
        val_labels=[intent for _, intent in validation],
        oos_x=oos_x,
    )
    return model


# -- fine-tuning the encoder (evaluation only) --------------------------------------------------
#
# Serving reads the shared encoder's embeddings, so a fine-tuned encoder would cost a second
# forward pass per text (~13 ms on two cores against a 25 ms p95 budget for the whole AI
# layer). It is therefore not the product default; `evaluate_intents(..., finetune=True)`
# measures what it would buy. Only the top transformer layers are tuned: the lower layers'
# token states are computed once and cached, which makes a CLINC150 epoch ~1/3 of a full
# fine-tuning epoch on a CPU.


@dataclass(frozen=True)
class FineTuneSettings:
    """Hyper-parameters of `finetune_encoder` (fixed in advance, not searched)."""

    top_layers: int = 2
    epochs: int = 2
    batch_size: int = 32
    encoder_lr: float = 5e-5
    head_lr: float = 2e-3
    scale: float = 20.0
    """Cosine-softmax scale: logits are scale * cos(text, class)."""
    label_smoothing: float = 0.1
    max_tokens: int = 48
    threads: int = 2
    seed: int = SEED


class FineTunedEncoder:
    """A private copy of the sentence encoder whose top layers were tuned on intent labels."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Embed `texts` like `Encoder.encode` does (L2-normalised, float32)."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=128,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def finetune_encoder(
    texts: Sequence[str],
    labels: Sequence[str],
    settings: FineTuneSettings = FineTuneSettings(),
) -> FineTunedEncoder:
    """Tune the top layers of a fresh copy of the encoder with a cosine-softmax head."""
    import torch
    from sentence_transformers import SentenceTransformer

    from app.ai.encoder import model_path

    torch.manual_seed(settings.seed)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        # A fresh copy: the process-wide encoder must keep serving the frozen embeddings.
        model = SentenceTransformer(str(model_path()), device="cpu", local_files_only=True)
        model.max_seq_length = settings.max_tokens
        # transformers' BertModel, typed loosely by torch (attributes resolve to Tensor | Module).
        bert: Any = model[0].auto_model
        tokenizer: Any = model.tokenizer
        names = sorted(set(labels))
        index = {name: i for i, name in enumerate(names)}
        y = torch.tensor([index[label] for label in labels])
        layers: Any = bert.encoder.layer
        lower = len(layers) - settings.top_layers
        top = torch.nn.ModuleList(list(layers)[lower:])

        def pooled(states: list[torch.Tensor]) -> torch.Tensor:
            """Run the tuned layers on cached states; mean-pool and normalise as the encoder."""
            width = max(state.shape[0] for state in states)
            hidden = torch.zeros(len(states), width, DIMENSIONS)
            mask = torch.zeros(len(states), width)
            for row, state in enumerate(states):
                hidden[row, : state.shape[0]] = state.float()
                mask[row, : state.shape[0]] = 1.0
            additive = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min
            for layer in top:
                out = layer(hidden, attention_mask=additive)
                hidden = out[0] if isinstance(out, tuple) else out
            mean = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
            return torch.nn.functional.normalize(mean, dim=-1)

        # Token states after the frozen lower layers, computed once (float16 halves memory).
        bert.eval()
        states: list[torch.Tensor] = []
        with torch.no_grad():
            bert.encoder.layer = torch.nn.ModuleList(list(layers)[:lower])
            for start in range(0, len(texts), 256):
                batch = tokenizer(
                    list(texts[start : start + 256]),
                    padding=True,
                    truncation=True,
                    max_length=settings.max_tokens,
                    return_tensors="pt",
                )
                hidden = bert(**batch).last_hidden_state
                lengths = batch["attention_mask"].sum(1).tolist()
                states.extend(hidden[row, :n].half() for row, n in enumerate(lengths))
            bert.encoder.layer = layers
            # The head starts at the class centroids of the untuned embeddings.
            frozen = torch.cat([pooled(states[i : i + 256]) for i in range(0, len(states), 256)])
            centroids = torch.stack([frozen[y == c].mean(0) for c in range(len(names))])
        head = torch.nn.Parameter(torch.nn.functional.normalize(centroids, dim=-1))

        steps = settings.epochs * -(-len(states) // settings.batch_size)
        warmup = max(1, int(0.06 * steps))
        optimiser = torch.optim.AdamW(
            [
                {"params": top.parameters(), "lr": settings.encoder_lr},
                {"params": [head], "lr": settings.head_lr},
            ],
            weight_decay=0.01,
        )
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, 1 - step / steps)
        )
        generator = torch.Generator().manual_seed(settings.seed)
        top.train()
        for epoch in range(settings.epochs):
            total = 0.0
            order = torch.randperm(len(states), generator=generator)
            for start in range(0, len(order), settings.batch_size):
                rows = order[start : start + settings.batch_size]
                vectors = pooled([states[i] for i in rows])
                logits = settings.scale * vectors @ torch.nn.functional.normalize(head, dim=-1).T
                loss = torch.nn.functional.cross_entropy(
                    logits, y[rows], label_smoothing=settings.label_smoothing
                )
                optimiser.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                optimiser.step()
                schedule.step()
                total += float(loss.item())
            log.info(
                "intents.finetune.epoch",
                epoch=epoch,
                loss=round(total / -(-len(order) // settings.batch_size), 4),
            )
        top.eval()
        return FineTunedEncoder(model)
    finally:
        torch.set_num_threads(previous_threads)
