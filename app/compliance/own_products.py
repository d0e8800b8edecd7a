"""RES-1: the brand's own products and services, declared in its knowledge base.

Tier 5 of the decision procedure reads "cancel ..." or "stop ..." with nothing but our messages
after the verb as a revocation. A member who texts "pls cancel my acme club" wants to end a
membership, not every text: when the words after the verb name one of the brand's own
products or services, the clause is about that product and the text goes on to the AI.

The brand declares them in `<knowledge_dir>/own_products.yaml`:

    own_products: [Acme Club, tune-up, bike fit, fitting]

Words about messages can never be declared: "cancel my subscription", "cancel it" and a bare
"Cancel" stay opt-outs whatever the file says, and a clause that names messages as well
("stop the club texts") is still a revocation.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from app.compliance.lexicon import lexicon
from app.compliance.normalise import normalise, tokens
from app.compliance.phrases import MESSAGE_NOUN
from app.errors import ConfigurationError

FILE_NAME = "own_products.yaml"
Product = tuple[str, ...]
"""A product's name as normalised tokens (`tune-up` -> ("tune", "up"))."""


def load_own_products(knowledge_dir: Path) -> frozenset[Product]:
    """The products declared in the knowledge base; none when it declares none.

    A malformed file is a configuration error naming the file (refused at start-up, before
    any text is classified with a list the brand did not mean).
    """
    path = knowledge_dir / FILE_NAME
    if not path.is_file():
        return frozenset()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"{path}: cannot read the brand's own products ({exc})") from None
    if data is None:
        return frozenset()
    if not isinstance(data, dict) or not isinstance(data.get("own_products"), list):
        raise ConfigurationError(f"{path}: expected `own_products: [<product>, ...]`")
    return parse_own_products(data["own_products"], where=str(path))


def parse_own_products(names: Iterable[object], *, where: str) -> frozenset[Product]:
    """Normalised products; a name about messages (RES-1 keeps those opt-outs) is refused."""
    lex = lexicon()
    reserved = lex.messaging_words | lex.fillers | frozenset(lex.residual_verbs)
    products: set[Product] = set()
    for name in names:
        if not isinstance(name, str):
            raise ConfigurationError(f"{where}: own product {name!r} is not text (quote it)")
        product = tuple(tokens(normalise(name)))
        if not product:
            raise ConfigurationError(f"{where}: own product {name!r} has no letters")
        about_messages = [w for w in product if w in reserved or MESSAGE_NOUN.fullmatch(w)]
        if about_messages:
            raise ConfigurationError(
                f"{where}: own product {name!r} uses {about_messages[0]!r}, a word about our "
                "messages or a revocation; SPEC RES-1 keeps those opt-outs (name the product "
                "itself, e.g. 'Acme Club')"
            )
        products.add(product)
    return frozenset(products)


def _singulars(word: str) -> tuple[str, ...]:
    if not word.endswith("s"):
        return (word,)
    return (word, word[:-1], word[:-2]) if word.endswith("es") else (word, word[:-1])


def names_own_product(words: list[str], products: frozenset[Product]) -> bool:
    """Do `words` (what follows a residual verb) name one of `products`, and no messages?"""
    if not products or any(MESSAGE_NOUN.fullmatch(word) for word in words):
        return False
    for i in range(len(words)):
        for product in products:
            end = i + len(product)
            if end > len(words) or tuple(words[i : end - 1]) != product[:-1]:
                continue
            if product[-1] in _singulars(words[end - 1]):
                return True
    return False
