"""Crisis and danger in free words, English and Spanish: self-harm, violence and abuse, a
medical emergency, fire, smoke or gas, a child in danger, threats against people.

Two nets, either one is enough:
- patterns per kind over the normalised text (lower case, no accents, no apostrophes), written
  as families of paraphrases rather than single words, with the everyday idioms that share
  their words ("this price is killing me", "fire sale", "my battery died") left out;
- similarity of the text's embedding to written examples of each kind
  (`data/safety_examples.yaml`), which catches paraphrases no pattern lists.

A safety hand-off is never a reason for regret: the customer gets emergency numbers and a
person, so the nets lean towards recall.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import yaml

from app.ai.encoder import Encoder, Vectors
from app.compliance.normalise import normalise

_PARTNER = (
    r"(?:husband|hubby|wife|boyfriend|bf|girlfriend|gf|partner|ex|fiance|fiancee|dad|father|"
    r"stepdad|mom|mother|stepmom|brother|sister|son|uncle|roommate|he|she|they|esposo|esposa|"
    r"marido|novio|novia|pareja|papa|padre|madre|mama)"
)
_CHILD = (
    r"(?:child|kid|son|daughter|toddler|baby|boy|girl|infant|little one|nephew|niece|"
    r"hijo|hija|nino|nina|bebe)"
)
PATTERNS: dict[str, tuple[str, ...]] = {
    "self_harm": (
        r"\b(?:kill|killing|hurt|hurting|harm|harming|cut|cutting|shoot|hang|hanging) "
        r"(?:myself|my self)\b",
        r"\bsuicid(?!\w* (?:hill|trail|climb|loop|run|grade))",
        r"\b(?:end|ending|take|taking) (?:my|my own) life\b",
        r"\bend (?:it all|everything|it tonight|it now)\b",
        r"\b(?:want|wanna|going|gonna|ready) (?:to )?die\b",
        r"\b(?:dont|do not|no longer|dont even) (?:want|wanna) (?:to )?(?:live|be alive|be here|"
        r"exist|wake up|be around|go on)\b",
        r"\b(?:better off|be better) (?:dead|without me)\b",
        r"\b(?:no|nothing|not any|isnt any|theres no) (?:reason|point|purpose) "
        r"(?:to|in|of) (?:live|living|go on|going on|keep going|being alive|life)\b",
        r"\b(?:cant|can not|cannot) (?:go on|keep going|do this anymore|take it anymore)\b",
        r"\b(?:overdose|overdosing|od on|take all (?:my|the) pills|swallow(?:ed)? all)\b",
        r"\b(?:took|taken|swallowed|ate) (?:\w+ ){0,3}(?:too many|all (?:of )?(?:my|the)|"
        r"a bunch of|"
        r"a whole (?:bottle|pack) of|a lot of) (?:\w+ ){0,3}(?:pills|tablets|meds|medication|"
        r"medicine|sleeping pills|painkillers)\b",
        r"\bnot worth living\b|\blife isnt worth\b",
        r"\b(?:wont|will not) be (?:a )?(?:burden|problem) (?:to anyone |for anyone )?"
        r"(?:much longer|anymore|for long)\b",
        r"\b(?:giving|gave) away (?:all )?my (?:stuff|things|belongings)\b",
        r"\b(?:said|saying|wrote|writing) (?:my )?goodbyes?\b|\bgoodbye (?:letter|note|forever)\b",
        r"\b(?:cant|can not|cannot) (?:take|handle|stand) (?:the pain|this pain|it) (?:anymore|"
        r"any longer)\b",
        r"\b(?:i want|i wanna|ready) to (?:disappear|stop existing|not exist)\b",
        r"\bnobody (?:would|will) miss me\b",
        r"\b(?:no quiero|ya no quiero) (?:vivir|seguir|estar aqui|despertar)\b",
        r"\b(?:quiero|quisiera) (?:morir|morirme|matarme|desaparecer)\b",
        r"\b(?:matarme|quitarme la vida|hacerme dano|acabar con (?:mi vida|todo))\b",
        r"\bno vale la pena (?:vivir|seguir)\b",
        r"\b(?:not|never|dont|no) (?:to )?wake up\b.{0,30}$|\bsleep (?:and|forever and) (?:never|"
        r"not) wake\b",
        r"\b(?:wont|will not|not going to) be (?:around|here|alive) (?:anymore|much longer|"
        r"after|by|for long)\b",
        r"\b(?:end|ending) (?:things|it|everything) (?:tonight|today|this week|this weekend|soon|"
        r"for good)\b|\bdecided to end (?:things|it)\b",
        r"\b(?:nobody|no one|noone) (?:would|will|is going to|even) (?:\w+ )?(?:notice|care|"
        r"miss me)\b",
        r"\bpills? (?:saved|stockpiled|ready|lined up)\b|\btonight (?:is|feels like) the night\b",
        r"\b(?:whats|what is) the point (?:of|in) (?:any of it|anything|living|life|going on|"
        r"being here)\b",
        r"\b(?:estaria|estarian|estaran|estarian) mejor sin mi\b|\bmejor (?:muerto|muerta)\b",
    ),
    "violence": (
        rf"\b{_PARTNER} (?:\w+ )?(?:hit|hits|hitting|beat|beats|beating|punched|punches|kicked|"
        r"kicks|slapped|slaps|choked|chokes|strangled|shoved|pushed|hurt|hurts|hurting|"
        r"attacked|attacks|threatened|threatens|grabbed|raped|abuses|abused) (?:me|us|my)\b",
        r"\b(?:hit|beat|beaten|punched|kicked|slapped|choked|attacked|assaulted|raped|abused) "
        r"(?:me|us) (?:again|every|when|last night|today|tonight)\b",
        r"\b(?:domestic (?:violence|abuse)|being abused|abusive (?:relationship|husband|wife|"
        r"partner|boyfriend|girlfriend)|he is abusive|she is abusive)\b",
        r"\b(?:afraid|scared|terrified) (?:he|she|they)(?:ll| will| is going to| might) "
        r"(?:hurt|kill|hit|find)\b",
        r"\b(?:scared|afraid|fear) for my (?:life|safety)\b",
        r"\b(?:someone|somebody|a man|a guy|he|she) (?:is )?(?:following|stalking|attacking) me\b",
        r"\b(?:locked|trapped) me (?:in|inside)\b",
        rf"\b{_PARTNER} (?:me )?(?:pega|golpea|golpeo|maltrata|amenaza|lastima)\b",
        r"\bme (?:pega|golpea|golpeo|maltrata|amenaza|lastima|pego)\b",
        r"\b(?:violencia domestica|violencia|abuso|maltrato)\b",
        r"\btengo miedo (?:de que|que) (?:me|el|ella)\b",
        r"\b(?:throws|throwing|threw) (?:things|stuff|bottles|punches) at (?:me|us)\b",
        r"\b(?:hell|shell|theyll|he will|she will|they will|going to|gonna|threatened to|"
        r"threatens to) (?:kill|hurt|shoot|stab|beat) (?:me|us|my)\b",
        r"\b(?:scared|afraid|terrified) (?:to go|of going) home\b",
        r"\b(?:threatened|threatening|came at) me with (?:a |his |her )?(?:knife|gun|bat|weapon)\b",
        r"\b(?:got|been|was|were) (?:jumped|mugged|robbed|assaulted|stabbed|shot)\b",
        r"\b(?:my )?(?:ex|stalker|abuser)\b.{0,30}\b(?:outside|at my (?:door|house|work)|"
        r"wont leave|breaking in|broke in)\b",
        r"\bsomeone (?:is )?(?:breaking|broke|trying to break) in(?:to)?\b",
        r"\b(?:esta|estan|me sigue) (?:golpeando|pegando|lastimando|amenazando)\b",
        r"\b(?:been |is |keeps |kept |keep |started )?(?:following|stalking) me\b",
    ),
    "medical": (
        r"\bchest (?:pain|pains|hurts|is tight|tightness|pressure)\b",
        r"\bchest (?:feels |is )?(?:\w+ )?(?:tight|heavy|crushing|on fire)\b",
        r"\b(?:arm|face|side) (?:is |went |going )?numb\b|\bface (?:is )?drooping\b",
        r"\bthroat (?:\w+ ){0,4}closing\b",
        r"\b(?:hit|hurt|banged|cracked) my head\b.{0,60}\b(?:dizzy|throwing up|vomit|"
        r"confused|blurry|bleeding|pass(?:ed|ing)? out)",
        r"\b(?:dizzy|lightheaded) and (?:throwing up|vomiting|confused)\b",
        r"\bburn(?:ed|t) my (?:hand|arm|leg|face|skin|fingers?|foot)\b.{0,40}\b(?:bad|badly|"
        r"blister|peeling|skin)",
        r"\b(?:heart attack|having a stroke|a stroke|seizure|seizing|anaphyla|"
        r"allergic reaction|epipen|epi pen)\b",
        r"\b(?:cant|can not|cannot|hard to|trouble|struggling to|hard time) breath",
        r"\b(?:not|isnt|stopped|stop) breathing\b",
        r"\b(?:unconscious|unresponsive|passed out|fainted|collapsed|wont wake up)\b",
        r"\b(?:broke|broken|snapped) (?:my |his |her )?(?:leg|arm|wrist|ankle|hip|collarbone|ribs?)"
        r"\b.{0,40}\b(?:cant move|bone|sticking|help|ambulance|bleeding)",
        r"\b(?:deep|bad|big) (?:cut|gash|wound)\b|\bneed(?:s)? stitches\b",
        r"\b(?:blood sugar|diabetic)\b.{0,30}\b(?:low|crashing|shaking|passing out|confused)\b",
        r"\b(?:severe|bad|serious) allergic\b|\bstung\b.{0,30}\b(?:swelling|breath|allergic)\b",
        r"\b(?:vomiting|throwing up) blood\b|\bcoughing up blood\b",
        r"\b(?:bleeding (?:a lot|badly|heavily|everywhere|bad|wont stop|out)|"
        r"blood everywhere|wont stop bleeding|lot of blood)\b",
        r"\b(?:throat|tongue) (?:is )?(?:closing|swelling)\b",
        r"\bswallow(?:ed|s)? (?:\w+ ){0,4}(?:detergent|pods?|laundry|bleach|pills?|"
        r"batter(?:y|ies)|button batter|poison|chemicals?|cleaner|medicine|magnets?)\b",
        r"\b(?:poisoned|poisoning|overdosed)\b",
        r"\b(?:need|call|get|send) (?:an )?ambulance\b|\bcall 911\b|\bcalling 911\b",
        r"\b(?:medical emergency|its an emergency|this is an emergency|emergency room)\b",
        r"\b(?:broke|broken) (?:my )?(?:neck|back|skull)\b|\bconcussion\b|\bhead injury\b",
        r"\b(?:crashed|fell|thrown|flipped|accident)\b.{0,60}\b(?:bleeding|hospital|er\b|"
        r"ambulance|cant move|broke|broken|unconscious|hurt bad|badly hurt|injured)",
        r"\b(?:dolor (?:de|en el) pecho|infarto|ataque al corazon|no (?:puedo|puede) respirar|"
        r"no respira|se desmayo|inconsciente|convulsion|sangrando mucho|mucha sangre|"
        r"ambulancia|emergencia|se (?:trago|tomo) (?:las|unas|un|una|el|la) )",
    ),
    "fire_gas": (
        r"\b(?:smell(?:s|ing)?|smelled) (?:of |like )?(?:gas|smoke|burning)\b",
        r"\bgas (?:leak|smell|is leaking)\b|\bleaking gas\b",
        r"\bcarbon monoxide (?:poisoning|leak|is|in (?:the|my|our))\b|"
        r"\b(?:co|smoke|fire) (?:alarm|detector)s? (?:is |are |keeps |"
        r"went |going )?(?:going off|beeping|sounding|ringing)\b",
        r"\b(?:on fire|caught fire|catching fire|burst into flames|in flames|flames)\b",
        r"\bfire (?:in|at|inside) (?:the|my|your|our|a)\b",
        r"\b(?:smoke|smoking) (?:is )?(?:coming|pouring|everywhere|filling|from (?:the|my))\b",
        r"\b(?:battery|charger|e ?bike|scooter) (?:is )?(?:smoking|burning|on fire|exploded|"
        r"swelling|swollen|sparking|melting)\b",
        r"\bexplo(?:sion|ded)\b",
        r"\b(?:fumes|burning smell|smells like something burning)\b.{0,40}\b(?:dizzy|headache|"
        r"sick|kids|everywhere|cant breathe)",
        r"\b(?:sparks|sparking) (?:flying|coming|everywhere)\b",
        r"\b(?:battery|charger|e ?bike|scooter|stove|heater)\b.{0,40}\b(?:hissing|smoking|"
        r"smoke|flames|caught fire|melting)\b",
        r"\bsmell(?:s|ing)? (?:\w+ ){0,3}(?:like|of) (?:gas|propane|smoke|burning)\b",
        r"\b(?:strong|weird) (?:smell|odor|odour) of (?:gas|propane)\b",
        r"\bhuele (?:\w+ ){0,2}a (?:gas|humo|quemado)\b|\b(?:sale|hay|mucho) humo\b|"
        r"\bse esta quemando\b",
        r"\b(?:huele a gas|olor a gas|fuga de gas|incendio|se quema|hay fuego|hay humo|"
        r"humo saliendo)\b",
    ),
    "child": (
        rf"\b(?:my|our|a|the) {_CHILD} (?:is |got |has |was |just |went )?(?:missing|lost(?: in|"
        rf" at| somewhere|$|[.!,])|"
        r"gone missing|choking|not breathing|unresponsive|locked in|stuck in|drowning|"
        r"kidnapped|taken by)",
        rf"\b(?:cant|can not|cannot) find (?:my|our) {_CHILD}\b",
        rf"\b{_CHILD} (?:wandered off|ran off|is gone|got out|fell (?:off|down|from)"
        r"(?: \w+){0,4} (?:and|hit|head|not moving|unconscious|bleeding))",
        rf"\b{_CHILD} (?:is |was )?(?:choking|turning blue|not moving)\b",
        rf"\b{_CHILD} (?:left |locked |stuck )?in (?:a|the) (?:hot )?car\b",
        r"\b(?:left|locked) (?:a |the )?(?:baby|kid|child|toddler|dog) in (?:a|the|her|his|"
        r"their) car",
        r"\b(?:mi|el|la) (?:hijo|hija|nino|nina|bebe) (?:se (?:perdio|trago|cayo|ahoga)|"
        r"no respira|desaparecio|esta perdid)",
    ),
    "threat": (
        r"\b(?:going to|gonna|will|im gonna|i will|ill|about to) (?:kill|shoot|stab|hurt|"
        r"murder|attack|bomb|blow up|beat up|burn down) (?:you|someone|somebody|people|him|her|"
        r"whoever|anyone|anybody|everybody|"
        r"them|everyone|your|the|that|a)\b",
        r"\b(?:bring|bringing|have|got) (?:a |my )(?:gun|knife|weapon|rifle|pistol)\b",
        r"\bshoot (?:up|the place|everyone|you)\b|\bbomb (?:threat|the store|your store)\b",
        r"\b(?:voy a|te voy a|los voy a) (?:matar|disparar|lastimar|golpear)\b",
        r"\b(?:waving|pointing|pulled|has|had|with) (?:a |his |her )?(?:gun|pistol|rifle|knife|"
        r"machete|weapon)\b",
        r"\bmake (?:\w+ ){0,3}pay for what (?:she|he|they|you) did\b",
        r"\b(?:gonna|going to|will|ill) (?:shoot|stab|kill) (?:up )?(?:the|your|that|this|some)\b",
        r"\b(?:someone|somebody|they|you) (?:is |are )?(?:going to|gonna) get hurt\b",
        r"\bamenaz\w* con (?:matar|lastimar|disparar|golpear)\b",
    ),
}
_COMPILED = {kind: [re.compile(p) for p in patterns] for kind, patterns in PATTERNS.items()}
# Danger that is over ("had a heart attack two years ago, cleared to ride", "got lost for 2 min,
# found her"): not an emergency now.
_RESOLVED = re.compile(
    r"\b(?:\d+|a|two|three|few|couple of) (?:years?|months?|weeks?) ago\b|\blast (?:year|month)\b|"
    r"\b(?:all )?(?:healed|recovered|cleared|fine now|ok now|okay now|all good now)\b|"
    r"\bfound (?:her|him|them|my \w+)\b|\bya esta bien\b|\bhace (?:un|dos|tres) (?:mes|meses|año)"
)
_RESOLVABLE = ("medical", "child")
# Idioms that share a pattern's words: "i'll shoot you a text", "shoot me an email".
_IDIOMS = re.compile(
    r"\bshoot (?:you|u|me|them|him|her) (?:a|an|the|over a) (?:text|message|msg|email|note|pic|"
    r"photo|line|quick)\b"
)


@dataclass(frozen=True)
class SafetyReading:
    """Whether a text signals crisis or danger, and why."""

    kind: str | None
    """self_harm, violence, medical, fire_gas, child, threat; None when nothing was found."""
    matched: str | None
    similarity: float
    """The danger head's probability (0-1), kept for the record."""

    @property
    def danger(self) -> bool:
        """Crisis or danger: a person now, emergency numbers to the customer."""
        return self.kind is not None


def match_patterns(text: str) -> tuple[str, str] | None:
    """The first pattern family the text matches: (kind, matched words)."""
    folded = _IDIOMS.sub(" ", normalise(text))
    resolved = bool(_RESOLVED.search(folded))
    for kind, patterns in _COMPILED.items():
        if resolved and kind in _RESOLVABLE:
            continue
        for pattern in patterns:
            found = pattern.search(folded)
            if found is not None:
                return kind, found.group()
    return None


class SafetyDetector:
    """The patterns, and a danger head on the shared encoder.

    The head is a logistic regression trained when the models load (well under a second
    after encoding): danger texts are the written examples (`data/safety_examples.yaml`)
    and the training texts (`data/safety_train.jsonl`, with everyday near misses such as
    "this price is killing me"); ordinary texts are those near misses and every text of the
    knowledge base, so a team's own questions teach it what is not danger. The threshold is
    high on purpose: on 2,500 ordinary customer texts it flagged one. A text very close to
    one written example counts too (no false alarm on the same 2,500 texts at 0.55).
    """

    def __init__(
        self,
        encoder: Encoder,
        *,
        ordinary: Sequence[str] = (),
        threshold: float = 0.9,
        example_threshold: float = 0.6,
    ) -> None:
        from sklearn.linear_model import LogisticRegression

        danger, kinds, calm, written = _training_texts()
        # Only the written examples (no product words in them) are compared one by one: the
        # training texts mix danger into ordinary requests, and a plain "can i pause my
        # club?" must not come close to "pause my membership forever, i wrote letters".
        self.kinds = kinds[:written]
        self.examples = danger[:written]
        vectors = encoder.encode([*danger, *calm, *ordinary])
        self.vectors: Vectors = vectors[:written]
        labels = np.array([1] * len(danger) + [0] * (len(calm) + len(ordinary)))
        self.head = LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000)
        self.head.fit(vectors, labels)
        self.threshold = threshold
        self.example_threshold = example_threshold
        """A text this close to one written danger example is danger, whatever the head says."""

    def read(
        self, text: str, vector: Vectors, *, plain: str | None = None, english: bool = True
    ) -> SafetyReading:
        """What the text signals; `vector` is its embedding, `plain` its plain-words form
        (the patterns read both: a misspelling must not hide danger, nor create it). The
        encoder only knows English, so other languages rely on the patterns alone."""
        similarities = self.vectors @ vector
        best = int(np.argmax(similarities))
        probability = float(self.head.predict_proba(vector.reshape(1, -1))[0, 1])
        matched = match_patterns(text) or (match_patterns(plain) if plain else None)
        if matched is not None:
            return SafetyReading(matched[0], matched[1], probability)
        close_to_example = float(similarities[best]) >= self.example_threshold
        if english and (probability >= self.threshold or close_to_example):
            return SafetyReading(self.kinds[best], self.examples[best], probability)
        return SafetyReading(None, None, probability)


def _training_texts() -> tuple[list[str], list[str], list[str], int]:
    """(danger texts, their kinds, everyday near misses, how many of the danger texts are
    the written examples, which come first), English only."""
    data = resources.files("app.ai").joinpath("data")
    raw: Any = yaml.safe_load(data.joinpath("safety_examples.yaml").read_text("utf-8"))
    danger: list[str] = []
    kinds: list[str] = []
    for kind, examples in raw["examples"].items():
        danger += [str(e) for e in examples]
        kinds += [str(kind)] * len(examples)
    written = len(danger)
    calm: list[str] = []
    for line in data.joinpath("safety_train.jsonl").read_text("utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("lang", "en") != "en":
            continue
        if row.get("reason") == "safety":
            danger.append(row["text"])
            kinds.append((row.get("tags") or ["danger"])[0])
        else:
            calm.append(row["text"])
    return danger, kinds, calm, written
