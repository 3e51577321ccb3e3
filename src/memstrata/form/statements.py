"""Split a chat turn into self-contained statements, first person resolved to the speaker.

"I researched adoption agencies. It was tough!" said by Caroline becomes
"Caroline researched adoption agencies." and "It was tough!". No model, no LLM: a
sentence splitter tuned for chat and a single-pass pronoun rewrite.

Conventions (chosen, tested):

- Sentences end at runs of . ! ? … (closing quotes and trailing emoji stay with the
  sentence), at line breaks, at "home.Then", and at an emoji before a sentence starter.
  No split after titles or "e.g.", in decimals, between initials ("J. K. Rowling"),
  after "etc."/"a.m."/"U.S." before a lowercase word, at an ellipsis before a lowercase
  word ("well... maybe"), or after a closing quote before a lowercase word.
- Only am/have/do agree (with negations, contractions, inversions): "I am" → "Caroline
  is", "do I" → "does Caroline"; other verbs stay ("I love" → "Caroline love"), and so
  does the verb after "Mel and I" or after an auxiliary ("did you do").
- "I'd" is "had" before a past participle ("I'd been", "I'd never tried"), else "would".
- Double-quoted text is someone's words and is left alone, as are plural "you" (you
  guys/all/both), "thank you" and a filler "you know,".
- Possessives: "Caroline's"; a name already ending in ' or 's is kept, so "'s's" never
  appears. The apostrophe (' or ’) follows the sentence.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

__all__ = ["Statement", "split_sentences", "statements"]


@dataclass(frozen=True)
class Statement:
    text: str  # the rewritten, self-contained statement
    source: str  # the sentence it came from, verbatim: turn[start:end] == source
    start: int
    end: int
    question: bool  # callers may skip questions as facts


_EMOJI = "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f\u200d\u20e3]"
_DECO = rf"(?:{_EMOJI}|[:;][-']?[()\[\]DPpO3/|*]+(?=\s|$)|<3+(?=\s|$))"
_TERMS = ".!?…‽‼⁉"
# Every pattern starts with a character class so `re` can skip ahead to it; the
# look-behind makes a long run of "!!!" one candidate, not one per character.
_PUNCT = re.compile(
    rf"[{_TERMS}](?<![{_TERMS}]{{2}})[{_TERMS}]*(?P<c>[\"'”’»)\]]*)"
    rf"(?:(?:\s*{_DECO})*(?=\s|$)|(?P<t>(?=[A-Z][a-z])))"
)
_DECO_BREAK = re.compile(rf"{_DECO}(?:\s*{_DECO})*(?=\s+[A-Z])")
_HAS_EMOJI = re.compile(_EMOJI)
_LINE = re.compile(r"[^\n\r\u2028\u2029\x0b\x0c\x85]+")
_NEXT = re.compile(r"\s*[\"'“‘(\[]*([\w'’]*)")
_DOTTED = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")
_LIST_MARK = re.compile(r"\(?(?:\d{1,3}|[A-Za-z])\)?")

_NEVER_SPLIT = frozenset(
    "mr mrs ms dr prof st mt vs e.g i.e cf approx fig gen capt lt col sgt rev hon".split()
)
_SPLIT_IF_CAPITAL = frozenset("etc jr sr inc ltd co corp ph.d dept est no".split())
_STARTERS = frozenset(
    """I I'm I've I'll I'd It It's The This That These Those We You He She They My Our Your
    His Her Their There Here What When Where Who Why How Which But And So Then Also Anyway Oh
    Wow Thanks Thank Hope Can Could Would Will Did Do Does Is Are Was Were Have Has Had Let's
    Just Yes Yeah No Not Maybe Plus Btw Haha Lol Hey Hi See Love Congrats Good Great Cool Nice
    Ok Okay Sure Well If As After Before Since Today Yesterday Tomorrow Last Next An In On At
    For With Sounds Really Definitely Totally Omg Aww""".split()
)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans (start, end) of `text`, whitespace trimmed, in order.

    >>> split_sentences("Hi Mel! I met Dr. Smith at 3.5 p.m. today... well, maybe.")
    [(0, 7), (8, 57)]
    """
    spans: list[tuple[int, int]] = []
    for line in _LINE.finditer(text):
        base, s = line.start(), line.group()
        start = 0
        cands: list[re.Match[str]] = list(_PUNCT.finditer(s))
        if _HAS_EMOJI.search(s) or ":" in s or ";" in s or "<3" in s:
            cands = sorted(cands + list(_DECO_BREAK.finditer(s)), key=lambda m: m.start())
        for m in cands:
            if m.end() <= start or not _splits(s, m, start):
                continue
            _add(spans, s, base, start, m.end())
            start = m.end()
        _add(spans, s, base, start, len(s))
    return spans


def _add(spans: list[tuple[int, int]], line: str, base: int, start: int, end: int) -> None:
    while start < end and line[start].isspace():
        start += 1
    while end > start and line[end - 1].isspace():
        end -= 1
    if start < end:
        spans.append((base + start, base + end))


def _splits(s: str, m: re.Match[str], start: int) -> bool:
    nxt = _NEXT.match(s, m.end())
    word = nxt.group(1).replace("’", "'") if nxt else ""
    if m.re is _DECO_BREAK:  # "I love it 😍 You should come", not "I ❤️ New York"
        k = m.start()
        while k > start and s[k - 1] in " \t":
            k -= 1
        if k == start or not s[k - 1].isalnum():
            return False
        return word in _STARTERS or len(s[max(start, k - 200) : k].split()) >= 3
    punct = m.group()[: len(m.group()) - len(m.group().lstrip(_TERMS))]
    if m.group("t") is not None:  # "home.Then", not "U.S.Army"
        return not m.group("c") and m.start() > 0 and "a" <= s[m.start() - 1] <= "z"
    if m.end() >= len(s) or not word:
        return True
    if m.group("c") and word[:1].islower():
        return False  # `"Wow!" she said`
    if set(punct) & set("!?‽‼⁉"):
        return True
    if len(punct) > 1 or "…" in punct:
        return not word[:1].islower()  # "well... maybe" stays one sentence
    if m.start() - start <= 4 and _LIST_MARK.fullmatch(s, start, m.start()):
        return False  # "1. Buy milk"
    window = s[max(start, m.start() - 24) : m.start()]
    token = window[max(window.rfind(" "), window.rfind("\t")) + 1 :].lstrip("\"'“‘([")
    low = token.lower()
    if low in _NEVER_SPLIT:
        return False
    if len(token) == 1 and token.isupper():
        return word in _STARTERS  # "J. K. Rowling" vs "Plan B. It worked."
    if low in _SPLIT_IF_CAPITAL or _DOTTED.fullmatch(token):
        return word[:1].isupper()
    return True


# First the pronoun alone (fast: a character class first), then its context by small
# anchored matches: a contraction or verb after it, an inverted verb before it.
_PRONOUN = re.compile(
    r"[IiMmYy](?<!\w[IiMmYy])(?:(?<=[Ii])|(?<=[Mm])(?i:yself|ine|e|y)"
    r"|(?<=[Yy])(?i:ourself|ours|our|ou))\b"
)
_CONTRACTION = re.compile(r"['’](m|re|ve|ll|d|s)\b", re.IGNORECASE)
_FOLLOWING_VERB = re.compile(
    r"([ \t]+)(am|are|were|have|do[ \t]+not|do|aren['’]t|weren['’]t|don['’]t|haven['’]t)\b",
    re.IGNORECASE,
)
_AGREE = {
    "am": "is", "are": "is", "were": "was", "have": "has", "do": "does", "do not": "does not",
    "aren't": "isn't", "weren't": "wasn't", "don't": "doesn't", "haven't": "hasn't",
}  # fmt: skip
_SUBJECT_VERBS = {
    "i": frozenset({"am", "have", "do", "do not", "don't", "haven't"}),
    "you": frozenset(_AGREE),
}
_INVERTED_VERBS = {
    "i": frozenset({"am", "have", "do", "aren't", "don't", "haven't"}),
    "you": frozenset(_AGREE) - {"am", "do not"},
}
_KEEP_VERB_AFTER = frozenset(
    """and or nor did didn't do does don't doesn't will won't would wouldn't can can't could
    couldn't should shouldn't might must shall may let""".split()
)
_POSSESSIVE = frozenset({"my", "mine", "your", "yours"})
_PLURAL_YOU = re.compile(r"\s+(?:guys|all|both|two|three|folks|lot|people)\b", re.IGNORECASE)
_YOU_KNOW = re.compile(r"\s+know\b\s*(?:[,.!?…]|$)", re.IGNORECASE)
_COORDINATED = re.compile(r"\s+(?:and|or|nor)\b", re.IGNORECASE)
_AFTER_D = re.compile(
    r"\s+(?:(?:never|already|just|always|ever|not|only|also)\s+)?([a-z]+)", re.IGNORECASE
)
_PARTICIPLES = frozenset(
    """been better had gone done seen known taken given gotten got forgotten eaten written
    driven spoken begun grown thought heard made found left lost met brought bought taught
    caught felt kept slept told sold won held sent spent built understood stood""".split()
)
_NOT_PRONOUN_AFTER = {
    "i": ("war", "part", "chapter", "phase", "level", "season", "act", "volume", "type", "stage"),
    "mine": ("the", "a", "an", "this", "that", "gold", "coal", "salt", "land", "diamond"),
    "my": ("oh",),
    "you": ("thank",),
}
_QUOTED = re.compile(r"\"[^\"]*\"|“[^“”]*”")


def _like(orig: str, repl: str) -> str:
    if len(orig) > 1 and orig.isupper():
        return repl.upper()
    return repl[:1].upper() + repl[1:] if orig[:1].isupper() else repl


def _possessive(name: str, apos: str) -> str:
    if name.endswith(("'", "’", "'s", "’s", "'S", "’S")):
        return name
    return f"{name}{apos}s"


def _verb_key(verb: str) -> str:
    return " ".join(verb.lower().replace("’", "'").split())


def _rewrite(s: str, speaker: str | None, addressee: str | None) -> str:
    apos = "’" if "’" in s else "'"
    quoted = [m.span() for m in _QUOTED.finditer(s)] if '"' in s or "“" in s else []
    opens = [a for a, _ in quoted]
    out: list[str] = []
    cursor = 0
    for m in _PRONOUN.finditer(s):
        i, j = m.span()
        q = bisect_right(opens, i) - 1
        if i < cursor or (q >= 0 and i < quoted[q][1]) or (i and s[i - 1] in "@/#_.-"):
            continue
        pron = m.group()
        low = pron.lower()
        first = low[0] != "y"
        name = speaker if first else addressee
        if name is None or s[j : j + 1] in ("@", "/", "_", "-"):  # emails, "I-95"
            continue
        if not first and _PLURAL_YOU.match(s, j):
            continue
        window = s[max(0, i - 12) : i]
        gap = len(window) - len(window.rstrip())
        before = window[window.rfind(" ", 0, len(window) - gap) + 1 : len(window) - gap]
        blow = before.lower().replace("’", "'")
        if blow in _NOT_PRONOUN_AFTER.get(low, ()) and (
            low != "i" or (pron == "I" and before[:1].isupper())  # "World War I"
        ):
            continue
        start, repl = i, name
        if s[j : j + 1] in ("'", "’"):
            c = _CONTRACTION.match(s, j)
            if not c:
                continue  # "my'" or an unknown contraction: leave it
            cv = c.group(1).lower()
            j = c.end()
            if low == "mine" and cv == "s":
                repl = f"{_possessive(name, apos)} is"
            elif low not in ("i", "you"):
                continue
            elif cv == "d":
                nxt = _AFTER_D.match(s, j)
                w = nxt.group(1).lower() if nxt else ""
                had = w in _PARTICIPLES or (w.endswith("ed") and not w.endswith("eed"))
                repl = f"{name} {'had' if had else 'would'}"
            elif cv == "ve":
                repl = f"{name} {'have' if blow in ('and', 'or') else 'has'}"
            elif cv == "ll":
                repl = f"{name} will"
            elif (cv, low) in (("m", "i"), ("re", "you")):
                repl = f"{name} is"
            else:
                continue
        elif s[j : j + 1] == "." and s[j + 1 : j + 2].isalnum():
            continue  # "i.e."
        elif low in ("i", "you"):
            key = low
            f = _FOLLOWING_VERB.match(s, j)
            fv = _verb_key(f.group(2)) if f else ""
            verb_start = i - gap - len(before)
            if (
                blow in _INVERTED_VERBS[key]
                and gap
                and verb_start >= cursor
                and (verb_start == 0 or not s[verb_start - 1].isalnum())
                and not _COORDINATED.match(s, j)
            ):  # "do you" → "does Mel"
                start = verb_start
                verb = _like(before, _AGREE[blow]).replace("'", apos)
                repl = f"{verb}{s[i - gap : i]}{name}"
            elif f and fv in _SUBJECT_VERBS[key] and blow not in _KEEP_VERB_AFTER:
                verb = _like(f.group(2), _AGREE[fv]).replace("'", apos)
                repl, j = f"{name}{f.group(1)}{verb}", f.end()
            elif low == "you" and _YOU_KNOW.match(s, j):
                continue
        elif low in _POSSESSIVE:
            repl = _possessive(name, apos)
        out.append(s[cursor:start])
        out.append(repl)
        cursor = j
    out.append(s[cursor:])
    return "".join(out)


_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_CONTRACTED = re.compile(
    r"(?:['’](?:m|re|ve|ll|d)|n['’]t|^(?:it|that|he|she|there|here|what|who|where|how|let)['’]s)$",
    re.IGNORECASE,
)
_LAUGH = re.compile(r"(?:ha|he|hi|ah|ja){2,}h?|l+o+l+z?|lmf?ao+|rofl|x+d+|a+w+|[aeou]+h+|h+m+")
_ELONGATED = re.compile(r"(\w)\1{2,}")
_FILLER = frozenset(
    """wow woah whoa omg oh ah ooh yay hey hi hello hiya bye goodbye cya later thanks thank
    thx ty you so much very really too sure ok okay k yes yeah yep yup no nope nah cool nice
    great awesome amazing wonderful fantastic lovely sweet good perfect excellent brilliant
    neat incredible congrats congratulations well um uh lol haha hehe indeed totally
    absolutely definitely exactly true right agreed same me that that's thats this it it's
    is sounds what how a an such night morning see soon take care cheers np welcome of course
    dear man dude girl buddy xoxo oops whoops to for the and glad happy""".split()
)
_AUX = "(?:do|does|did|is|are|was|were|can|could|would|will|should|have|has|had)"
_QUESTION_START = re.compile(
    rf"\W*(?:(?:who|what|when|where|why|how|which)\s+{_AUX}\b"
    rf"|{_AUX}\s+(?:you|i|we|they|he|she|it|there)\b)",
    re.IGNORECASE,
)


def _filler_word(word: str, extra: frozenset[str]) -> bool:
    low = word.lower().replace("’", "'")
    if low in _FILLER or low in extra or _LAUGH.fullmatch(low):
        return True
    return _ELONGATED.search(low) is not None and (  # "sooo", "coool"
        _ELONGATED.sub(r"\1\1", low) in _FILLER or _ELONGATED.sub(r"\1", low) in _FILLER
    )


def _is_filler(source: str, extra: frozenset[str]) -> bool:
    """Fewer than 3 words ("I'm" counts 2) or only interjections, thanks and praise."""
    count, content = 0, False
    for token in source.split():
        for word in (token,) if token.isalpha() else _WORD.findall(token):
            count += 2 if ("'" in word or "’" in word) and _CONTRACTED.search(word) else 1
            content = content or not _filler_word(word, extra)
        if content and count >= 3:
            return False
    return True


def _is_question(source: str) -> bool:
    i = len(source)
    lo = max(0, i - 64)  # past trailing quotes, brackets and emoji to the terminators
    while i > lo and source[i - 1] not in _TERMS and not source[i - 1].isalnum():
        i -= 1
    k = i
    while k > lo and source[k - 1] in _TERMS:
        k -= 1
    if k < i:
        return any(c in "?‽⁉" for c in source[k:i])
    return _QUESTION_START.match(source) is not None


def statements(text: str, speaker: str | None, addressee: str | None = None) -> list[Statement]:
    """Split `text` into sentences, resolve "I/me/my" to `speaker` and "you/your" to
    `addressee` (when given), and drop filler. Never raises; [] for a filler-only turn.

    >>> [s.text for s in statements("I researched adoption agencies. It was tough!", "Caroline")]
    ['Caroline researched adoption agencies.', 'It was tough!']
    """
    speaker = speaker.strip() or None if speaker else None
    addressee = addressee.strip() or None if addressee else None
    names = " ".join(n for n in (speaker, addressee) if n).lower()
    extra = frozenset(_WORD.findall(names))
    out: list[Statement] = []
    for start, end in split_sentences(text):
        source = text[start:end]
        if _is_filler(source, extra):
            continue
        rewritten = _rewrite(source, speaker, addressee) if speaker or addressee else source
        out.append(Statement(rewritten, source, start, end, _is_question(source)))
    return out
