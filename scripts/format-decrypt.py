#!/usr/bin/env python3
"""An independent reader of outboxes, encrypted or not, written from FORMAT.md alone (§2, §3, §4, §4b, §4c, §5a, §10).

    scripts/format-decrypt.py OUTBOX KEYFILE

Prints one JSON object per message of every segment (and per dead letter), in file order:
{"file", "seq", "id", "type", "key", "lane", "headers", "payload" (hex), "createdAtMicros", and from version 8
"schemaVersion" (when stated) and "commitClock"}. Exits 1, naming the file and the
offset, on anything that does not follow the format. Needs Python's `cryptography` package. Used by the
Swift tests to check that FORMAT.md says enough to decrypt every frame.
"""
import base64, binascii, hashlib, hmac, json, os, struct, sys, zlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def fail(where, why):
    print(f"{where}: {why}", file=sys.stderr)
    sys.exit(1)


def load_keys(path):
    data = open(path, "rb").read()
    if len(data) == 32:
        return [data]
    keys = []
    for line in data.decode("utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key = bytes.fromhex(line) if len(line) == 64 else base64.b64decode(line)
        if len(key) != 32:
            fail(path, "a key that is not 32 bytes")
        keys.append(key)
    return keys


def key_id(key):
    return hmac.new(key, b"outbox key id v1", hashlib.sha256).digest()[:8]


def data_key(master, outbox_id, magic, base, epoch):
    info = b"outbox v7 data key" + magic + struct.pack("<Q", base) + struct.pack("<Q", epoch)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=outbox_id, info=info).derive(master)


def open_envelope(env, keys, outbox_id, magic, base, offset, header_fields, prefix, where):
    if len(env) < 33:
        fail(where, "an envelope shorter than 33 bytes")
    cipher, kid, epoch = env[0], env[1:9], struct.unpack("<Q", env[9:17])[0]
    master = next((k for k in keys if key_id(k) == kid), None)
    if master is None:
        fail(where, f"no key with id {kid.hex()}")
    dk = data_key(master, outbox_id, magic, base, epoch)
    nonce = struct.pack("<Q", offset) + b"\0\0\0\0"
    aad = outbox_id + magic + struct.pack("<Q", base) + struct.pack("<Q", offset) + header_fields + prefix
    aead = {1: AESGCM, 2: ChaCha20Poly1305}.get(cipher)
    if aead is None:
        fail(where, f"cipher {cipher}")
    return aead(dk).decrypt(nonce, env[17:], aad)  # ciphertext || tag


def records(body, count, lanes, dead_letter, stamped, where):
    """The messages of a body of records (§4), each as a dict; `stamped`: the commit's clock (§4c, a
    version-8 segment) comes first."""
    out, i, clock = [], 0, None
    if stamped:
        wall, boot, since, cflags = struct.unpack_from("<q16sqB", body, 0)
        if since < 0 or cflags & ~1:
            fail(where, "a commit clock that is not one")
        clock = {"wallMicros": wall, "bootID": str(binascii.hexlify(boot), "ascii"), "bootMicros": since, "synchronized": bool(cflags & 1)}
        i = 33
    for _ in range(count):
        (length,) = struct.unpack_from("<I", body, i)
        r, i = body[i + 4:i + 4 + length], i + 4 + length
        mid, created, flags, lane_index, nheaders = r[0:16], *struct.unpack_from("<qBBH", r, 16)
        j = 28
        def text(nbytes):
            nonlocal j
            (n,) = struct.unpack_from("<H" if nbytes == 2 else ("<B" if nbytes == 1 else "<I"), r, j)
            j += nbytes
            s = r[j:j + n].decode("utf-8")
            j += n
            return s
        mtype = text(2)
        key = text(2) if flags & 1 else None
        schema = None
        if flags & 8:
            if not stamped:
                fail(where, "a schema version outside a version-8 segment")
            (schema,) = struct.unpack_from("<I", r, j)
            j += 4
        lane = lanes[lane_index] if lanes else "normal"
        if flags & 4:
            lane = text(1)
        headers = []
        for _ in range(nheaders):
            name = text(2)
            headers.append([name, text(4)])
        (stored,) = struct.unpack_from("<I", r, j)
        j += 4
        if flags & 2:
            (original,) = struct.unpack_from("<I", r, j)
            j += 4
            payload = zlib.decompress(r[j:j + stored])
            if len(payload) != original:
                fail(where, "a payload that inflates to another length")
        else:
            payload = r[j:j + stored]
        j += stored
        if j != len(r):
            fail(where, "a record its fields do not fill")
        m = {"id": str(binascii.hexlify(mid), "ascii"), "type": mtype, "key": key, "lane": lane,
             "headers": headers, "payload": payload.hex(), "createdAtMicros": created}
        if schema is not None:
            m["schemaVersion"] = schema
        if clock is not None:
            m["commitClock"] = clock
        out.append(m)
    if i != len(body):
        fail(where, "records that do not fill the body")
    return out


def read_file(path, keys, dead_letters):
    data = open(path, "rb").read()
    magic, version, hlen, flags = data[0:8], *struct.unpack_from("<HHI", data, 8)
    outbox_id, base = data[16:32], struct.unpack_from("<Q", data, 32)[0]
    if zlib.crc32(data[0:60]) != struct.unpack_from("<I", data, 60)[0]:
        fail(path, "header checksum")
    encrypted = version >= 7 and flags == 1
    at, name = 64, os.path.basename(path)
    while at + 24 <= len(data):
        crc, length, first, count, kind, fflags = struct.unpack_from("<IIQIHH", data, at)
        if length == 0 and crc == 0:
            break  # zeros allocated ahead (§7)
        body = data[at + 24:at + 24 + length]
        check = zlib.crc32(outbox_id + struct.pack("<Q", base) + struct.pack("<Q", at) + data[at + 4:at + 24] + body)
        if check != crc:
            fail(f"{path} at offset {at}", "frame checksum")
        where = f"{path} at offset {at}"
        if kind in (1, 14, 4):
            prefix, lanes = b"", None
            if kind == 14:
                n, k = body[0], 1
                lanes = []
                for _ in range(n):
                    lanes.append(body[k + 1:k + 1 + body[k]].decode("ascii"))
                    k += 1 + body[k]
                prefix = body[:k]
            rest = body[len(prefix):]
            if encrypted:
                rest = open_envelope(rest, keys, outbox_id, magic, base, at, data[at + 4:at + 22], prefix, where)
            for i, m in enumerate(records(rest, count, lanes, kind == 4, version >= 8 and kind != 4, where)):
                m["file"], m["seq"] = name, first + i
                print(json.dumps(m, sort_keys=True))
        at += 24 + length


def main():
    if len(sys.argv) != 3:
        fail("usage", "format-decrypt.py OUTBOX KEYFILE")
    outbox, keys = sys.argv[1], load_keys(sys.argv[2])
    for name in sorted(os.listdir(outbox)):
        if name.startswith("segment-") and name.endswith(".log"):
            read_file(os.path.join(outbox, name), keys, False)
    if os.path.exists(os.path.join(outbox, "dead-letters.log")):
        read_file(os.path.join(outbox, "dead-letters.log"), keys, True)


main()
