"""What the offline designer reads out of a requirement: its clauses, the modality each names, the
settings it fixes (degradations, noise, counts) and the asks no offline recipe can honour.

A setting is either applied to every item of its subtask or reported as not possible; nothing the
user asked for is silently dropped.
"""

from __future__ import annotations

import re
from typing import Any

from state.models import Modality
from tools.text import content_words

MODALITY_CUES: dict[Modality, tuple[str, ...]] = {
    "image": ("image", "photo", "picture", "visual", "vision", "screenshot", "diagram", "chart",
              "figure", "scene", "drawing", "illustration"),
    "audio": ("spoken", "speech", "audio", "listen", "listening", "voice", "sound", "hear", "heard",
              "utterance", "podcast", "recording"),
}
NOISE_KINDS = ("white", "pink", "babble")
_STRONG = r"heav(?:y|ily)|strong(?:ly)?|severe(?:ly)?|very|extreme(?:ly)?|intense(?:ly)?"
_MILD = r"slight(?:ly)?|mild(?:ly)?|light(?:ly)?|a little"
# Image degradations: the words that ask for one, and its parameters at mild, default and strong.
DEGRADATIONS: dict[str, tuple[str, dict[str, dict[str, float]]]] = {
    "blur": (r"blur(?:red|ry|ring|s)?|out of focus|defocus(?:ed)?",
             {"mild": {"sigma": 1.5}, "default": {"sigma": 3.0}, "strong": {"sigma": 6.0}}),
    "jpeg": (r"jpe?g|compress(?:ed|ion)?|compression artefacts?|compression artifacts?",
             {"mild": {"quality": 60}, "default": {"quality": 30}, "strong": {"quality": 10}}),
    "resize": (r"low[- ]?res(?:olution)?|downscaled|downsampled|down-?sampled|pixelated|small(?:er)? images?",
               {"mild": {"scale": 0.5}, "default": {"scale": 0.25}, "strong": {"scale": 0.125}}),
    "noise": (r"noisy|noise|grainy|grain",
              {"mild": {"std": 8.0}, "default": {"std": 20.0}, "strong": {"std": 40.0}}),
}
_JPEG_QUALITY = re.compile(r"(?:jpe?g\s*)?quality\s*(?:of\s*)?(\d{1,3})|\bq\s*=?\s*(\d{1,3})\b", re.I)
_SNR = re.compile(r"(-?\d+(?:\.\d+)?)\s*db", re.I)
_COUNT = re.compile(r"\b(\d{1,6})\s+(?:items?|questions?|samples?|examples?)\b", re.I)
_TOTAL = re.compile(r"\b(?:of|total(?: of)?)\s+\d|\d+\s+\w+\s+(?:in total|in all|overall)\b", re.I)
# Languages other than English: offline recipes render and ask in English only.
_LANGUAGES = re.compile(
    r"\b(french|german|spanish|italian|portuguese|chinese|mandarin|cantonese|japanese|korean|arabic|hindi|"
    r"russian|dutch|swedish|turkish|polish|vietnamese|thai|indonesian|multilingual|mixed[- ]language|"
    r"code[- ]switch(?:ing|ed)?|bilingual|cross[- ]lingual|translat(?:e|ed|ion))\b", re.I)
# Language names to the codes LLM tools and speech take; English too, for "mixing English and Spanish".
LANGUAGE_CODES = {"english": "en", "french": "fr", "german": "de", "spanish": "es", "italian": "it",
                  "portuguese": "pt", "chinese": "zh", "mandarin": "zh", "cantonese": "yue", "japanese": "ja",
                  "korean": "ko", "arabic": "ar", "hindi": "hi", "russian": "ru", "dutch": "nl", "swedish": "sv",
                  "turkish": "tr", "polish": "pl", "vietnamese": "vi", "thai": "th", "indonesian": "id"}
_WEB = re.compile(r"\b(?:web|internet|online sources?|up[- ]to[- ]date|current events?|recent news)\b", re.I)
_NO_IMAGES = re.compile(r"\b(?:no|without)\s+(?:any\s+)?(?:images?|pictures?|photos?|visual)", re.I)
_SPLIT = re.compile(r"[.;,:!?\n]+|\band\b|\bas well as\b|\bplus\b", re.I)
# Words that describe how items are rendered or degraded, not what data they need.
_RENDER_WORDS = frozenset(content_words(" ".join(
    [*MODALITY_CUES["image"], *MODALITY_CUES["audio"], *NOISE_KINDS, "images pictures photos recordings clips",
     "background noise noisy noisier heavily strongly severely very slightly mildly lightly db snr quality",
     "blur blurred blurry blurring jpeg compressed compression low resolution downscaled pixelated grainy",
     "degraded degradation corrupted perturbed robust robustness",
     "under over amid through using via across among against kind kinds different various",
     "speak speaks speaking talk talks talking say says said",
     "item items question questions sample samples example examples",
     # what the model is asked to do, not what the data is about
     "follow following understand understanding comprehend comprehension recognise recognize recognising",
     "recognizing recognition identify identifying answer answering tell telling pick choose select judge",
     "determine decide whether can model models well ability"])))


def modality_cues(words: list[str]) -> set[Modality]:
    return {m for m, cues in MODALITY_CUES.items() if any(keyword_match(w, c) for w in words for c in cues)}


def keyword_match(token: str, keyword: str) -> bool:
    # Same word or same 6-letter stem: recognising/recognition, categories/category.
    return token == keyword or (min(len(token), len(keyword)) >= 5 and token[:6] == keyword[:6])


def clauses(requirement: str) -> list[str]:
    """The requirement's parts; a part that only says how items look ("and JPEG-compressed images")
    qualifies its neighbour instead of becoming a dimension of its own."""
    parts = [p.strip() for p in _SPLIT.split(requirement) if content_words(p)]
    merged: list[str] = []
    for part in parts:
        if merged and is_modifier(part):
            merged[-1] = f"{merged[-1]} and {part}"
        else:
            merged.append(part)
    if len(merged) > 1 and is_modifier(merged[0]):
        merged[1] = f"{merged[0]} and {merged[1]}"
        merged.pop(0)
    return merged


def is_modifier(clause: str) -> bool:
    words = content_words(clause)
    return bool(words) and all(w in _RENDER_WORDS or w.isdigit() for w in words)


def alignment_query(clause: str, made_by_steps: tuple[str, ...] = ()) -> str:
    """The words of a clause that say what data it needs: without how items are rendered or degraded,
    which the recipe does and no dataset card mentions, nor `made_by_steps`, the words of a skill the
    recipe's steps create (counting mixed voices)."""
    kept = []
    for word in re.findall(r"[^\W_]+(?:['-][^\W_]+)*", clause):
        stems = content_words(word)  # the search embeds whole words; stems only decide what to drop
        if stems and not any(s in _RENDER_WORDS or s.isdigit() or any(keyword_match(s, k) for k in made_by_steps)
                             for s in stems):
            kept.append(word)
    return " ".join(kept)


def _strength(text: str, at: int) -> str:
    window = text[max(0, at - 30): at]
    if re.search(rf"\b(?:{_STRONG})\b[\s-]*$", window, re.I):
        return "strong"
    if re.search(rf"\b(?:{_MILD})\b[\s-]*$", window, re.I):
        return "mild"
    return "default"


def image_degradations(text: str) -> list[dict[str, Any]]:
    """The degradations a text asks for, in the order it names them, each with its strength."""
    found = []
    for op, (pattern, strengths) in DEGRADATIONS.items():
        m = re.search(rf"\b(?:{pattern})\b", text, re.I)
        if m:
            params = dict(strengths[_strength(text, m.start())])
            if op == "jpeg" and (q := _JPEG_QUALITY.search(text)):
                params["quality"] = min(100, max(1, int(q.group(1) or q.group(2))))
            found.append((m.start(), {"op": op, "params": params}))
    return [d for _, d in sorted(found, key=lambda x: x[0])]


def audio_noise(text: str) -> dict[str, Any]:
    """Background noise a text asks for: its kind ("recorded" for real noise) and SNR (10 dB if none given)."""
    snr = _SNR.search(text)
    if not (snr or re.search(r"\bnois[ey]|\bbackground\b|\bbabble\b", text, re.I)):
        return {}
    kind = next((k for k in NOISE_KINDS if re.search(rf"\b{k}\b", text, re.I)), None)
    if kind is None:  # real noise is a recording; synthetic pink noise is the default otherwise
        kind = "recorded" if re.search(r"\b(real|recorded|natural|real-world)\b", text, re.I) else "pink"
    return {"noise": kind, "snr_db": float(snr.group(1)) if snr else 10.0}


def requested_count(text: str) -> int | None:
    """A count the clause asks of its own subtask ("clocks in 7 items"); a benchmark's total ("a
    benchmark of 50 items", "50 items in total") is --size's business, not a subtask's."""
    m = _COUNT.search(text)
    if m is None or _TOTAL.search(text[max(0, m.start() - 12): m.end() + 12]):
        return None
    return int(m.group(1))


def unsupported(text: str) -> str | None:
    """Why the offline policy cannot honour what a clause asks, or None."""
    m = _LANGUAGES.search(text)
    if m:
        return (f"it asks for {m.group(1)!r}: offline recipes write and speak English only and cannot "
                "translate; an LLM decider (--llm) can write such items")
    return None


def written_settings(text: str) -> dict[str, Any]:
    """What a clause fixes for items an LLM writes: the languages it names (in order), and web background
    when it asks for current or web knowledge."""
    names = re.findall(rf"\b({'|'.join(LANGUAGE_CODES)})\b", text, re.I)
    codes = list(dict.fromkeys(LANGUAGE_CODES[n.lower()] for n in names))
    found: dict[str, Any] = {"languages": codes} if codes and codes != ["en"] else {}
    return found | ({"web_background": True} if _WEB.search(text) else {})


def forbids_images(requirement: str) -> bool:
    return bool(_NO_IMAGES.search(requirement))
