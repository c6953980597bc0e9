"""Content decomposition: dialogues into turns, documents into passages, audio at timestamps, images into tiles.

Every split is lossless: passages tile the document exactly, audio segments and image tiles cover their
source with no gap or overlap, and each piece records where it came from.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, Field, model_validator

from tools.pure.audio_io import read_wav, write_wav
from tools.pure.image_tools import ImageName, read_image, write_image
from tools.pure.images import Box
from tools.pure.patching import JsonName, suffixed, write_record
from tools.registry import InputPath, OutputName, ToolError, Workspace, tool
from tools.safety import UnsafeInputError

MAX_TEXT = 200_000  # characters of dialogue one call takes
# "Name: line", the name starting with a letter; up to 40 characters of letters, digits, spaces, . ' -
_SPEAKER = re.compile(r"^\s*([^\W\d_][\w .'\-]{0,39}?)\s*:\s*(.*)$")
# Cut points by preference: after a paragraph break, after a sentence's end, after a word.
_BREAKS = (
    re.compile(r"\n[ \t]*\n\s*"),
    re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*\s+"),
    re.compile(r"\s+"),
)


class Turn(BaseModel):
    speaker: str = Field(min_length=1, max_length=80, description="Who speaks.")
    text: str = Field(max_length=MAX_TEXT, description="What they say.")


class Passage(BaseModel):
    """document[overlap_start:end]; its own content starts at `start`, after the text it repeats."""

    text: str
    start: int
    end: int
    overlap_start: int


def split_dialogue(source: str | list[Turn], merge_consecutive: bool = False) -> list[Turn]:
    """Turns from "Name: line" text (unprefixed lines continue the previous turn) or from a turn list;
    texts are stripped, empty turns dropped, and with `merge_consecutive` a speaker's runs joined."""
    turns = _parse_dialogue(source) if isinstance(source, str) else source
    out: list[Turn] = []
    for i, turn in enumerate(turns):
        turn = turn.model_copy(update={"speaker": turn.speaker.strip(), "text": turn.text.strip()})
        if not turn.speaker:
            raise ToolError(f"turn {i} has no speaker")
        if not turn.text:
            continue
        if merge_consecutive and out and out[-1].speaker == turn.speaker:
            out[-1] = out[-1].model_copy(update={"text": f"{out[-1].text}\n{turn.text}"})
        else:
            out.append(turn)
    return out


def _parse_dialogue(text: str) -> list[Turn]:
    turns: list[Turn] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _SPEAKER.match(line)
        if match:
            turns.append(Turn(speaker=match[1].strip(), text=match[2].strip()))
        elif turns:
            turns[-1] = Turn(speaker=turns[-1].speaker, text=f"{turns[-1].text}\n{line.strip()}".strip())
        else:
            raise ToolError(f"line {number} has no 'Name:' speaker and no turn to continue: {line[:60]!r}")
    return turns


def split_passages(document: str, max_chars: int, overlap: int = 0) -> list[Passage]:
    """Passages of at most `max_chars`: whole paragraphs packed together, longer paragraphs split on
    their own at sentence (else word, else character) ends. Each passage also repeats up to `overlap`
    characters of whole sentences (else words) from the end of the one before. Passages own their
    trailing whitespace, so their own content (`rejoin`) reassembles the document exactly."""
    if not 0 <= overlap < max_chars:
        raise ToolError(f"overlap {overlap} must be below max_chars {max_chars}")
    budget = max_chars - overlap  # room for the repeated text, so every passage stays within max_chars
    cores: list[tuple[int, int]] = []
    joinable = False  # whole paragraphs share passages; a split paragraph's pieces only each other
    for a, b in _pieces(document, 0, len(document), 0):
        whole = b - a <= budget
        for i, (ua, ub) in enumerate([(a, b)] if whole else _units(document, a, b, budget, 1)):
            if (joinable if whole else i > 0) and ub - cores[-1][0] <= budget:
                cores[-1] = (cores[-1][0], ub)
            else:
                cores.append((ua, ub))
        joinable = whole
    passages = []
    for i, (start, end) in enumerate(cores):
        lead = _overlap_start(document, cores[i - 1][0], start, overlap) if i else start
        passages.append(Passage(text=document[lead:end], start=start, end=end, overlap_start=lead))
    return passages


def rejoin(passages: list[Passage]) -> str:
    """The document the passages came from: each passage's own content, overlap dropped."""
    return "".join(p.text[p.start - p.overlap_start :] for p in passages)


def _pieces(doc: str, start: int, end: int, level: int) -> list[tuple[int, int]]:
    """doc[start:end] cut after every break of `level`; each piece keeps its trailing break."""
    cuts = [m.end() for m in _BREAKS[level].finditer(doc, start, end) if m.end() < end]
    bounds = [start, *cuts, end]
    return [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def _units(doc: str, start: int, end: int, budget: int, level: int) -> Iterator[tuple[int, int]]:
    """Contiguous spans no longer than `budget`, cut at the coarsest break that gets them there."""
    for a, b in _pieces(doc, start, end, level):
        if b - a <= budget:
            yield a, b
        elif level + 1 < len(_BREAKS):
            yield from _units(doc, a, b, budget, level + 1)
        else:
            yield from ((i, min(i + budget, b)) for i in range(a, b, budget))


def _overlap_start(doc: str, prev_start: int, start: int, overlap: int) -> int:
    """Where the longest run of whole sentences (else words) ending at `start` and at most `overlap` long begins."""
    for level in (1, 2):
        fits = [a for a, _ in _pieces(doc, prev_start, start, level) if start - a <= overlap]
        if fits:
            return fits[0]
    return start


def split_samples(samples: np.ndarray, sample_rate: int, cuts: list[float]) -> list[tuple[int, int]]:
    """Sample spans between consecutive cut points (seconds), from the start to the end of `samples`."""
    bounds = [0, *(round(t * sample_rate) for t in cuts), len(samples)]
    if any(b <= a for a, b in zip(bounds, bounds[1:], strict=False)):
        raise ToolError(f"cuts {cuts} must increase strictly and fall inside the audio's "
                        f"{len(samples) / sample_rate:.3f} s")
    return list(zip(bounds, bounds[1:], strict=False))


def tile(image: np.ndarray, rows: int, cols: int) -> list[tuple[Box, np.ndarray]]:
    """rows x cols tiles, row-major, covering the image exactly (sizes differ by at most one pixel)."""
    height, width = image.shape[:2]
    if rows > height or cols > width:
        raise ToolError(f"a {width}x{height} image cannot be cut into {rows}x{cols} tiles")
    xs = [c * width // cols for c in range(cols + 1)]
    ys = [r * height // rows for r in range(rows + 1)]
    boxes = [Box(x=xs[c], y=ys[r], width=xs[c + 1] - xs[c], height=ys[r + 1] - ys[r])
             for r in range(rows) for c in range(cols)]
    return [(box, image[box.slices()]) for box in boxes]


def numbered(name: str, tag: str) -> str:
    """`name` with `_tag` before its suffix, the stem trimmed so the result stays a valid output name."""
    path = Path(name)
    stem = path.stem[: 119 - len(tag) - len(path.suffix)]
    return f"{stem}_{tag}{path.suffix}"


class DialogueParams(BaseModel):
    text: str | None = Field(None, max_length=MAX_TEXT, description="Dialogue as 'Name: line' lines.")
    turns: list[Turn] | None = Field(None, max_length=5000, description="Dialogue as a turn list instead.")
    merge_consecutive: bool = Field(False, description="Join consecutive turns of the same speaker.")
    out: JsonName | None = Field(None, description="Also write the turns to this JSON file.")

    @model_validator(mode="after")
    def _one_source(self) -> DialogueParams:
        if (self.text is None) == (self.turns is None):
            raise ValueError("give either text or turns")
        return self


@tool("split_dialogue", DialogueParams,
      "Split a dialogue ('Name: line' text or a turn list) into speaker turns; returns the turns and speakers.")
def _dialogue_tool(p: DialogueParams, ws: Workspace) -> tuple[list[Path], dict[str, Any]]:
    turns = [t.model_dump() for t in split_dialogue(p.text if p.text is not None else p.turns, p.merge_consecutive)]
    speakers = list(dict.fromkeys(t["speaker"] for t in turns))
    return _maybe_write(ws, p.out, turns), {"turns": turns, "speakers": speakers, "count": len(turns)}


class PassagesParams(BaseModel):
    document: str = Field(max_length=2_000_000, description="The text to split.")
    max_chars: int = Field(1200, ge=20, le=100_000, description="Longest passage, overlap included.")
    overlap: int = Field(0, ge=0, description="Characters of whole sentences repeated from the previous passage.")
    out: JsonName | None = Field(None, description="Also write the passages to this JSON file.")

    @model_validator(mode="after")
    def _overlap_fits(self) -> PassagesParams:
        if self.overlap > self.max_chars // 2:
            raise ValueError(f"overlap {self.overlap} must be at most half of max_chars {self.max_chars}")
        return self


@tool("split_passages", PassagesParams,
      "Split a document into passages of at most max_chars at paragraph, then sentence boundaries, with optional "
      "overlap; returns each passage's text and character offsets.")
def _passages_tool(p: PassagesParams, ws: Workspace) -> tuple[list[Path], dict[str, Any]]:
    passages = [x.model_dump() for x in split_passages(p.document, p.max_chars, p.overlap)]
    return _maybe_write(ws, p.out, passages), {"passages": passages, "count": len(passages)}


def _maybe_write(ws: Workspace, name: str | None, data: Any) -> list[Path]:
    return [write_record(ws, name, data)] if name else []


class SplitAudioParams(BaseModel):
    audio: InputPath = Field(description="Audio file to split (WAV, or any format ffmpeg decodes).")
    cuts: list[float] = Field(min_length=1, max_length=500, description="Cut points in seconds, increasing.")
    out: Annotated[OutputName, suffixed(".wav")] = Field(
        description="Segment file name; segment i is written as <stem>_<i>.wav (mono 16-bit).")


@tool("split_audio", SplitAudioParams, "Cut an audio file at timestamps into one WAV per segment.")
def _split_audio_tool(p: SplitAudioParams, ws: Workspace) -> tuple[list[Path], dict[str, Any]]:
    try:
        samples, rate = read_wav(ws.input(p.audio))
    except (UnsafeInputError, ValueError) as exc:
        raise ToolError(f"split_audio: {exc}") from None
    files, segments = [], []
    for i, (a, b) in enumerate(split_samples(samples, rate, p.cuts)):
        path = ws.output(numbered(p.out, f"{i:03d}"))
        write_wav(path, samples[a:b], rate)
        files.append(path)
        segments.append({"file": ws.relative(path), "start": a / rate, "end": b / rate, "duration": (b - a) / rate})
    return files, {"sample_rate": rate, "segments": segments}


class TileParams(BaseModel):
    image: InputPath
    rows: int = Field(ge=1, le=16, description="Tile rows.")
    cols: int = Field(ge=1, le=16, description="Tile columns.")
    out: ImageName = Field(description="Tile file name; the tile at row r, column c is <stem>_r<r>_c<c>.<suffix>.")


@tool("tile_image", TileParams, "Cut an image into rows x cols tiles that reassemble it exactly; returns their boxes.")
def _tile_tool(p: TileParams, ws: Workspace) -> tuple[list[Path], dict[str, Any]]:
    files, tiles = [], []
    for i, (box, pixels) in enumerate(tile(read_image(ws, p.image), p.rows, p.cols)):
        row, col = divmod(i, p.cols)
        path = write_image(ws, numbered(p.out, f"r{row}_c{col}"), pixels)
        files.append(path)
        tiles.append({"row": row, "col": col, "box": box.model_dump(), "file": ws.relative(path)})
    return files, {"tiles": tiles}
