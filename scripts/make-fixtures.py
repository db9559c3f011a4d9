#!/usr/bin/env python3
"""Regenerates Fixtures/outboxes: small valid and damaged outboxes, each with expected.json.

Run from the repository root after `swift build`:  python3 scripts/make-fixtures.py [NAME...]
(with names, only those fixtures are made again; `routes` is the one with per-route tombstones, `lanes`
the ones with lanes).
The outboxes are written by the real `outbox append`; the damage is applied here, byte by byte, at
offsets taken from `outbox dump --json`. Each expected.json says what every command must find:
{"open": "ok", "messages": N, ...} or {"open": "error", "code": ..., "file": ..., "offset": ...,
"verifyKind": ..., "messagesAfterRepair": N | "repair": "refused"}: opening for writing, reading (dump),
tailing (the relay, tail) and verify name the same file and offset; verify --repair keeps every byte it
replaces and leaves an outbox that opens with that many messages. "writer": "opens" marks damage inside a
sealed segment that open does not read (FORMAT.md §7: it checks a sealed segment by its seal); reading,
tailing and verify still find it.

The `v1-*`, `v3-*`, `v4-*`, `v5-*` and `v6-*` fixtures were written by builds of format versions 1, 3, 4, 5
and 6 and are kept as they are (this script leaves them alone): they check that older files are still read,
by the rules of their version, as FORMAT.md §9 says. The others are of the current version (8).
"""
import json, os, shutil, struct, subprocess, sys, tempfile, time, zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, ".build", "debug", "outbox")
OUT = os.path.join(ROOT, "Fixtures", "outboxes")


def run(*args):
    return subprocess.run([TOOL, *args], check=True, capture_output=True, text=True).stdout


def make(name, count, segment_size=1 << 20, keep_mark=False, lanes=("normal",)):
    """An outbox of `count` messages; with several `lanes`, the messages are spread over them in turns of
    one commit (append run) per lane."""
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    ob = os.path.join(d, "outbox")
    per = [count // len(lanes) + (1 if i < count % len(lanes) else 0) for i in range(len(lanes))]
    for lane, n in zip(lanes, per):
        run("append", ob, "--count", str(n), "--keys", "3", "--type", "FixtureEvent", "--lane", lane,
            "--header", "source=fixtures", "--segment-size", str(segment_size))
    os.remove(os.path.join(ob, "writer.lock"))
    # The durable mark says every appended message was made durable: damage the fixtures then apply to
    # acknowledged frames would be numbers missing (FORMAT.md §8) rather than what each one shows.
    if not keep_mark:
        os.remove(os.path.join(ob, "writer.durable"))
    frames = {}
    for line in run("dump", ob, "--json").splitlines():
        m = json.loads(line)
        frames.setdefault(m["segment"], [])
        if m["offset"] not in frames[m["segment"]]:
            frames[m["segment"]].append(m["offset"])
    return d, ob, frames


def make_sealed(name):
    """An outbox of several segments; returns make()'s values, the first (sealed) segment's name and path,
    and the offset of its seal (its last 40 bytes)."""
    d, ob, frames = make(name, 12, segment_size=600)
    seg = segments(ob)[0]
    path = os.path.join(ob, seg)
    return d, ob, frames, seg, path, os.path.getsize(path) - 40


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


def refresh_header_crc(path):
    with open(path, "rb") as f:
        header = bytearray(f.read(64))
    header[60:64] = struct.pack("<I", zlib.crc32(bytes(header[0:60])))
    patch(path, 0, bytes(header))


def reframe(path, offset, **fields):
    """Changes fields of the frame header at `offset` (first, count, kind) and recomputes its checksum,
    so that the frame is whole: valid checksum, wrong content."""
    with open(path, "rb") as f:
        data = f.read()
    header = bytearray(data[offset:offset + 24])
    length = struct.unpack_from("<I", header, 4)[0]
    if "first" in fields: struct.pack_into("<Q", header, 8, fields["first"])
    if "count" in fields: struct.pack_into("<I", header, 16, fields["count"])
    if "kind" in fields: struct.pack_into("<H", header, 20, fields["kind"])
    body = data[offset + 24:offset + 24 + length]
    crc = zlib.crc32(data[16:32] + data[32:40] + struct.pack("<Q", offset) + bytes(header[4:24]) + body)
    struct.pack_into("<I", header, 0, crc)
    patch(path, offset, bytes(header))


def retag(path, offset, tag):
    """Sets the write tag (flags) of the frame at `offset` and recomputes its checksum."""
    with open(path, "rb") as f:
        data = f.read()
    header = bytearray(data[offset:offset + 24])
    length = struct.unpack_from("<I", header, 4)[0]
    struct.pack_into("<H", header, 22, tag)
    body = data[offset + 24:offset + 24 + length]
    crc = zlib.crc32(data[16:32] + data[32:40] + struct.pack("<Q", offset) + bytes(header[4:24]) + body)
    struct.pack_into("<I", header, 0, crc)
    patch(path, offset, bytes(header))


def rebody(path, offset, body):
    """Replaces the body of the frame at `offset` by `body` of the same length and recomputes its checksum."""
    with open(path, "rb") as f:
        data = f.read()
    header = bytearray(data[offset:offset + 24])
    assert struct.unpack_from("<I", header, 4)[0] == len(body)
    crc = zlib.crc32(data[16:32] + data[32:40] + struct.pack("<Q", offset) + bytes(header[4:24]) + body)
    struct.pack_into("<I", header, 0, crc)
    patch(path, offset, bytes(header) + body)


def make_lanes():
    """Outboxes with lanes (FORMAT.md §4b, §3a): `lanes` holds messages of lanes critical, normal, bulk and
    a named one over several segments, whose seals carry lane filters; `seal-lanes-missing` is one whose
    first seal's filter leaves out a lane its frames hold (valid checksum)."""
    lanes = ("critical", "normal", "bulk", "camera-1")
    d, ob, frames = make("lanes", 12, segment_size=600, lanes=lanes)
    expect(d, open="ok", messages=12, segments=len(segments(ob)), lanes={l: 3 for l in lanes},
           description="a clean outbox of several segments with messages in four lanes (critical, normal, bulk, camera-1)")
    d, ob, frames = make("seal-lanes-missing", 12, segment_size=600, lanes=lanes)
    seg = segments(ob)[0]
    path = os.path.join(ob, seg)
    seal = os.path.getsize(path) - 40
    with open(path, "rb") as f:
        f.seek(seal + 24)
        body = bytearray(f.read(16))
    bit = zlib.crc32(b"critical") % 64
    assert struct.unpack_from("<Q", body, 8)[0] & (1 << bit), "the first segment holds critical messages"
    struct.pack_into("<Q", body, 8, struct.unpack_from("<Q", body, 8)[0] & ~(1 << bit))
    rebody(path, seal, bytes(body))
    expect(d, open="error", writer="opens", code="corrupt", file=seg, offset=seal, verifyKind="corrupt", messagesAfterRepair=12,
           description="a seal whose lane filter leaves out lane critical, which its frames hold (valid checksum): open trusts "
                       "it, reading the segment finds that it disagrees with its frames; repair rebuilds the seal")


def frame_first(path, offset):
    with open(path, "rb") as f:
        f.seek(offset + 8)
        return struct.unpack("<Q", f.read(8))[0]


def message_count(ob, seg):
    return sum(1 for line in run("dump", ob, "--json").splitlines() if json.loads(line)["segment"] == seg)


def make_routes():
    """An outbox a relay of two routes left (FORMAT.md §5c): route `alarms` (a file) published the alarms,
    route `telemetry` (a broker that never answers) holds the telemetry, and the one message no route
    takes is unrouted. Its tombstone log holds route starts, route ranges and the outbox's own records."""
    d = os.path.join(OUT, "routes")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    ob = os.path.join(d, "outbox")
    for kind, n in [("AlarmRaised", 2), ("TelemetryReading", 2), ("Other", 1), ("AlarmRaised", 1)]:
        run("append", ob, "--count", str(n), "--type", kind, "--keys", "3", "--header", "source=fixtures")
    work = tempfile.mkdtemp()
    config = os.path.join(work, "relay.json")
    with open(config, "w") as f:
        json.dump({"min-age": 0, "sweep-interval": 0.05, "routes": [
            {"name": "alarms", "sink": "file:" + os.path.join(work, "alarms.jsonl"), "match": {"type": "Alarm*"}},
            {"name": "telemetry", "sink": "mqtt://127.0.0.1:9?topic=t", "match": {"type": "Telemetry*"}}]}, f)
    relay = subprocess.Popen([TOOL, "relay", ob, "--config", config], stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while True:
        s = json.loads(run("stats", ob, "--json"))
        if s["published"] == 3 and s["unrouted"] == 1:
            break
        if time.time() > deadline:
            relay.kill()
            sys.exit("the relay did not publish the alarms: " + json.dumps(s))
        time.sleep(0.05)
    time.sleep(0.3)  # a few sweeps: the routes' starts are recorded
    relay.terminate()
    relay.wait()
    shutil.rmtree(work)
    for name in os.listdir(ob):
        if not name.startswith(("segment-", "tombstones-")):
            os.remove(os.path.join(ob, name))
    expect(d, open="ok", kind="routes", messages=6, published="1,2,6", unrouted="5", pending="3,4",
           routeAlarmsPublished="1,2,6", routeTelemetryPending="3,4",
           description="what a relay of two routes left: one route published its messages, the other's broker never "
                       "answered (its messages pending), one message no route takes (unrouted)")


def main():
    if not os.path.exists(TOOL):
        sys.exit("build first: swift build")
    os.makedirs(OUT, exist_ok=True)
    if sys.argv[1:] == ["routes"]:
        return make_routes()
    if sys.argv[1:] == ["lanes"]:
        return make_lanes()
    for name in os.listdir(OUT):
        if not name.startswith(("v1-", "v3-", "v4-", "v5-", "v6-")):
            shutil.rmtree(os.path.join(OUT, name))
    make_routes()
    make_lanes()

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

    # FORMAT.md §7, the torn last write: the last three commits re-encoded as one write (one write tag,
    # that of the offset where it begins), and its first frame's bytes zeroed, as when a power cut keeps
    # a write's later pages and not its earlier ones. Open cuts the whole write.
    d, ob, frames = make("torn-write", 8)
    seg = segments(ob)[-1]
    path = os.path.join(ob, seg)
    start = frames[seg][-3]
    tag = 1 + zlib.crc32(struct.pack("<Q", start)) % 32767
    for offset in frames[seg][-3:]:
        retag(path, offset, tag)
    second = frames[seg][-2]
    patch(path, start, b"\0" * (second - start))
    expect(d, open="ok", messages=5, file=seg, sizeAfterOpen=start,
           description="the last write (three frames) with its first frame zeroed and its later ones whole: a torn write, cut at open")

    # The same bytes, but the three frames are three writes (as appended): zeros followed by frames of
    # other writes are damage, not a torn write.
    d, ob, frames = make("zeroed-before-other-writes", 8)
    seg = segments(ob)[-1]
    path = os.path.join(ob, seg)
    start = frames[seg][-3]
    patch(path, start, b"\0" * (frames[seg][-2] - start))
    expect(d, open="error", code="corrupt", file=seg, offset=start, verifyKind="corrupt", messagesAfterRepair=7, readers=5,
           description="a zeroed frame followed by frames of later writes: damage in a durable write, not a torn one "
                       "(readers, which take a zero header in the active segment for the end of what is written, stop before it)")

    d, ob, frames = make("mid-segment-flip", 12, segment_size=600)
    seg = segments(ob)[0]
    path = os.path.join(ob, seg)
    victim = frames[seg][1]
    with open(path, "rb") as f:
        f.seek(victim + 40)
        b = f.read(1)
    patch(path, victim + 40, bytes([b[0] ^ 0x10]))
    expect(d, open="error", writer="opens", code="corrupt", file=seg, offset=victim, verifyKind="corrupt", messagesAfterRepair=11,
           description="one bit flipped inside the second frame of a sealed segment: open checks the segment by its seal, "
                       "reading finds the damage")

    d, ob, frames, seg, path, seal = make_sealed("seal-flip")
    patch(path, seal + 28, bytes([open(path, "rb").read()[seal + 28] ^ 0x04]))
    expect(d, open="error", code="corrupt", file=seg, offset=seal, verifyKind="corrupt", messagesAfterRepair=12,
           description="one bit flipped in the seal of a sealed segment: open checks that segment in full and refuses it; "
                       "repair rebuilds it with a new seal and loses nothing")

    d, ob, frames, seg, path, seal = make_sealed("seal-miscount")
    reframe(path, seal, count=len(frames[seg]) + 1)
    expect(d, open="error", writer="opens", code="corrupt", file=seg, offset=seal, verifyKind="corrupt", messagesAfterRepair=12,
           description="a seal that counts one frame too many (valid checksum): open trusts it, reading the segment finds "
                       "that it disagrees with its frames")

    d, ob, frames = make("sealed-cut-short", 12, segment_size=600)
    seg, after = segments(ob)[0], segments(ob)[1]
    path = os.path.join(ob, seg)
    lost = sum(1 for line in run("dump", ob, "--json").splitlines()
               if json.loads(line)["segment"] == seg and json.loads(line)["offset"] == frames[seg][-1])
    os.truncate(path, frames[seg][-1])
    expect(d, open="error", code="corrupt", file=seg, offset=frames[seg][-1], verifyKind="corrupt", messagesAfterRepair=12 - lost, rawFinds="nothing",
           description="a sealed segment lost its last frame and its seal: open checks it in full and finds it ends without "
                       "its seal (a version-4 sealed segment always has one); repair makes the lost number a hole")

    d, ob, frames, seg, path, seal = make_sealed("seal-zeroed")
    patch(path, seal, b"\0" * 40)
    expect(d, open="error", code="corrupt", file=seg, offset=seal, verifyKind="corrupt", messagesAfterRepair=12, rawFinds="nothing",
           description="the seal of a sealed segment zeroed, its frames whole: nothing is lost, but bytes were; found by open, "
                       "the readers and verify; repair rebuilds the segment with a new seal")

    # FORMAT.md §8: the last two frames of the active segment zeroed, which the durable mark says were made
    # durable: the log ends below numbers it gave. Open refuses (giving them again would make new messages
    # look published, or deduplicated away, where tombstones or a broker knew them); repair makes them a hole.
    d, ob, frames = make("zeroed-tail-durable", 6, keep_mark=True)
    seg = segments(ob)[-1]
    path = os.path.join(ob, seg)
    start = frames[seg][-2]
    size = os.path.getsize(path)
    patch(path, start, b"\0" * (size - start))
    expect(d, open="error", code="corrupt", file=seg, offset=start, verifyKind="numbers-missing", messagesAfterRepair=4, readers=4, rawFinds="nothing",
           description="the last two frames of the active segment zeroed, which writer.durable says were durable: open refuses "
                       "to give their numbers again; repair makes them a hole (readers stop at the zeros)")

    d, ob, frames = make("active-flip", 6)
    seg = segments(ob)[-1]
    path = os.path.join(ob, seg)
    victim = frames[seg][2]
    with open(path, "rb") as f:
        f.seek(victim + 30)
        b = f.read(1)
    patch(path, victim + 30, bytes([b[0] ^ 0x01]))
    expect(d, open="error", code="corrupt", file=seg, offset=victim, verifyKind="corrupt", messagesAfterRepair=5,
           description="a damaged frame in the active segment followed by valid ones: not a torn tail")

    d, ob, frames = make("bad-header-version", 3)
    seg = segments(ob)[0]
    path = os.path.join(ob, seg)
    with open(path, "rb") as f:
        header = bytearray(f.read(64))
    header[8:10] = struct.pack("<H", 9)  # a version no build reads yet
    header[60:64] = struct.pack("<I", zlib.crc32(bytes(header[0:60])))
    patch(path, 0, bytes(header))
    expect(d, open="error", code="unsupported-version", file=seg, offset=8, verifyKind="unsupported-version", repair="refused",
           description="a segment written by format version 9 (valid checksum): refused, not guessed at")

    d, ob, frames = make("bad-header-checksum", 3)
    seg = segments(ob)[0]
    path = os.path.join(ob, seg)
    patch(path, 33, b"\x7f")
    expect(d, open="error", code="corrupt", file=seg, offset=60, verifyKind="bad-header", messagesAfterRepair=3,
           description="a damaged base field in a segment header")

    for place, pick in (("last", -1), ("middle", 1)):
        d, ob, frames = make("foreign-id-" + place, 12, segment_size=600)
        seg = segments(ob)[pick]
        path = os.path.join(ob, seg)
        patch(path, 16, bytes([open(path, "rb").read()[16] ^ 0xFF]))
        refresh_header_crc(path)
        expect(d, open="error", code="corrupt", file=seg, offset=16, verifyKind="foreign-outbox", messagesAfterRepair=12,
               description=f"the {place} segment's header names another outbox (valid header checksum), its frames are this outbox's: "
                           "repair rewrites the header and loses nothing")

    d, ob, frames = make("foreign-file", 12, segment_size=600)
    other = os.path.join(d, "other")
    run("append", other, "--count", "12", "--keys", "3", "--type", "FixtureEvent", "--header", "source=fixtures", "--segment-size", "600")
    seg = segments(ob)[1]
    lost = message_count(ob, seg)
    shutil.copyfile(os.path.join(other, seg), os.path.join(ob, seg))
    shutil.rmtree(other)
    expect(d, open="error", code="corrupt", file=seg, offset=16, verifyKind="foreign-outbox", messagesAfterRepair=12 - lost,
           description="the middle segment is another outbox's file: repair moves it aside intact and its numbers become a hole")

    d, ob, frames = make("missing-middle", 12, segment_size=600)
    middle, after = segments(ob)[1], segments(ob)[2]
    lost = message_count(ob, middle)
    os.remove(os.path.join(ob, middle))
    expect(d, open="error", code="corrupt", file=after, offset=32, verifyKind="sequence-gap", messagesAfterRepair=12 - lost,
           description="the middle segment is missing: every command names the gap at the next segment; repair makes it a hole")

    d, ob, frames = make("frame-overlap", 12, segment_size=600)
    seg = segments(ob)[0]
    path = os.path.join(ob, seg)
    victim = frames[seg][1]
    reframe(path, victim, first=frame_first(path, frames[seg][0]))
    expect(d, open="error", writer="opens", code="corrupt", file=seg, offset=victim, verifyKind="sequence-gap", messagesAfterRepair=11,
           description="the second frame of a sealed segment claims the first frame's sequence number (valid checksum): an overlap "
                       "that reading finds (open checks the segment by its seal)")

    d, ob, frames = make("whole-frame-tail", 6)
    seg = segments(ob)[-1]
    path = os.path.join(ob, seg)
    victim = frames[seg][-1]
    reframe(path, victim, kind=99)
    expect(d, open="error", code="corrupt", file=seg, offset=victim, verifyKind="corrupt", messagesAfterRepair=5,
           description="the last frame of the active segment has an unknown kind but a valid checksum: written whole, "
                       "so it is refused, never cut off as a torn tail")


main()
