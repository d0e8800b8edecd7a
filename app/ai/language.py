"""Which language a customer wrote in (English or Spanish, the two smsdesk answers in).

Marker words rather than a model: texts are short, and a few function words decide them
reliably ("a que hora abren" / "what time do you open"). Ties go to English.
"""

from __future__ import annotations

import re

from app.compliance.normalise import normalise

Language = str
_SPANISH = frozenset(
    """que qué el la los las del al un una unos unas y pero por para con sin mi mis tu su sus
    es son esta está estan están este esto hay como cómo cuando cuándo donde dónde cual cuál
    quien porque muy mas más tambien también hola gracias favor ayuda quiero quisiera
    necesito puedo pueden tienen tiene hacer hablar persona pedido tienda horario abren
    cierran abierto domingo sabado sábado lunes hoy mañana manana precio cuanto cuánto
    cuesta envio envío devolucion devolución reembolso cita llego llegó todavia todavía nada
    ningun ningún usted ustedes mío mio cuenta tarjeta cobraron cobro compra compré compre
    dinero alguien nadie ya aun aún sobre desde hasta entre ser estoy estaba tengo tenemos
    vamos voy dice dijo esposo esposa novio novia hijo hija niño nino bebé bebe pega golpea
    duele""".split()
)
_ENGLISH = frozenset(
    """the a an and or but is are was were be do does did you your i my me we our it this that
    what when where how why who which can could would will have has had to of in on at for
    with from not no yes please thanks hi hello open close store order hours""".split()
)
_SPANISH_CHARS = re.compile(r"[¿¡ñáíóú]")


def detect(text: str) -> Language:
    """`es` when Spanish marker words outnumber English ones, else `en`."""
    words = normalise(text).split()
    spanish = sum(w in _SPANISH for w in words) + 2 * len(_SPANISH_CHARS.findall(text.lower()))
    english = sum(w in _ENGLISH for w in words)
    return "es" if spanish > english else "en"
