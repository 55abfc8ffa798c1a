"""Which language is a piece of reasoning (or a final answer) written in?

``detect_language(text)`` returns an ISO 639-1 code (``"fr"``) or None, with lingua-language-detector offline,
restricted to the tutorial's six languages plus Portuguese, Dutch and Catalan (without these neighbours their texts
would pass as Spanish or German). Markers, LaTeX, URLs, numbers and formulas are removed first; short texts get a
function-word tie-breaker, because a few shared content words ("total", "euros") sway lingua's n-grams. Long texts are
judged on their head and tail. ``available()`` says whether lingua is installed: without it nothing is detected.
"""
from __future__ import annotations

import re
import threading
import time

# Name -> ISO 639-1 code. The detector can return exactly these codes (and nothing else).
LANGUAGE_CODES: dict[str, str] = {
    "English": "en",
    "French": "fr",
    "German": "de",
    "Spanish": "es",
    "Italian": "it",
    "Chinese": "zh",
    "Portuguese": "pt",
    "Dutch": "nl",
    "Catalan": "ca",
}
TUTORIAL_LANGUAGES: tuple[str, ...] = ("en", "fr", "de", "es", "it", "zh")
NEIGHBOUR_LANGUAGES: tuple[str, ...] = ("pt", "nl", "ca")
CODE_NAMES: dict[str, str] = {code: name for name, code in LANGUAGE_CODES.items()}

# Other spellings accepted by ``language_code`` (lower case): native names and a few common variants.
_ALIASES: dict[str, str] = {
    "français": "fr", "francais": "fr", "deutsch": "de", "español": "es", "espanol": "es", "castellano": "es",
    "italiano": "it", "中文": "zh", "汉语": "zh", "漢語": "zh", "普通话": "zh", "mandarin": "zh",
    "simplified chinese": "zh", "chinese (simplified)": "zh", "português": "pt", "portugues": "pt",
    "nederlands": "nl", "català": "ca", "catala": "ca",
}

_MIN_LETTERS = 3  # letters left after cleaning, below which the text is too short to tell
_MIN_HAN = 2  # Chinese characters are denser: two are enough
_MAX_CHARS = 10_000  # longer texts are sampled (head + tail): lingua's verdict is stable long before that


def language_code(name: str) -> str:
    """ISO 639-1 code for a language name (``"French"`` -> ``"fr"``), case-insensitive.

    Also accepts a code the detector knows (``"fr"``), native names (``"Deutsch"``) and a ``reasoning language:
    French`` prefix. Raises ``ValueError`` naming the known languages for anything else.
    """
    if isinstance(name, str):
        key = name.strip()
        key = re.sub(r"(?i)^reasoning\s+language\s*:\s*", "", key).strip().lower()
        for known, code in LANGUAGE_CODES.items():
            if key == known.lower() or key == code:
                return code
        if key in _ALIASES:
            return _ALIASES[key]
    known = ", ".join(f"{n} ({c})" for n, c in LANGUAGE_CODES.items())
    raise ValueError(f"unknown language {name!r}; known languages: {known}")


# ----------------------------------------------------------------------------------------------------------------------
# Cleaning
# ----------------------------------------------------------------------------------------------------------------------
_MARKER = re.compile(r"<\|[^<>|\s]{0,40}\|>|</?[A-Za-z][A-Za-z0-9_:-]{0,30}\s*/?>")
_LATEX_BLOCK = re.compile(r"\$\$.{0,4000}?\$\$|\\\[.{0,4000}?\\\]|\\\(.{0,2000}?\\\)", re.S)
_LATEX_INLINE = re.compile(r"\$[^$\n]{1,300}\$")
_LATEX_CMD = re.compile(r"\\[A-Za-z]+\*?|\\.")
_URL = re.compile(r"https?://\S+|www\.\S+")
# Units written after a number ("25 °C", "77°F", "300 K"): "C"/"F" would otherwise read as a one-letter word.
_UNIT = re.compile(r"(?<=\d)\s*°\s*[CFK]\b|°")
# A "maths run": numbers, single letters (variables) and operators, separated by spaces. Runs that contain an operator
# are formulas and are removed whole; elsewhere one-letter words ("a", "y", "e") stay and only the numbers go.
_OPS = r"=+\-−–*/^<>≤≥≠≈×÷·%!|()\[\]{}_"
_MATH_TOKEN = (
    rf"(?:\d+(?:[.,:]\d+)*(?:[A-Za-z](?![^\W\d_]))?"  # 12, 2.5, 9:15, 2x
    rf"|(?<![^\W\d_])[A-Za-z](?![^\W\d_])"  # a lone latin letter: x, n
    rf"|[{_OPS}])"
)
_MATH_RUN = re.compile(rf"{_MATH_TOKEN}(?:[ \t]*{_MATH_TOKEN})*")
_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")


def _is_han(ch: str) -> bool:
    o = ord(ch)
    return 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x2FFFF


def _drop_formula(match: re.Match) -> str:
    run = match.group(0)
    if any(ch in _OPS for ch in run):  # a formula: x = 3, 2x + 5, (2+1)(2+1)
        return " "
    # numbers next to one-letter words ("il y a 9", "a 4 euros"): drop the numbers, keep the words
    return " ".join(tok for tok in run.split() if not any(ch.isdigit() for ch in tok))


def clean_text(text: str) -> str:
    """The text with markers, LaTeX, URLs, numbers and formulas removed (what the detector sees)."""
    if len(text) > _MAX_CHARS:
        half = _MAX_CHARS // 2
        text = text[:half] + "\n" + text[-half:]
    text = _MARKER.sub(" ", text)
    text = _URL.sub(" ", text)
    text = _UNIT.sub(" ", text)
    text = _LATEX_BLOCK.sub(" ", text)
    text = _LATEX_INLINE.sub(" ", text)
    text = _LATEX_CMD.sub(" ", text)
    text = _MATH_RUN.sub(_drop_formula, text)
    text = _DIGITS.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


# ----------------------------------------------------------------------------------------------------------------------
# Function words: the tie-breaker for short texts
# ----------------------------------------------------------------------------------------------------------------------
# On a handful of words lingua's character n-grams are swayed by content words shared across languages ("So the total
# is 59 euros." scores Spanish: "total", "euros"). Function words are what a human reads instead. For short texts
# (at most _SHORT_WORDS words, mostly Latin script) each distinct function word adds _FUNCTION_WORD_WEIGHT / k to the
# lingua confidence (0..1, summing to 1) of each of the k candidate languages whose list holds it; the best total wins.
_FUNCTION_WORDS: dict[str, frozenset[str]] = {
    lang: frozenset(words.split())
    for lang, words in {
        "en": "the a an is are was were be will can and or but not of to in on at by so there this that these with "
              "we you i it its she he they has have had about after which what then for answer answers total left "
              "our my your result",
        "fr": "le la les l un une des du de d à est sont et ou mais ne pas il elle ils on nous tu je y a as donc pour "
              "par sur dans en ce cette c qui que qu lui reste environ avec au aux plus réponse résultat solutions "
              "total",
        "de": "der die das den dem des ein eine einen ist sind und oder aber es gibt nicht mit für auf an um nach "
              "sie wir ich du er man also noch von zu im insgesamt etwa beträgt lautet antwort ergebnis lösungen",
        "es": "el la los las lo le a un una unos unas es son y o pero no de del que en entre por para con se hay "
              "más muy al tú respuesta resultado soluciones total quedan",
        "it": "il lo la i gli le l a un una è e o ma non di del della dei che in per con ci ti mi sono si al alle "
              "alla dopo circa quindi risposta risultato soluzioni totale restano",
        "pt": "o a os as um uma é e ou mas não de do da dos das que em no na para com são há ao você resposta "
              "resultado soluções total",
        "nl": "de het een is en of maar niet van dat die er zijn met voor op te ik we je antwoord resultaat totaal "
              "ongeveer",
        "ca": "el la els les l a un una és i o però no de del que per amb són hi ha al resposta resultat solucions "
              "total",
    }.items()
}
_FUNCTION_WORD_LANGS: dict[str, int] = {}
for _vocab in _FUNCTION_WORDS.values():
    for _w in _vocab:
        _FUNCTION_WORD_LANGS[_w] = _FUNCTION_WORD_LANGS.get(_w, 0) + 1
_FUNCTION_WORD_WEIGHT = 0.15
_SHORT_WORDS = 12
_WORD = re.compile(r"[^\W\d_]+")


def _function_word_bonus(cleaned: str) -> dict[str, float]:
    """Per language: _FUNCTION_WORD_WEIGHT * sum of 1/k over the distinct function words of a short text."""
    words = _WORD.findall(cleaned.lower())
    if not words or len(words) > _SHORT_WORDS:
        return {}
    bonus: dict[str, float] = {}
    for word in set(words):
        k = _FUNCTION_WORD_LANGS.get(word)
        if not k:
            continue
        for lang, vocab in _FUNCTION_WORDS.items():
            if word in vocab:
                bonus[lang] = bonus.get(lang, 0.0) + _FUNCTION_WORD_WEIGHT / k
    return bonus


# ----------------------------------------------------------------------------------------------------------------------
# Detector
# ----------------------------------------------------------------------------------------------------------------------
_DETECTOR = None
_LOCK = threading.Lock()


def _detector():
    global _DETECTOR
    if _DETECTOR is None:
        with _LOCK:
            if _DETECTOR is None:
                from lingua import IsoCode639_1, LanguageDetectorBuilder

                codes = [getattr(IsoCode639_1, c.upper()) for c in TUTORIAL_LANGUAGES + NEIGHBOUR_LANGUAGES]
                _DETECTOR = LanguageDetectorBuilder.from_iso_codes_639_1(*codes).build()
    return _DETECTOR


def available() -> bool:
    """Is the language identifier (lingua-language-detector) installed? Without it no language is ever detected."""
    import importlib.util

    return importlib.util.find_spec("lingua") is not None


def warm_up() -> float:
    """Build the detector and load its language models now; returns the seconds it took (0 when already loaded)."""
    start = time.perf_counter()
    _detector().detect_language_of("This sentence loads the language models of every candidate language.")
    return time.perf_counter() - start


def detect_language(text) -> str | None:
    """ISO 639-1 code of ``text``'s language (one of ``LANGUAGE_CODES``' values), or None.

    None for anything that is not a ``str``, and for text with too few letters once markers, LaTeX, numbers and
    formulas are removed (``"42"``, ``"x = 3"``, ``"$\\frac{3}{4}$"``). Never raises.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        cleaned = clean_text(text)
        letters = [ch for ch in cleaned if ch.isalpha()]
        han = sum(1 for ch in letters if _is_han(ch))
        if len(letters) < _MIN_LETTERS and han < _MIN_HAN:
            return None
        detector = _detector()
        bonus = _function_word_bonus(cleaned) if han * 2 < len(letters) else {}
        if not bonus:
            language = detector.detect_language_of(cleaned)
            return None if language is None else language.iso_code_639_1.name.lower()
        scores = {c.language.iso_code_639_1.name.lower(): c.value
                  for c in detector.compute_language_confidence_values(cleaned)}
    except Exception:  # lingua is robust, but a verdict of "unknown" beats a crash in an evaluation loop
        return None
    for lang, extra in bonus.items():
        if lang in scores:
            scores[lang] += extra
    return max(scores, key=scores.get) if scores else None
