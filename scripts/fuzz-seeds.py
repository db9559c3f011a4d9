#!/usr/bin/env python3
"""Writes the fuzzers' seed inputs into DIR/seeds-<harness>/, built from Fixtures/outboxes."""
import os, struct, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out = sys.argv[1]
fixtures = os.path.join(root, "Fixtures", "outboxes")
names = ["segment-00000000000000000001.log", "segment-00000000000000000005.log", "segment-00000000000000000009.log",
         "tombstones-00000000000000000001.log", "tombstones-00000000000000000002.log", "dead-letters.log",
         ".tmp-segment-00000000000000000009.log", "junk"]


def put(harness, name, data):
    d = os.path.join(out, "seeds-" + harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def varint(v):
    b = bytearray()
    while v >= 0x80:
        b.append((v & 0x7F) | 0x80)
        v >>= 7
    b.append(v)
    return bytes(b)


for fixture in sorted(os.listdir(fixtures)):
    ob = os.path.join(fixtures, fixture, "outbox")
    records = bytearray()
    for name in sorted(os.listdir(ob)):
        data = open(os.path.join(ob, name), "rb").read()
        if name.startswith("segment-"):
            put("FuzzSegment", fixture + "-" + name, data)
        if name.startswith("tombstones-"):
            put("FuzzTombstones", fixture + "-" + name, data)
        selector = names.index(name) if name in names else (1 if name.startswith("segment-") else 7)
        for i in range(0, len(data), 65535):
            chunk = data[i:i + 65535]
            records += bytes([selector]) + struct.pack("<H", len(chunk)) + chunk
    put("FuzzDirectory", fixture, bytes(records))

# Tombstone range bodies: [count][varint delta, varint span]...
for n, ranges in enumerate([[(1, 0)], [(1, 99)], [(1, 5), (3, 0), (10, 7)], [(1000000, 3), (2, 2)]]):
    put("FuzzTombstones", f"ranges-{n}", bytes([len(ranges)]) + b"".join(varint(d) + varint(s) for d, s in ranges))
