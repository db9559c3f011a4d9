#!/usr/bin/env python3
"""Regenerates Fixtures/outboxes: small valid and damaged outboxes, each with expected.json.

Run from the repository root after `swift build`:  python3 scripts/make-fixtures.py
The outboxes are written by the real `outbox append`; the damage is applied here, byte by byte, at
offsets taken from `outbox dump --json`. Each expected.json says what opening the outbox for writing
must do: {"open": "ok", "messages": N, "segmentSizeAfterOpen": {...}} or
{"open": "error", "code": ..., "file": ..., "offset": ...}.
"""
import json, os, shutil, struct, subprocess, sys, zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, ".build", "debug", "outbox")
OUT = os.path.join(ROOT, "Fixtures", "outboxes")


def run(*args):
    return subprocess.run([TOOL, *args], check=True, capture_output=True, text=True).stdout


def make(name, count, segment_size=1 << 20):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    ob = os.path.join(d, "outbox")
    run("append", ob, "--count", str(count), "--keys", "3", "--type", "FixtureEvent",
        "--header", "source=fixtures", "--segment-size", str(segment_size))
    os.remove(os.path.join(ob, "writer.lock"))
    frames = {}
    for line in run("dump", ob, "--json").splitlines():
        m = json.loads(line)
        frames.setdefault(m["segment"], [])
        if m["offset"] not in frames[m["segment"]]:
            frames[m["segment"]].append(m["offset"])
    return d, ob, frames


def segments(ob):
    return sorted(n for n in os.listdir(ob) if n.startswith("segment-"))


def expect(d, **values):
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(values, f, indent=2, sort_keys=True)
        f.write("\n")


def patch(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def main():
    if not os.path.exists(TOOL):
        sys.exit("build first: swift build")
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)

    d, ob, frames = make("valid", 12, segment_size=600)
    expect(d, open="ok", messages=12, segments=len(segments(ob)),
           description="a clean outbox of several segments")

    d, ob, frames = make("torn-tail", 6)
    seg = segments(ob)[-1]
    path = os.path.join(ob, seg)
    last = frames[seg][-1]
    os.truncate(path, last + 30)
    expect(d, open="ok", messages=5, file=seg, sizeAfterOpen=last,
           description="the last frame of the active segment cut 30 bytes in; recovery truncates it")

    d, ob, frames = make("zero-tail", 6)
    seg = segments(ob)[-1]
    path = os.path.join(ob, seg)
    size = os.path.getsize(path)
    last = frames[seg][-1]
    patch(path, last + 10, b"\0" * (size - last - 10 + 512))
    expect(d, open="ok", messages=5, file=seg, sizeAfterOpen=last,
           description="the last frame runs into zero bytes (a preallocated or half-written tail)")

    d, ob, frames = make("mid-segment-flip", 12, segment_size=600)
    seg = segments(ob)[0]
    path = os.path.join(ob, seg)
    victim = frames[seg][1]
    with open(path, "rb") as f:
        f.seek(victim + 40)
        b = f.read(1)
    patch(path, victim + 40, bytes([b[0] ^ 0x10]))
    expect(d, open="error", code="corrupt", file=seg, offset=victim,
           description="one bit flipped inside the second frame of a sealed segment")

    d, ob, frames = make("active-flip", 6)
    seg = segments(ob)[-1]
    path = os.path.join(ob, seg)
    victim = frames[seg][2]
    with open(path, "rb") as f:
        f.seek(victim + 30)
        b = f.read(1)
    patch(path, victim + 30, bytes([b[0] ^ 0x01]))
    expect(d, open="error", code="corrupt", file=seg, offset=victim,
           description="a damaged frame in the active segment followed by valid ones: not a torn tail")

    d, ob, frames = make("bad-header-version", 3)
    seg = segments(ob)[0]
    path = os.path.join(ob, seg)
    with open(path, "rb") as f:
        header = bytearray(f.read(64))
    header[8:10] = struct.pack("<H", 2)
    header[60:64] = struct.pack("<I", zlib.crc32(bytes(header[0:60])))
    patch(path, 0, bytes(header))
    expect(d, open="error", code="unsupported-version", file=seg, offset=8,
           description="a segment written by format version 2 (valid checksum): refused, not guessed at")

    d, ob, frames = make("bad-header-checksum", 3)
    seg = segments(ob)[0]
    path = os.path.join(ob, seg)
    patch(path, 33, b"\x7f")
    expect(d, open="error", code="corrupt", file=seg, offset=60,
           description="a damaged base field in a segment header")


main()
