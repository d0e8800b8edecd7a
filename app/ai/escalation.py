"""Texts a person must answer, read from their words: a request for a person, anger, a legal
matter, a fraud or scam worry. Each reader is a few families of patterns over the normalised
text (lower case, no accents, shorthand expanded, misspellings corrected), in English and
Spanish; the intent classifier and the sentiment head add their vote in the responder.

A near miss must not trip them: "is the fit done by a real person?" is a question about a
service, "how do i leave a complaint-free review" is feedback, a plain "my order is late" is
not anger. So the short, noun-only forms ("agent", "real person pls") count only in short
texts, and anger needs an angry word, not a merely negative one.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from app.compliance.normalise import normalise

_PEOPLE = (
    r"(?:human|humans|person|people|agent|agents|someone|somebody|anyone|anybody|"
    r"representative|reprasentative|rep|reps|manager|supervisor|operator|staff|employee|"
    r"associate|team member|live agent|live person|real person|real human|actual person|"
    r"actual human|live chat|customer (?:service|care|support)(?: team| agent| rep)?|"
    r"support team|care team|your team|the team|a real one|a human being|human being)"
)
_ASK_VERBS = (
    r"(?:talk|talking|speak|speaking|chat|chatting|text|texting|message|connect|connected|"
    r"discuss (?:this|it|something) with|get in touch with|in touch with|"
    r"transfer|transferred|put me through|get me|reach|contact|deal with|deal w|work with|"
    r"be helped by|get a hold of|get ahold of|get hold of)"
)
_PERSON = [
    re.compile(
        rf"\b{_ASK_VERBS} (?:to |with |me to |me with |me through to )?(?:a |an |the |some |"
        rf"one of your |one of the |your |ur |real |actual )*{_PEOPLE}\b"
    ),
    re.compile(
        r"\b(?:can|could|would|will|have|pls|please|need|want|get) (?:someone|somebody|"
        r"a person|a human|an agent|a rep|anyone|a manager|a staff member|a team member|"
        r"a real person|an actual person|a real human|one of your people) (?:to )?(?:call|"
        r"text|contact|reach out|get back|help|phone|give me a call|look at|check|review|"
        r"look into|handle) (?:to )?(?:me|us|back|my|this|it|into)\b"
    ),
    re.compile(
        r"\b(?:give me|gimme) a (?:call|ring)\b|\b(?:number|phone number|line) "
        r"(?:to call|i can call|for (?:customer )?(?:service|support|care)|to reach)\b"
    ),
    re.compile(rf"\bput (?:a |an |the )?(?:real |actual |live )?{_PEOPLE} (?:on|through)\b"),
    re.compile(
        r"\bis there (?:a |an )?(?:real |actual |live )?(?:person|human|someone|anyone|"
        r"somebody|agent|rep|representative)\b(?: i can| to| who| that| there| here)"
    ),
    re.compile(r"\b(?:call|phone|ring) me(?: back)?(?: please| pls| asap| now| today)?\b"),
    re.compile(
        r"\b(?:i need|i want|i would like|id like|give me|get me|need|want|can i get|"
        r"could i get|may i get|can i have|could i have|prefer) "
        r"(?:a |an |to talk to a |to speak to a )?(?:real |live |actual )?"
        r"(?:human|person|agent|representative|rep|manager|supervisor|operator)\b"
    ),
    re.compile(
        r"\b(?:is there|is this|are you|am i (?:talking|texting|chatting) (?:to|with)) "
        r"(?:a |an )?(?:real|actual|live) (?:person|human)\b.*\b(?:i need|i want|"
        r"please|pls|let me|get me)\b"
    ),
    re.compile(
        r"\b(?:stop|done|tired of|sick of|enough with) (?:talking|texting|chatting) "
        r"(?:to|with) (?:a |the |this )?(?:bot|robot|machine|computer|ai)\b"
    ),
    re.compile(
        r"\b(?:not|no) (?:a |another )?(?:bot|robot|machine|automated|auto reply)\b"
        r".{0,30}\b(?:person|human|someone|agent|real)\b"
    ),
    re.compile(
        r"\b(?:hablar|comunicarme|hablo|contactar|atender)\b.{0,25}\b(?:persona|alguien|"
        r"agente|representante|humano|gerente|encargado|supervisor)\b"
    ),
    re.compile(
        r"\b(?:alguien|una persona|un agente|un representante)\b.{0,20}\b(?:hablar|"
        r"atienda|me ayude|me llame|me conteste|me escriba)\b"
    ),
    re.compile(
        r"\b(?:necesito|quiero|busco|pueden darme|me pasan con|paseme con) (?:a |con )?"
        r"(?:un |una )?(?:agente|persona|representante|humano|alguien|gerente)\b"
    ),
    re.compile(
        r"\b(?:que me llame|llamenme|llameme|persona real|un humano|una persona de verdad|"
        r"con un agente|con una persona)\b"
    ),
]
# Alone, these words ask for a person only as the whole text ("agent", "real person pls"),
# not inside another question ("my person of contact moved").
_PERSON_SHORT = re.compile(
    r"^(?:(?:hi|hey|hello|um|ok|okay)\W+)?(?:an? |the |a real |a live |an actual |real |live )?"
    rf"(?:{_PEOPLE}|representante|agente|humano|persona)"
    r"(?:\W+(?:please|pls|plz|now|asap|por favor|thanks|thx|ty|needed))*\W*$"
)
_SHORT = 6

_ANGER_WORDS = re.compile(
    r"\b(?:terrible|horrible|awful|worst|ridiculous|unacceptable|disgusting|pathetic|useless|"
    r"incompetent|furious|livid|outraged|pissed|fed up|sick of|tired of|had enough|fuming|"
    r"angry|mad at|disgraceful|shameful|garbage|trash service|a joke|what a joke|joke of|"
    r"lousy|appalling|atrocious|infuriating|frustrat\w*|annoyed|annoying|so disappointed|"
    r"disappointed|disappointing|not happy|unhappy|let down|over it|so done|im done with|"
    r"done with (?:you|acme|this)|ruined|fed up|\U0001f621|\U0001f92c|\U0001f620|grosero|grosera|"
    r"never (?:again|shopping|"
    r"ordering|buying|coming back)|last time i|wtf|wth|bs|bullshit|shit|crap|damn|hell no|"
    r"screw you|f ?ing|fucking|fuck|sucks|scammed|rip ?off|ripped off|lied to|liars?|"
    r"no one (?:has )?(?:helped|answered|responded|replied|called)|nobody (?:has )?(?:helped|"
    r"answered|responded|replied|called)|still (?:waiting|havent heard)|"
    r"(?:third|3rd|fourth|4th|fifth|5th|tenth|\d+(?:th|rd)) time|again and again|"
    r"keep (?:getting|sending|telling)|over and over|how (?:hard|difficult) is it|"
    r"rude|unprofessional|treated (?:me )?(?:like|so)|"
    r"pesimo|pesima|horrible|terrible|indignante|inaceptable|molest[oa]|enojad[oa]|"
    r"furios[oa]|harto|harta|una verguenza|nunca mas|ya es la (?:tercera|segunda) vez)\b"
)
# A service failure told as a story: no angry word, but a person must own it.
_GRIEVANCE = re.compile(
    r"\b(?:ignored|ignoring|dismissive|rolled (?:her|his|their) eyes|laughed at|yelled at|"
    r"talked down|condescending|nobody (?:came|showed|helped|knew|answers|responds)|"
    r"no one (?:came|showed|helped|knew|answers|responds|(?:even )?apologi[sz]ed)|"
    r"never (?:got|received|heard back|called|showed)|was promised|were promised|promised me|"
    r"(?:scratched|damaged|broke|lost|ruined) my|going in circles|every (?:single )?(?:order|time)|"
    r"nothing (?:has )?work(?:s|ed)|train (?:your|ur) staff|treat (?:loyal |your )?customers|"
    r"expect (?:some |a |an )?(?:kind of |sort of )?(?:store credit|credit|refund|discount|"
    r"apology|compensation)|as an apology|for the (?:hassle|trouble|inconvenience)|"
    r"worse than (?:before|when)|waited \d+ (?:min|minutes|hours)|"
    r"nadie (?:me )?(?:responde|contesta|ayuda)|otra vez|de nuevo)\b"
)
_COMPLAINT = re.compile(
    r"\bwant (?:my )?(?:\$\d+|money|refund) back\b.{0,40}\b(?:plus|and)\b|"
    r"\bsomething for (?:the|my) (?:hassle|trouble)\b|"
    r"\b(?:file|make|lodge|submit|open|register|raise|put in) (?:a |an |my )?(?:formal |official )?"
    r"(?:complaint|claim|grievance)\b|\bcomplain(?:ing|t)? (?:about|to)\b|\bi want to complain\b|"
    r"\b(?:compensation|compensate me|reimburse me|make (?:this|it) right|"
    r"want my money back now)\b|"
    r"\b(?:poner|presentar|hacer) (?:una )?(?:queja|reclamacion|reclamo)\b|\bquejarme\b"
)
_LEGAL = re.compile(
    r"\b(?:lawyer|lawyers|attorney|attorneys|lawsuit|law suit|sue|suing|sued|small claims|"
    r"(?:take|taking|see) (?:you|acme|this) (?:to|in) court|legal action|legal department|"
    r"legal team|better business bureau|bbb|attorney general|"
    r"consumer protection|ftc|subpoena|liable|liability|negligence|negligent|class action|ccpa|"
    r"gdpr|cease and desist|my rights|abogado|abogada|demanda|demandar|demandarlos|tribunal|"
    r"denuncia|denunciar|paralegal|law firm|legal deadline|court case|court order|"
    r"registered agent|service of process|claims department|i represent (?:a|my|the) "
    r"(?:client|customer)|my client|privacy law|in writing within|records request|"
    r"(?:injured|injury|injuries)\b.{0,60}\b(?:claim|compensation|responsible|pay for)|"
    r"(?:responsible|pay) for (?:my|the) (?:medical|hospital|er) bills?)\b"
)
_FRAUD = re.compile(
    r"\b(?:scam|scams|scammer|scammers|phishing|phish|fraud|fraudulent|legit|legitimate|"
    r"is this (?:really|actually|truly) (?:you|acme|from you|from acme)|"
    r"(?:text|message|call|email|link)s? (?:claiming|saying|pretending|supposedly|"
    r"that says|that said|says|said) (?:to be |its |it is |im |i )?(?:from )?(?:you|acme|"
    r"(?:i |ive )?won)|"
    r"did (?:you|acme) (?:just )?(?:text|call|email|send)|suspicious (?:text|link|call|email|"
    r"message|charge)|unauthori[sz]ed|(?:didnt|did not|never) (?:make|authorize|order|buy) "
    r"(?:this|that|these|those|it)|(?:card|identity|account) (?:was |got |has been )?"
    r"(?:stolen|hacked|compromised)|stolen (?:card|credit card|identity)|hacked|"
    r"someone (?:else )?(?:used|is using|has used|logged into|got into|accessed) my "
    r"(?:card|account|gift card|info)|(?:i |you )?won (?:a |an |\$)|claim (?:my|your) (?:prize|"
    r"reward|gift)|free gift card|estafa|fraude|me robaron|"
    r"(?:called|texted|emailed|messaged|caller|email|text|call|message|number|letter)\b.{0,40}"
    r"\b(?:claiming|saying|says|said|pretending|supposedly)\b.{0,30}\b(?:acme|you|from you|"
    r"its you)|"
    r"is (?:that|this|it) (?:really|actually|truly) (?:you|acme|from you|from acme|yours|your)|"
    r"(?:asking|asked|wanted|wants|ask) (?:me )?(?:for )?my (?:card|card number|credit card|"
    r"password|"
    r"pin|ssn|social security|bank|login|code)|"
    r"(?:site|website|link|page|\.com)\b.{0,25}\b(?:yours|your site|your website|legit|real|"
    r"actually you|too good to be true)|too good to be true|"
    r"(?:logged|logging|log|logs|got|getting|broke) in(?:to)? my (?:acme )?account|"
    r"(?:i )?(?:never|didnt|did not) (?:place|placed|make|made|order|ordered|sign|signed|"
    r"authorize|authorized|buy|bought)\b|"
    r"(?:spending|using|used) my (?:gift card|card|account|email)|"
    r"(?:pay|paid|payment) (?:\w+ )?(?:in|with) gift cards|sent to collections|"
    r"(?:gane|ganaste|gano) .{0,30}tarjeta|es real\b|es de ustedes|"
    r"(?:wallet|purse|card|phone) (?:got|was|has been) (?:stolen|lost)|"
    r"never (?:shopped|bought anything|ordered anything) "
    r"(?:there|here|at acme|from acme|from you))\b"
)


def _folded(text: str) -> str:
    return normalise(text)


# "no need for an agent", "do i have to talk to someone to book?": about a person, not for one.
_NOT_ASKING = re.compile(
    r"\b(?:dont|do not|no|without|never) (?:need|want|wanna)\b.{0,20}\b(?:agent|person|human|"
    r"someone|rep)|\bdo i (?:need|have) to (?:talk|speak|call|see)\b|\bno need (?:for|to)\b"
)


# A text that opens with the person it wants ("agent please, question about my warranty").
_PERSON_FIRST = re.compile(
    r"^(?:hi |hey |hello )?(?:an? )?(?:agent|human|representative|rep|real person|live person|"
    r"live agent|operator|manager|supervisor|persona|agente|representante)\b(?: (?:please|pls|plz|"
    r"now|asap|por favor))?\s*[,.!?:;-]"
)


def asks_for_person(text: str) -> bool:
    """Whether the text asks for a person, in any words ("talking to an actual human",
    "can somebody call me", "reprsentative pls", "hablar con alguien")."""
    folded = _folded(text)
    if _NOT_ASKING.search(folded):
        return False
    if any(pattern.search(folded) for pattern in _PERSON) or _PERSON_FIRST.search(folded):
        return True
    return len(folded.split()) <= _SHORT and bool(_PERSON_SHORT.match(folded))


@dataclass(frozen=True)
class Tone:
    """How the customer sounds: anger cues and an explicit complaint."""

    anger_cues: int
    """Angry or frustrated words ("ridiculous", "third time", "not happy")."""
    grievances: int
    """A service failure told as a story ("nobody came", "scratched my frame")."""
    complaint: bool
    """The customer says they complain or want compensation."""
    shouting: bool

    @property
    def angry(self) -> bool:
        """Angry, frustrated or aggrieved from the words alone: a person should answer."""
        return self.complaint or self.anger_cues >= 1 or self.grievances >= 2

    @property
    def aggrieved(self) -> bool:
        """Some sign of a grievance: together with negative sentiment, a complaint."""
        return self.grievances >= 1 or self.shouting


def frustrated(tone: Tone, negative: float, threshold: float) -> bool:
    """What escalates as anger: angry words, or a grievance the sentiment head reads as
    negative. Negative words alone ("cancel my order, wrong size") do not."""
    return tone.angry or (tone.aggrieved and negative >= threshold)


def tone(text: str) -> Tone:
    """Anger and complaint cues of a text (the sentiment head adds its score elsewhere)."""
    folded = _folded(text)
    cues = len(_ANGER_WORDS.findall(folded))
    caps = [w for w in re.findall(r"[A-Za-z]{3,}", text) if w.isupper()]
    shouting = len(caps) >= 2 or "!!" in text or "?!" in text
    grievances = len(_GRIEVANCE.findall(folded))
    return Tone(cues, grievances, bool(_COMPLAINT.search(folded)), shouting)


def legal_matter(text: str) -> bool:
    """Lawyers, courts, regulators: a person answers."""
    return bool(_LEGAL.search(_folded(text)))


def fraud_worry(text: str) -> bool:
    """A scam, a suspicious message claiming to be the business, an unauthorised charge."""
    return bool(_FRAUD.search(_folded(text)))


# Money that already moved on the customer's own account: only a person can look it up.
_MONEY_MOVED = re.compile(
    r"\b(?:charge|charges|fee) (?:from|on|of|for \$)|on my (?:card|statement|visa|mastercard|"
    r"amex|bank|account)|receipt shows|"
    r"\b(?:charged|charging|billed|paid|refund|refunded|deducted|debited|overcharged|came out of|"
    r"taken|"
    r"hit my (?:card|account)|took \$|shows \$|cobraron|cobro|me cobraron|pague)\b"
)


# Something staff must do to a named order or account ("can you email the receipt for
# AC40991 to...", "promo code didnt apply to AC50212"): a self-service answer would not do it.
_STAFF_ACTION = re.compile(
    r"\b(?:can|could|would|will) (?:you|u|someone) (?:please |pls )?(?:switch|change|update|"
    r"merge|move|email|send|resend|apply|add|remove|fix|reverse|correct|transfer|combine|"
    r"reset|unlock|reissue|adjust|credit|honor)\b|"
    r"\b(?:didnt|did not|wasnt|was not|never) (?:apply|applied|go through|went through|post|"
    r"posted|get applied|come off)\b"
)


def account_specific(text: str, given: Collection[str]) -> bool:
    """A charge, refund or payment on the customer's own account, with its amount, order or
    card ("charged $43.12 on 3/2", "AC40991 refund"), or something staff must do to a named
    order or account: a lookup, not an FAQ."""
    folded = _folded(text)
    money = {"amount", "order_number", "card_digits"}.intersection(given)
    named = {"order_number", "email", "card_digits"}.intersection(given)
    return bool(money and _MONEY_MOVED.search(folded)) or bool(
        named and _STAFF_ACTION.search(folded)
    )
