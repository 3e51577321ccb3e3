"""Find the names in a chat turn without a model: capitalised runs, acronyms, known names.

Conventions (chosen, tested):

- A name is a run of capitalised words joined by single spaces ("New York", "Harry
  Potter"), by "of"/"de"/"van"/… ("Bank of America"), or by initials ("J. K. Rowling").
  Punctuation, function words and possessives end a run: "Caroline's Mom" gives
  "Caroline" and "Mom".
- Function words, greetings, interjections and common sentence starters ("The", "I",
  "What", "Hey", "Wow", "Thanks", "Went", …) are never names; weekday and month names
  are trimmed from the ends of a run and never a name alone.
- A capitalised word that starts a sentence counts only if it is known, is followed by
  another capitalised word, is possessive ("Caroline's trip"), or appears capitalised
  mid-sentence elsewhere in the text.
- Acronyms (NYC, LGBTQ, U.S.) count; all-caps words next to other all-caps words are
  shouting ("I LOVE IT") and do not.
- A `known` name is found case-insensitively as a whole word ("mel" for "Mel"), except
  when written in lower case and also a common word ("will", "may", "grace", …).
  The known spelling is the canonical form. A known name inside a longer run is
  reported as well: "Mel Smith" gives "Mel Smith" and "Mel" when "Mel" is known.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from functools import lru_cache

__all__ = ["common_word", "entity_key", "find_entities"]

_SUFFIX = re.compile(r"['’](?:s|ll|d|re|ve)$", re.IGNORECASE)
_DOTTED = re.compile(r"(?:[A-Z]\.)+[A-Z]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_KEY_WORD = re.compile(r"[^\W_]+")

_STOP = frozenset(
    """i i'm i've i'll i'd me my mine myself we we're we've we'll our ours you you're you've
    you'll you'd your yours he he's him his she she's her hers they they're they've their
    them it it's its this that that's these those there there's here here's what what's when
    where where's who who's why how how's which whose whom the a an and but or nor so then
    also too just if as at by for from in into of on onto to with without about after before
    since until while because though although once whenever whatever wherever however anyway
    anyways hey hi hello hiya bye goodbye wow woah whoa thanks thank thx yeah yes yep yup no
    nope nah oh ah aw aww ooh ok okay sure well haha hahaha hehe lol lmao omg btw tbh idk imo
    fyi asap dm pm am cool nice great awesome amazing good sorry please congrats
    congratulations dear love happy glad let let's is are was were be been being do does did
    don't doesn't didn't have has had haven't hasn't can can't could couldn't would wouldn't
    should shouldn't will won't might must shall not maybe actually really definitely
    absolutely totally honestly basically probably hopefully luckily unfortunately sadly
    finally today tonight tomorrow yesterday last next every each some any all both many
    much more most other another such same one two three first second went got made took saw
    met visited tried loved started finished check remember thinking looking feeling hoping
    planning working going gonna wanna gotta wish hope guess think know mean see look
    everyone everything something someone nothing anything nobody somebody everybody lots
    god gosh jeez mr mrs ms dr prof yay sounds speaking talking""".split()
)
_TIME = frozenset(
    """monday tuesday wednesday thursday friday saturday sunday january february march april
    may june july august september october november december mon tue tues wed thu thur thurs
    fri sat jan feb mar apr jun jul aug sep sept oct nov dec""".split()
)
_JOINING_TITLES = frozenset({"st", "mt", "ft"})  # "St. Louis" is one name
_NO_BOUNDARY_AFTER = frozenset({"mr", "mrs", "ms", "dr", "prof", "e.g", "i.e", "vs", "cf"})
_COMMON_WORD_NAMES = frozenset(
    """will may june april august grace joy hope faith rose lily dawn summer autumn mark bill
    pat sue art jack frank rich sky river amber ruby pearl iris ivy violet jade max ray""".split()
)

_Token = tuple[int, int, str]
_MAX_WORD = 40  # longer "words" are junk (URLs, base64, key mashing), not names
_MAX_RUN = 8
# A word that starts with a capital (checked again with str.isupper: the class also lets
# through non-ASCII lower case); lower-case words are never visited, which keeps this fast.
_CAPITALISED = re.compile(r"[^\W\d_a-z](?<![\w'’&-].)\w*(?:[-'’.&]\w+)*")
_CONNECTOR_GAP = re.compile(
    r"\s+(?:(?:of|the|de|da|del|della|di|du|van|von|der|den|la|le|al|bin)\s+){1,2}"
)
_SKIPPABLE = frozenset(" \t\"'“”‘’([{*_~")


def _norm(word: str) -> str:
    return word.lower().replace("’", "'")


def _last_word(text: str, end: int) -> str:
    window = text[max(0, end - 16) : end].split()
    return window[-1].strip("\"'“”‘’([") if window else ""


def _starts_sentence(text: str, a: int) -> bool:
    k, lo = a, max(0, a - 40)
    while k > lo and text[k - 1] in _SKIPPABLE:
        k -= 1
    if k == 0 or text[k - 1] in "\n\r":
        return True
    if text[k - 1] not in ".!?…‽":
        return False
    if text[k - 1] == "." and text[k - 2 : k - 1] not in (".", "!", "?"):
        prev = _last_word(text, k - 1)
        if (len(prev) == 1 and prev.isupper()) or _DOTTED.fullmatch(prev):
            return False  # "J. K. Rowling", "the U.S. Army"
        if _norm(prev) in _NO_BOUNDARY_AFTER or _norm(prev) in _JOINING_TITLES:
            return False  # "Dr. Smith", "St. Louis"
    return True


def _shouting(text: str, a: int, b: int) -> bool:
    """An all-caps word beside another all-caps word: "I LOVE IT", not "NYC"."""
    before = _last_word(text, a)
    after = text[b : b + 16].split()
    for w in (before, after[0].strip(".,!?;:\"'”’)") if after else ""):
        if w.isupper() and (len(w) > 1 or w in ("I", "A")):
            return True
    return False


def _run_name(text: str, run: list[_Token]) -> str | None:
    """Trim a run to its name: time words off both ends, connectors off the end."""
    while run and _norm(run[0][2]) in _TIME:
        run = run[1:]
    while (
        run
        and _norm(run[-1][2]) in _TIME
        and not (len(run) > 1 and _CONNECTOR_GAP.fullmatch(text, run[-2][1], run[-1][0]))
    ):
        run = run[:-1]  # but "Fourth of July" stays whole
    if not run:
        return None
    _, end, last_word = run[-1]
    suffix = _SUFFIX.search(last_word)
    if suffix:
        end -= len(suffix.group())
    elif _DOTTED.fullmatch(last_word) and text[end : end + 1] == ".":
        end += 1  # "U.S."
    return " ".join(text[run[0][0] : end].split())


def _capitalised_runs(text: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(names, sentence-initial single words that are names only if confirmed elsewhere)."""
    names: list[tuple[int, str]] = []
    maybe: list[tuple[int, str]] = []
    run: list[_Token] = []
    initial = False

    def flush() -> None:
        nonlocal run
        first = run[0][2] if run else ""
        if initial and len(run) > 1 and len(first) >= 6 and first.endswith(("ed", "ing")):
            run = run[1:]  # "Visited New York"
        name = _run_name(text, run) if run else None
        if name:
            word = run[0][2]  # "Caroline's trip" at a sentence start is a name
            single = len(run) == 1 and not word.isupper() and not _SUFFIX.search(word)
            (maybe if initial and single else names).append((run[0][0], name))
        run = []

    for m in _CAPITALISED.finditer(text):
        a, b = m.span()
        word = m.group()
        if not word[0].isupper() or len(word) > _MAX_WORD:
            flush()
            continue
        if _norm(word) in _STOP or (word.isupper() and len(word) > 1 and _shouting(text, a, b)):
            flush()
            continue
        if run:
            gap = text[run[-1][1] : a]
            prev = run[-1][2]
            joins = (not gap.strip() and "\n" not in gap) or (
                len(gap) < 24 and _CONNECTOR_GAP.fullmatch(gap) is not None
            )
            if not joins and gap.strip() == ".":  # initials and "St. Louis"
                joins = (len(prev) == 1 and prev.isupper()) or _norm(prev) in _JOINING_TITLES
            if joins and len(run) < _MAX_RUN:
                run.append((a, b, word))
            else:
                flush()
        if not run:
            run, initial = [(a, b, word)], _starts_sentence(text, a)
        if _SUFFIX.search(word):
            flush()  # "Caroline's Mom": the possessive ends the name
    flush()
    return names, maybe


@lru_cache(maxsize=64)
def _known_names(known: tuple[str, ...]) -> tuple[dict[str, str], re.Pattern[str] | None]:
    """Canonical spelling by key, and one pattern finding any of them as a whole word."""
    spelled: dict[str, str] = {}
    for name in known:
        if name.strip() and entity_key(name):
            spelled.setdefault(entity_key(name), " ".join(name.split()))
    if not spelled:
        return spelled, None
    names = sorted(set(spelled.values()), key=lambda n: (-len(n), n))
    alternation = "|".join(re.escape(n).replace(r"\ ", r"\s+") for n in names)
    return spelled, re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE)


def find_entities(text: str, known: Collection[str] = ()) -> list[str]:
    """Names in `text` in order of first appearance, deduplicated by `entity_key`.

    >>> find_entities("Hey Mel! Caroline's trip to New York with the LGBTQ group was fun.")
    ['Mel', 'Caroline', 'New York', 'LGBTQ']
    >>> find_entities("mel and I went to the park", known=["Mel"])
    ['Mel']
    """
    names, maybe = _capitalised_runs(text)
    spelled, pattern = _known_names(tuple(n for n in known if isinstance(n, str)))
    found = [(pos, -len(n), n, entity_key(n)) for pos, n in names]
    if pattern is not None:
        for m in pattern.finditer(text):
            hit = m.group()
            if not (hit.islower() and hit in _COMMON_WORD_NAMES):  # "I will" is not Will
                key = entity_key(hit)
                found.append((m.start(), -len(hit), spelled.get(key, hit), key))
    confirmed = {f[3] for f in found}
    for pos, n in maybe:
        key = entity_key(n)
        if key in confirmed:
            found.append((pos, -len(n), n, key))
    out: dict[str, str] = {}
    for _, _, name, key in sorted(found):
        if key and key not in out:
            out[key] = spelled.get(key, name)
    return list(out.values())


def common_word(word: str) -> bool:
    """Whether `word` is a function word, greeting or sentence starter: never a name
    on its own ("The", "Hey", "Went")."""
    low = word.lower()
    return low in _STOP or low in _TIME


def entity_key(name: str) -> str:
    """Case- and accent-folded key: "Caroline's", "caroline" and "CAROLINE" share one.

    >>> entity_key("Zoë's"), entity_key("J.K.  Rowling")
    ('zoe', 'j k rowling')
    """
    return _short_key(name) if len(name) <= 64 else _key(name)


def _key(name: str) -> str:
    s = name.strip()
    if not s.isascii():
        s = unicodedata.normalize("NFKD", _SURROGATE.sub("", s))
        s = "".join(c for c in s if not unicodedata.combining(c))
    s = _SUFFIX.sub("", s.casefold()).rstrip("'’")
    return " ".join(_KEY_WORD.findall(s))


_short_key = lru_cache(maxsize=4096)(_key)  # names repeat: speakers, places, friends
