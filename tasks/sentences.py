"""Sentence splitters for ROUGE-Lsum, which scores summaries sentence by sentence (newline-separated).

The HF and AdaLoRA summarisation scripts split with `nltk.sent_tokenize`, whose Punkt model is a separate
data download (punkt / punkt_tab) that fails or hangs offline. So the splitter is pluggable
(`task.rouge.sentence_splitter`) and the default needs no data and no network:

- `regex` (default): a break after `.`, `!` or `?` (and any closing quotes or brackets) followed by white
  space or, right after a lower-case word, directly by a capital letter; and at every existing line break. Deterministic and dependency-free; unlike Punkt it does not know
  abbreviations ("Mr. Smith" is two sentences), which can move ROUGE-Lsum slightly. ROUGE-1/2/L do not
  depend on the splitter at all.
- `nltk`: `nltk.sent_tokenize` with Punkt data that is already installed (as the original scripts did). It
  never downloads: without the data it stops with one line saying how to install it.
- `newline`: only the line breaks already in the text (e.g. CNN/DailyMail's highlights).
- `none`: the whole text is one sentence (ROUGE-Lsum then equals ROUGE-L).
"""
from __future__ import annotations

import re
from collections.abc import Callable

from .errors import DataError

# a sentence ends after . ! ? and any closing quotes or brackets, before white space; or, right after a
# lower-case word, directly before a capital letter ("community.Dr Venter": texts whose line breaks were lost,
# as in the XSum subset of ../shared/data)
_END_SPACE = re.compile(r"([.!?][\"'\u2019\u201d)\]]*)\s+")
_END_GLUED = re.compile(r"(?<=[a-z][.!?])(?=[A-Z])")


def split_regex(text: str) -> list[str]:
    marked = _END_GLUED.sub("\n", _END_SPACE.sub("\\1\n", text))
    return [s.strip() for s in marked.splitlines() if s.strip()]


def split_newline(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def split_none(text: str) -> list[str]:
    text = " ".join(text.split())
    return [text] if text else []


def split_nltk(text: str) -> list[str]:
    import nltk

    try:
        return [s for s in nltk.sent_tokenize(text) if s.strip()]
    except LookupError:
        raise DataError("task.rouge.sentence_splitter=nltk needs NLTK's Punkt data, which is not installed: run "
                        "`python -m nltk.downloader punkt_tab` where there is network, or use the default "
                        "sentence_splitter=regex") from None


SPLITTERS: dict[str, Callable[[str], list[str]]] = {
    "regex": split_regex,
    "nltk": split_nltk,
    "newline": split_newline,
    "none": split_none,
}


def get_splitter(name: str) -> Callable[[str], list[str]]:
    try:
        return SPLITTERS[name]
    except KeyError:
        raise DataError(f"unknown sentence splitter {name!r}: choose one of {', '.join(SPLITTERS)}") from None
