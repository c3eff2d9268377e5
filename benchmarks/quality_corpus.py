"""Real recordings for the quality benchmark, fetched at benchmark time and never committed.

Sources:
- speech: the seed examples beside the checkout (``../shared/data/seed_examples``) and the spoken channel names
  that Debian's ``alsa-utils`` ships (one female speaker, joined into one utterance);
- instruments: melodies rendered from Debian's ``fluid-soundfont-gm`` (FluidR3, sampled real instruments) with
  ``fluidsynth``, and the trumpet seed example;
- percussion and sustained textures: loops and samples from Debian's ``sonic-pi-samples``.

Debian packages are downloaded with ``apt-get download`` and unpacked with ``dpkg-deb -x`` into the cache folder
(no root needed). ``fluidsynth`` itself is installed with ``apt-get install`` when it is missing and we are root.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from benchmarks.common import SEED_EXAMPLES
from workflow_scripts.audio_io import load_audio, to_mono

CACHE = Path("bench_out/quality/sources")
SOUNDFONT = "usr/share/sounds/sf2/FluidR3_GM.sf2"
RENDER_RATE = 44100


@dataclass(frozen=True)
class BenchClip:
    id: str
    kind: str  # speech | music
    what: str


@dataclass(frozen=True)
class BenchPair:
    content: str
    style: str
    category: str


CLIPS = (
    BenchClip("speech_m1", "speech", "seed content1: speech"),
    BenchClip("speech_m2", "speech", "seed content2: speech"),
    BenchClip("speech_f1", "speech", "seed style1: speech, another speaker"),
    BenchClip("speech_f2", "speech", "seed style3: speech, accented"),
    BenchClip("speech_alsa", "speech", "alsa-utils: spoken channel names, one female speaker"),
    BenchClip("trumpet", "music", "seed style2: trumpet"),
    BenchClip("violin", "music", "FluidR3 violin melody (fluidsynth)"),
    BenchClip("cello", "music", "FluidR3 cello melody (fluidsynth)"),
    BenchClip("clarinet", "music", "FluidR3 clarinet melody (fluidsynth)"),
    BenchClip("piano", "music", "FluidR3 piano melody (fluidsynth)"),
    BenchClip("guitar", "music", "sonic-pi guit_e_fifths: electric guitar"),
    BenchClip("drums", "music", "sonic-pi loop_amen_full: drum break"),
    BenchClip("tabla", "music", "sonic-pi loop_tabla: tabla loop (first 8 s)"),
    BenchClip("organ", "music", "FluidR3 church organ chords (fluidsynth)"),
)

PAIRS = (
    BenchPair("clarinet", "trumpet", "instrument to instrument"),
    BenchPair("piano", "violin", "instrument to instrument"),
    BenchPair("guitar", "cello", "instrument to instrument"),
    BenchPair("speech_m2", "trumpet", "speech to instrument"),
    BenchPair("speech_m1", "violin", "speech to instrument"),
    BenchPair("speech_m1", "speech_f1", "speaker to speaker"),
    BenchPair("speech_m2", "speech_f2", "speaker to speaker"),
    BenchPair("speech_f2", "speech_alsa", "speaker to speaker"),
    BenchPair("drums", "organ", "percussive to sustained"),
    BenchPair("tabla", "cello", "percussive to sustained"),
)


def build(directory: Path) -> dict[str, Path]:
    """Write every clip of :data:`CLIPS` under ``directory`` (once) and return ``{id: path}``."""
    directory.mkdir(parents=True, exist_ok=True)
    makers = {
        "speech_m1": lambda: _seed("content1"),
        "speech_m2": lambda: _seed("content2"),
        "speech_f1": lambda: _seed("style1"),
        "speech_f2": lambda: _seed("style3"),
        "trumpet": lambda: _seed("style2"),
        "speech_alsa": _alsa_voice,
        "violin": lambda: _melody(40, [(76, 1), (74, 0.5), (72, 0.5), (71, 1), (72, 1), (74, 1.5), (67, 0.5), (69, 2)]),
        "cello": lambda: _melody(42, [(48, 1.5), (55, 0.5), (53, 1), (52, 1), (50, 1), (52, 0.5), (53, 0.5), (55, 2)]),
        "clarinet": lambda: _melody(71, [(64, 0.5), (64, 0.5), (65, 0.5), (67, 0.5), (67, 0.5), (65, 0.5), (64, 0.5),
                                         (62, 0.5), (60, 0.5), (60, 0.5), (62, 0.5), (64, 0.5), (64, 1), (62, 1.5)]),
        "piano": lambda: _melody(0, [(60, 0.5), (62, 0.5), (64, 0.5), (65, 0.5), (67, 1), (67, 1), (69, 0.5),
                                     (69, 0.5), (69, 0.5), (69, 0.5), (67, 2)]),
        "organ": lambda: _melody(19, [((48, 55, 64), 2), ((53, 60, 69), 2), ((55, 62, 71), 2), ((48, 55, 64), 2)]),
        "guitar": lambda: _sonic_pi("guit_e_fifths"),
        "drums": lambda: _sonic_pi("loop_amen_full"),
        "tabla": lambda: _sonic_pi("loop_tabla", seconds=8.0),
    }  # fmt: skip
    paths = {}
    for clip in CLIPS:
        path = directory / f"{clip.id}.wav"
        if not path.is_file():
            audio, rate = makers[clip.id]()
            sf.write(path, audio, rate, subtype="FLOAT")
        paths[clip.id] = path
    return paths


def _seed(name: str) -> tuple[np.ndarray, int]:
    path = SEED_EXAMPLES / f"{name}.wav"
    if not path.is_file():
        raise SystemExit(f"{path}: seed example not found; the quality benchmark needs ../shared/data/seed_examples")
    audio, rate = load_audio(path)
    return to_mono(audio), rate


def _alsa_voice() -> tuple[np.ndarray, int]:
    root = debian_package("alsa-utils")
    names = ("Front_Left", "Front_Center", "Front_Right", "Side_Left", "Side_Right", "Rear_Left", "Rear_Center")
    parts = []
    for name in names:
        audio, rate = load_audio(root / "usr/share/sounds/alsa" / f"{name}.wav")
        parts += [to_mono(audio), np.zeros(int(0.15 * rate), dtype=np.float32)]
    return np.concatenate(parts), rate


def _sonic_pi(name: str, seconds: float | None = None) -> tuple[np.ndarray, int]:
    audio, rate = load_audio(debian_package("sonic-pi-samples") / "usr/share/sonic-pi/samples" / f"{name}.flac")
    mono = to_mono(audio)
    return (mono[: int(seconds * rate)] if seconds else mono), rate


def _melody(program: int, notes: list[tuple[int | tuple[int, ...], float]], tempo_bpm: float = 100.0):
    """Render ``notes`` (MIDI pitch or chord, beats) with General MIDI ``program`` from FluidR3 via fluidsynth."""
    soundfont = debian_package("fluid-soundfont-gm") / SOUNDFONT
    midi = CACHE / f"melody_{program}.mid"
    wav = CACHE / f"melody_{program}.wav"
    midi.write_bytes(_midi_file(program, notes, tempo_bpm))
    command = [_fluidsynth(), "-ni", "-g", "0.8", "-r", str(RENDER_RATE), "-F", str(wav), str(soundfont), str(midi)]
    subprocess.run(command, check=True, capture_output=True)
    audio, rate = load_audio(wav)
    return to_mono(audio), rate


def _midi_file(program: int, notes: list[tuple[int | tuple[int, ...], float]], tempo_bpm: float) -> bytes:
    """A format-0 Standard MIDI File: one channel, ``program``, the notes legato at velocity 90."""
    ticks = 480

    def varlen(value: int) -> bytes:
        out = [value & 0x7F]
        while value := value >> 7:
            out.insert(0, (value & 0x7F) | 0x80)
        return bytes(out)

    events = b"\x00\xff\x51\x03" + int(60e6 / tempo_bpm).to_bytes(3, "big") + bytes([0x00, 0xC0, program])
    for pitch, beats in notes:
        chord = pitch if isinstance(pitch, tuple) else (pitch,)
        events += b"".join(b"\x00" + bytes([0x90, p, 90]) for p in chord)
        events += b"".join(
            varlen(int(beats * ticks) if i == 0 else 0) + bytes([0x80, p, 0]) for i, p in enumerate(chord)
        )
    events += varlen(ticks) + b"\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, ticks)
    return header + b"MTrk" + struct.pack(">I", len(events)) + events


def debian_package(name: str) -> Path:
    """Unpacked contents of Debian package ``name`` (``apt-get download`` + ``dpkg-deb -x``, cached)."""
    root = CACHE / "debian" / name
    if not root.is_dir():
        download = CACHE / "debs"
        download.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", "-qq", name], cwd=download, check=True)
        deb = max(download.glob(f"{name}_*.deb"), key=os.path.getmtime)
        partial = root.with_name(f".{name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(partial)], check=True)
        partial.rename(root)
    return root


def _fluidsynth() -> str:
    found = shutil.which("fluidsynth")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("fluidsynth not found; install Debian's fluidsynth (apt-get install fluidsynth) and rerun")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "fluidsynth"], check=True, env=env, capture_output=True)
    return shutil.which("fluidsynth") or "fluidsynth"
