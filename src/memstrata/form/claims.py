"""Read what a statement claims: who it is about, which attribute, which value.

"Alice moved to Porto last week." (a statement with first person resolved to the
speaker) claims subject "alice", slot "move to", value "Porto", stance "change".
No model: the shape of the sentence alone.

Conventions (chosen, tested):

- The subject is the noun phrase before the verb. The speaker ("Alice …"), "we" and
  "our" are the speaker. "Alice's phone is a Fairphone" is about Alice, slot "phone";
  "Alice's sister Clara lives in Oslo" is about "alice's sister clara", never Alice.
  A capital first word is a name only when the name is known (`names`): "Implement
  the login page" and "Still waiting" are no one's. Speech that drops its subject
  and begins with a verb in the past or in -ing ("Bought a new mug", "Setting up the
  Pixel took all evening") is the speaker's; a verb in its base form begins an
  instruction, which claims nothing.
- The slot is the verb's base form and its preposition ("live in", "work as", "be
  in"), or the possessed noun before "is" ("phone"). A verbless answer ("Galway, for
  a few weeks now.") takes its slot from the question it answers ("Which city are you
  in?" gives "city").
- The value is the phrase after the slot, up to a comma, a conjunction, a time phrase
  or the end, with a leading article dropped.
- Stance, from cue words, then the verb: "ended" for a statement that a value no
  longer holds ("no longer", "not … anymore", "no more"); "past" for how things were
  ("used to", "back when", "former", "miss"); "hypothetical" for wishes and plans
  ("would love to", "thinking about", "daydream", "looked at", "maybe"), and
  attempts and needs ("trying to", "need to"); "change"
  for a statement that something changed ("moved", "switched", "now", "quit");
  "negated" for "not"/"never" before the verb; "event" for a verb in the simple past
  that is not a change ("watched a film last night": it adds to what happened and
  replaces nothing); else "state". Only "state" and "change" assert a current value.
- Questions and statements without a readable subject and verb give None: they stay
  ordinary facts.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from memstrata.form.entities import common_word, entity_key

__all__ = [
    "ASSERTING",
    "Claim",
    "answer_claim",
    "claims_of",
    "read_claim",
    "read_claims",
    "speaks_of_values",
]

ASSERTING = frozenset({"state", "change"})


@dataclass(frozen=True)
class Claim:
    subject: str  # entity key of whom the statement is about
    slot: str  # "live in", "phone", "city"; "" when the statement names no attribute
    value: str  # as written, article dropped; "" when there is none
    stance: str  # "state", "change", "past" or "hypothetical"

    @property
    def asserts(self) -> bool:
        return self.stance in ASSERTING and bool(self.slot) and bool(self.value)

    def to_dict(self) -> dict[str, str]:
        return {"subject": self.subject, "slot": self.slot, "value": self.value,
                "stance": self.stance}  # fmt: skip


_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*|[,;:!?.()\"]")
_COPULA = frozenset({"is", "are", "was", "were", "be", "been", "being", "am"})
_AUX = frozenset(
    """will would shall should can could may might must do does did 's 've
    not n't never still now just finally recently also already currently really actually
    always officially properly soon""".split()
)
_PREPS = frozenset(
    """in to as at on for with from into onto of by about up out off back over around
    near""".split()
)
_PARTICLE_VERBS = frozenset({"up", "out", "off", "back", "over"})
_STOP_VALUE = frozenset(
    """and but because since so though although while which who that when where after before
    until unless if or last this next ago now for these those currently recently lately
    anymore today yesterday tomorrow tonight every each at someday soon again""".split()
)
_ARTICLES = frozenset({"a", "an", "the", "my", "our", "some", "his", "her", "their", "new"})
_LEADING = frozenset(
    """oh ah well so yeah yes yep no nope hey hi okay ok um uh actually honestly anyway
    anyways btw plus also and but guess what now then""".split()
)
_PAST = re.compile(
    r"\b(?:used\s+to|back\s+when|back\s+then|no\s+longer|any\s?more|former(?:ly)?|"
    r"previous(?:ly)?|ex-|miss(?:es|ed)?\b|in\s+the\s+old\s+days|forgot(?:ten)?|when\s+\w+\s+(?:lived|was|"
    r"were|had|worked)|old\s+\w+\s+(?:is|was)|"
    r"still\s+(?:have|has|got)\s+(?:the|my|our|his|her|their|some|\w+['’]s)\b)",
    re.IGNORECASE,
)
_ENDED = re.compile(
    r"(?:\bno\s+longer|(?:\bnot\b|n['’]t\b).{0,60}\bany\s?more|\bno\s+more)\b", re.IGNORECASE
)
_HYPOTHETICAL = re.compile(
    r"\b(?:would\s+(?:love|like)|(?:thinking|thought|dream(?:ing)?|daydream(?:s|ing)?|"
    r"considering|wondering)\s+(?:about|of)|daydream|might|maybe|perhaps|someday|one\s+day|"
    r"(?:plan|plans|planning|want|wants|hope|hopes|hoping|try|tries|trying|tried|need|needs|"
    r"needing|attempt|attempting|aim|aiming|intend|intending|going)\s+to|looked\s+at|looking\s+at|"
    r"if\s+only|wish|fanc(?:y|ied|ies)|tempted|keen\s+to|curious\s+about)\b",
    re.IGNORECASE,
)
_CHANGE = re.compile(
    r"\b(?:moved|moving|relocated|switched|changed|started|starting|became|become|quit|"
    r"broke\s+up|now|these\s+days|took\s+up|taken\s+up|signed\s+up|settled)\b",
    re.IGNORECASE,
)
_IRREGULAR = {
    "is": "be", "are": "be", "was": "be", "were": "be", "am": "be", "been": "be",
    "has": "have", "had": "have", "got": "get", "gotten": "get", "went": "go", "goes": "go",
    "left": "leave", "took": "take", "bought": "buy", "made": "make", "began": "begin",
    "became": "become", "drove": "drive", "drives": "drive", "ate": "eat", "quit": "quit",
    "does": "do", "did": "do", "lives": "live", "lived": "live", "moved": "move",
    "moves": "move", "studies": "study", "studied": "study", "works": "work",
}  # fmt: skip


def lemma(word: str) -> str:
    """A verb's base form, roughly ("moved" → "move", "studies" → "study")."""
    low = word.lower()
    if low in _IRREGULAR:
        return _IRREGULAR[low]
    for suffix, repl in (("ying", "y"), ("ied", "y"), ("ies", "y"), ("ing", ""), ("ed", ""),
                         ("es", ""), ("s", "")):  # fmt: skip
        if low.endswith(suffix) and len(low) - len(suffix) >= 3:
            stem = low[: len(low) - len(suffix)] + repl
            if suffix in ("ing", "ed") and len(stem) > 3 and stem[-1] == stem[-2]:
                stem = stem[:-1]  # "stopped" → "stop"
            elif suffix in ("ing", "ed", "es") and stem.endswith(("v", "at", "iz", "ar", "ur")):
                stem += "e"  # "moving" → "move", "relocated" → "relocate"
            return stem
    return low


# Verbs that say a value changed: the new value holds from now on.
_CHANGE_VERBS = frozenset(
    """move relocate switch change start become quit leave drop stop join adopt settle
    transfer replace upgrade swap enrol enroll marry divorce retire""".split()
)
_PAST_FORMS = frozenset(
    """was were had did went saw took made spent ate drank gave got met ran read wrote
    bought brought told thought found left felt heard kept lost sat sang slept won""".split()
)


def _verb_stance(stance: str, aux: set[str], word: str, verb: str) -> str:
    """Refine a "state" or "change" stance by the verb: "not"/"never" negate it; a
    change verb makes it a change; a verb in the simple past ("Alice watched a film
    last night") tells of an event, which adds to what happened and replaces nothing."""
    if stance not in ASSERTING:
        return stance
    if aux & {"not", "never"} or any(w.endswith(_NOT) for w in aux):
        return "negated"
    if verb in _CHANGE_VERBS:
        return "change"
    low = word.lower()
    simple_past = not aux & {"has", "have", "'ve", "’ve", "will", "would"} and (
        low in _PAST_FORMS or (low.endswith("ed") and len(low) > 4)
    )
    if simple_past:  # "lived in Lisbon", "had a Honda": past, not current
        return "event"
    return stance


def _stance(text: str) -> str:
    if _ENDED.search(text):
        return "ended"
    if _PAST.search(text):
        return "past"
    if _HYPOTHETICAL.search(text):
        return "hypothetical"
    return "change" if _CHANGE.search(text) else "state"


def _value(words: list[str], start: int) -> str:
    out: list[str] = []
    for w in words[start:]:
        if not w[0].isalnum() or (out and w.lower() in _STOP_VALUE):
            break
        if not out and w.lower() in _ARTICLES:
            continue
        if not out and w.lower() in _STOP_VALUE:
            break
        out.append(w)
        if len(out) == 6:
            break
    return " ".join(out)


def _skip_leading(words: list[str]) -> list[str]:
    """Drop interjections and a short lead-in before a comma or colon ("Big news:")."""
    i = 0
    while i < len(words) and (words[i].lower() in _LEADING or words[i] in ",:"):
        i += 1
    for j in range(i, min(i + 4, len(words))):
        if words[j] == ":":
            i = j + 1
            break
    return words[i:]


# "X's" that is "X is" or "let us": never an owner.
_CONTRACTED = frozenset("here there that it what who where when how let he she".split())


def _possessive(word: str) -> str | None:
    for suffix in ("'s", "’s", "'", "’"):
        if word.endswith(suffix) and len(word) > len(suffix):
            owner = word[: -len(suffix)]
            return None if owner.lower() in _CONTRACTED else owner
    return None


def _subject(
    words: list[str], me: str, names: Collection[str]
) -> tuple[str, int, str | None] | None:
    """(subject key, index of the verb, possessed noun or None), or None. `me` is
    the speaker's key ("i" when the speaker has no name: "I" is left as written);
    `names`: the keys of the names known to be names, which a sentence may begin with
    (a capital first word is no name by itself: "Implement login", "Still waiting")."""
    if not words:
        return None
    first = words[0]
    owner = _possessive(first)
    if owner is not None or first.lower() in ("our", "my"):
        who = me if owner is None or entity_key(owner) == me else entity_key(owner)
        if not who or len(words) < 3 or not words[1][0].isalpha():
            return None
        noun = words[1].lower()
        if words[2].lower() in _COPULA:  # "Alice's phone is …": Alice's attribute
            return who, 2, noun
        k = 2
        while k < len(words) and words[k][:1].isupper():  # "Alice's sister Clara"
            k += 1
        if k >= len(words):
            return None
        return " ".join([f"{who}'s", *[w.lower() for w in words[1:k]]]), k, None
    low = first.lower()
    if low in ("we", "i") or entity_key(first) == me:
        return me, 1, None
    k = 0
    while k < len(words) and k < 3 and words[k][:1].isupper() and words[k].isalpha():
        k += 1
    named = 0 < k < len(words) and words[k].islower() and not common_word(words[0])
    if named and entity_key(" ".join(words[:k])) in names:
        return entity_key(" ".join(words[:k])), k, None
    return _dropped(words, me)


# Adverbs a sentence without its subject may begin with ("Still figuring it out").
_LEAD_ADVERBS = frozenset("still just finally also recently already only".split())


def _dropped(words: list[str], me: str) -> tuple[str, int, None] | None:
    """A sentence that leaves out its subject, as speech does ("Bought a new mug",
    "Still figuring out the Subaru", "Setting up the Pixel took all evening"): about
    the speaker when it begins with a verb in the past or in -ing. A verb in its
    base form begins an instruction ("Implement login"), which claims nothing."""
    i = 1 if words and words[0].lower() in _LEAD_ADVERBS else 0
    if i >= len(words) or not words[i].isalpha():
        return None
    low = words[i].lower()
    spoken = low in _PAST_FORMS or (len(low) > 4 and low.endswith(("ed", "ing")))
    return (me, i, None) if spoken else None


_CONTRACTION = {"i'm": ("I", "am"), "i've": ("I", "have"), "we're": ("we", "are"),
                "we've": ("we", "have")}  # fmt: skip
_NOT = ("n't", "n’t")
_HAVE = frozenset({"has", "have", "had", "'ve", "’ve"})


def _perfect(words: list[str], i: int) -> bool:
    """Whether words[i] is "has"/"have"/"had" as an auxiliary ("has been", "had
    moved"), not the verb ("has a dog")."""
    if words[i].lower() not in _HAVE or i + 1 >= len(words):
        return False
    nxt = words[i + 1].lower()
    return nxt in _PERFECT_NEXT or (nxt.endswith(("ed", "en")) and len(nxt) > 4)


_PERFECT_NEXT = frozenset(
    """been got gotten gone done made taken left become begun bought brought found had
    known lost met seen sold spent taught thought told won quit always never just already
    finally recently also not""".split()
)


def speaks_of_values(role: str | None) -> bool:
    """Whether a turn of this role can claim anything: an assistant's turns are advice
    and instructions, not values that change."""
    return role != "assistant"


def read_claim(text: str, speaker: str | None, names: Collection[str] = ()) -> Claim | None:
    """The claim a statement makes, or None when its subject or verb cannot be read.

    >>> read_claim("Alice moved to Porto last week.", "Alice")
    Claim(subject='alice', slot='move to', value='Porto', stance='change')
    >>> read_claim("Alice's sister Clara lives in Oslo.", "Alice").subject
    "alice's sister clara"
    """
    if not isinstance(text, str) or not text.strip() or text.rstrip().endswith("?"):
        return None
    words = _skip_leading(_WORD.findall(text[:600]))
    if words and (full := _CONTRACTION.get(words[0].lower().replace("’", "'"))):
        words = [*full, *words[1:]]  # "I'm in Oslo": "I am in Oslo"
    me = (entity_key(speaker) if speaker else "") or "i"
    found = _subject(words, me, {entity_key(n) for n in names})
    if found is None:
        # No subject before the verb ("Lots of calls from Alice's bank"): about the
        # speaker when it names them, with no slot.
        if me != "i" and any(entity_key(w) == me for w in words):
            return Claim(me, "", "", _stance(text))
        return None
    subject, i, noun = found
    stance = _stance(text)
    if noun is not None:  # "Alice's phone is a Fairphone"
        return Claim(subject, noun, _value(words, i + 1), stance)
    start = i
    while i < len(words) and (
        words[i].lower() in _AUX or _perfect(words, i) or words[i].lower().endswith(_NOT)
    ):
        i += 1
    if i >= len(words) or not words[i][0].isalpha():
        return None
    aux = {w.lower() for w in words[start:i]}
    verb = lemma(words[i])
    stance = _verb_stance(stance, aux, words[i], verb)
    if verb == "be" and i + 1 < len(words) and words[i + 1].lower().endswith("ing"):
        i += 1  # "is dating": the verb is "date"
        verb = lemma(words[i])
    if verb in ("have", "get") and i + 1 < len(words) and words[i + 1].lower() == "got":
        i += 1  # "has got"
    i += 1
    prep = ""
    if i < len(words) and words[i].lower() in _PREPS:
        prep = words[i].lower()
        i += 1
        if prep in _PARTICLE_VERBS and i < len(words) and words[i].lower() in _PREPS:
            prep = f"{prep} {words[i].lower()}"  # "signed up for"
            i += 1
    slot = f"{verb} {prep}".strip()
    return Claim(subject, slot, _value(words, i), stance)


def read_claims(text: str, speaker: str | None, names: Collection[str] = ()) -> list[Claim]:
    """The claims of each clause of a statement: "Alice doesn't live in Lisbon
    anymore, Alice is in Porto now." ends Lisbon and states Porto. `names`: the
    people and things the statement is known to name (see `_subject`)."""
    if not isinstance(text, str):
        return []
    me = re.escape(speaker) if speaker else "I"
    parts = re.split(rf";\s*|,\s+(?=(?:and\s+)?(?:now\s+)?(?:{me}|I|we|my|our)\b)", text[:600],
                     flags=re.IGNORECASE)  # fmt: skip
    found = (read_claim(p, speaker, names) for p in parts if p.strip())
    return [c for c in found if c is not None]


_WH_NOUN = re.compile(r"\b(?:what|which)\s+(?:kind\s+of\s+|sort\s+of\s+)?([a-z]+)", re.I)
_WH_VERB = re.compile(
    r"\b(?:where|what|which|who|how)\b(?:'s)?\s+(?:\w+\s+){0,3}?(?:are|is|do|does|did)?\s*"
    r"(?:you|they|he|she|\w+)\s+([a-z]+ing|[a-z]+)\b",
    re.I,
)


def answer_claim(
    question: str, answer: str, speaker: str | None, names: Collection[str] = ()
) -> Claim | None:
    """The claim a short answer makes about its speaker, with its slot taken from the
    question it answers ("Which city are you in?" → "Galway, for now." claims city
    Galway). None unless `question` asks (ends with "?") and `answer` is an answer;
    `names` as for `read_claim` (an answer about someone named is not the speaker's)."""
    if not speaker or not question.rstrip().endswith("?") or answer.rstrip().endswith("?"):
        return None
    slot = ""
    if m := _WH_NOUN.search(question):
        slot = m.group(1).lower()
        if slot in _COPULA or slot in _AUX or slot in ("you", "your"):
            slot = ""
    if not slot and (m := _WH_VERB.search(question)):
        slot = lemma(m.group(1))
    if not slot:
        return None
    words = _skip_leading(_WORD.findall(answer[:300]))
    own = read_claim(answer, speaker, names)
    if own is not None and own.subject != entity_key(speaker):
        return None
    value = own.value if own is not None and own.value else _value(words, 0)
    if not value:
        return None
    return Claim(entity_key(speaker), slot, value, own.stance if own else _stance(answer))


def claims_of(fact: Any) -> list[Claim]:
    """The claims formation stored on a fact (`metadata["claims"]`); malformed
    entries (an edited or imported record) are skipped."""
    out = []
    for item in fact.metadata.get("claims") or ():
        if isinstance(item, dict) and all(isinstance(item.get(k), str) for k in _FIELDS):
            out.append(Claim(*(item[k] for k in _FIELDS)))
    return out


_FIELDS = ("subject", "slot", "value", "stance")
