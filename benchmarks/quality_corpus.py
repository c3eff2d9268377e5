"""Real recordings for the quality benchmark, fetched at benchmark time and never committed.

Sources:
- speech: the seed examples beside the checkout (``../shared/data/seed_examples``) and the spoken channel names
  that Debian's ``alsa-utils`` ships (one female speaker, joined into one utterance);
- instruments: melodies rendered from Debian's ``fluid-soundfont-gm`` (FluidR3, sampled real instruments) with
  ``fluidsynth``, and the trumpet seed example;
- percussion and sustained textures: loops and samples from Debian's ``sonic-pi-samples``;
- polyphony, decays and pauses: piano chords, a string ensemble and a choir (General MIDI patches of FluidR3
  playing chords), a plucked nylon guitar with a soft lead-in, long decays and a pause;
- synthetic voices: ``espeak-ng`` (voices ``en-us`` and ``en-gb+f3``).

Debian packages are downloaded with ``apt-get download`` and unpacked with ``dpkg-deb -x`` into the cache folder
(no root needed). ``fluidsynth`` and ``espeak-ng`` themselves are installed with ``apt-get install`` when they are
missing and we are root.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from benchmarks.common import SEED_EXAMPLES
from workflow_scripts.audio.audio_io import load_audio, to_mono

CACHE = Path("bench_out/quality/sources")
SOUNDFONT = "usr/share/sounds/sf2/FluidR3_GM.sf2"
RENDER_RATE = 44100


@dataclass(frozen=True)
class BenchClip:
    id: str
    kind: str  # speech | music
    what: str
    polyphonic: bool = False  # chords: the harmony (chroma) targets apply to it as content


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
    BenchClip("organ", "music", "FluidR3 church organ chords (fluidsynth)", polyphonic=True),
    BenchClip("piano_chords", "music", "FluidR3 piano chords with decays and a pause (fluidsynth)", polyphonic=True),
    BenchClip("strings", "music", "FluidR3 string ensemble chords (fluidsynth)", polyphonic=True),
    BenchClip("choir", "music", "FluidR3 choir aahs chords (fluidsynth)", polyphonic=True),
    BenchClip("nylon", "music", "FluidR3 nylon guitar: soft lead-in, plucked decays, a pause (fluidsynth)"),
    BenchClip("flute", "music", "FluidR3 flute melody (fluidsynth)"),
    BenchClip("voice_us", "speech", "espeak-ng en-us: synthetic male voice"),
    BenchClip("voice_gb", "speech", "espeak-ng en-gb+f3: synthetic female voice"),
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
    BenchPair("piano_chords", "strings", "polyphonic"),
    BenchPair("choir", "organ", "polyphonic"),
    BenchPair("nylon", "flute", "decays and pauses"),
    BenchPair("voice_us", "voice_gb", "speaker to speaker"),
    BenchPair("voice_gb", "voice_us", "speaker to speaker"),
)
# General MIDI chords (pitch tuples) used by several clips: C, F, G7 and A minor around middle C.
C, F, G7, AM = (48, 60, 64, 67), (53, 60, 65, 69), (55, 59, 65, 67), (57, 60, 64, 69)


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
        # long decays: each chord struck and left to ring; a pause (a rest) before the last one
        "piano_chords": lambda: _melody(0, [(C, 2), (F, 2), (G7, 1), (AM, 3), ((), 1.5), (C, 3)]),
        "strings": lambda: _melody(48, [(AM, 2), (F, 2), (C, 2), (G7, 2)]),
        "choir": lambda: _melody(52, [(C, 2), (AM, 2), (F, 2), (G7, 1.5), ((), 0.5), (C, 2)]),
        # a soft lead-in (velocity 30), plucked notes that decay, a pause, a last note left to ring
        "nylon": lambda: _melody(24, [(52, 2, 30), (64, 1), (67, 1), (71, 2), ((), 1.5), (64, 1), (60, 3)]),
        "flute": lambda: _melody(73, [(72, 1), (74, 1), (76, 1.5), (79, 0.5), (77, 1), (76, 1), (74, 2)]),
        "voice_us": lambda: _espeak("en-us", "The weather was clear and calm, so we walked along the river "
                                             "until the evening light began to fade."),
        "voice_gb": lambda: _espeak("en-gb+f3", "Please remember to bring your notebook, because tomorrow we "
                                                "will start the chapter about rivers and mountains."),
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


Note = tuple  # (MIDI pitch, or a chord as a tuple of pitches, or () for a rest; beats[; velocity])


def _melody(program: int, notes: list[Note], tempo_bpm: float = 100.0):
    """Render ``notes`` with General MIDI ``program`` from FluidR3 via fluidsynth."""
    soundfont = debian_package("fluid-soundfont-gm") / SOUNDFONT
    stem = CACHE / f"melody_{program}_{zlib.crc32(repr(notes).encode()):08x}"
    midi, wav = stem.with_suffix(".mid"), stem.with_suffix(".wav")
    midi.write_bytes(_midi_file(program, notes, tempo_bpm))
    command = [_debian_tool("fluidsynth"), "-ni", "-g", "0.8", "-r", str(RENDER_RATE), "-F", str(wav),
               str(soundfont), str(midi)]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    audio, rate = load_audio(wav)
    return to_mono(audio), rate


def _midi_file(program: int, notes: list[Note], tempo_bpm: float) -> bytes:
    """A format-0 Standard MIDI File: one channel, ``program``, the notes legato (velocity 90 unless given)."""
    ticks = 480

    def varlen(value: int) -> bytes:
        out = [value & 0x7F]
        while value := value >> 7:
            out.insert(0, (value & 0x7F) | 0x80)
        return bytes(out)

    events = b"\x00\xff\x51\x03" + int(60e6 / tempo_bpm).to_bytes(3, "big") + bytes([0x00, 0xC0, program])
    rest = 0  # ticks of silence before the next event
    for pitch, beats, *velocity in notes:
        chord = pitch if isinstance(pitch, tuple) else (pitch,)
        if not chord:
            rest += int(beats * ticks)
            continue
        events += b"".join(
            varlen(rest if i == 0 else 0) + bytes([0x90, p, velocity[0] if velocity else 90])
            for i, p in enumerate(chord)
        )
        events += b"".join(
            varlen(int(beats * ticks) if i == 0 else 0) + bytes([0x80, p, 0]) for i, p in enumerate(chord)
        )
        rest = 0
    events += varlen(ticks + rest) + b"\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, ticks)
    return header + b"MTrk" + struct.pack(">I", len(events)) + events


def _espeak(voice: str, text: str) -> tuple[np.ndarray, int]:
    """``text`` spoken by espeak-ng's ``voice`` (a synthetic voice; 22.05 kHz)."""
    wav = CACHE / f"espeak_{voice.replace('+', '_')}.wav"
    wav.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([_debian_tool("espeak-ng"), "-v", voice, "-w", str(wav), text], check=True, capture_output=True)
    audio, rate = load_audio(wav)
    return to_mono(audio), rate


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


def _debian_tool(command: str) -> str:
    """Path of ``command``, installed from the Debian package of the same name when missing and we are root."""
    found = shutil.which(command)
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit(f"{command} not found; install Debian's {command} (apt-get install {command}) and rerun")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", command], check=True, env=env, capture_output=True)
    return shutil.which(command) or command
