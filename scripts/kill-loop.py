#!/usr/bin/env python3
"""SIGKILL loop: kill `outbox append D --count 1000000 --concurrency 8 --print-ack` at random moments,
N times in a row on the same directory, and check after each reopen that every acknowledged sequence
number is still there (and that numbering stays dense from 1).

    python3 scripts/kill-loop.py [--rounds 10] [--seed S] [--tool .build/debug/outbox] [--dir D]
"""
import argparse, json, os, random, signal, subprocess, sys, tempfile, time

p = argparse.ArgumentParser()
p.add_argument("--rounds", type=int, default=10)
p.add_argument("--seed", type=int, default=None)
p.add_argument("--tool", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".build", "debug", "outbox"))
p.add_argument("--dir", default=None)
p.add_argument("--max-delay", type=float, default=3.0)
p.add_argument("--rotate", type=int, default=0, help="start a fresh outbox every N rounds (long runs)")
a = p.parse_args()
seed = a.seed if a.seed is not None else random.randrange(1, 2**63)
rng = random.Random(seed)
print(f"kill-loop: seed {seed} (rerun with --seed {seed})", flush=True)
base = a.dir or os.path.join(tempfile.mkdtemp(prefix="outbox-kill-"), "ob")
d = base
acked = set()
total_acked = 0
for r in range(a.rounds):
    if a.rotate and r % a.rotate == 0 and r > 0:
        total_acked += len(acked)
        acked = set()
        d = f"{base}-{r // a.rotate}"
    delay = rng.uniform(0.05, a.max_delay)
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([a.tool, "append", d, "--count", "1000000", "--concurrency", "8", "--print-ack"],
                                stdout=out, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        out.seek(0)
        text = out.read().decode()
    lines = text.split("\n")[:-1]  # the last piece may be a partial line
    new = {int(x) for x in lines}
    acked |= new
    # Reopen for writing (runs recovery), then read everything back.
    subprocess.run([a.tool, "append", d, "--count", "0"], check=True, stderr=subprocess.DEVNULL)
    seqs = [json.loads(l)["seq"] for l in subprocess.run([a.tool, "dump", d, "--json"], check=True,
                                                        capture_output=True, text=True).stdout.splitlines()]
    missing = acked - set(seqs)
    dense = seqs == list(range(1, len(seqs) + 1))
    failed = bool(missing) or not dense
    if failed or not a.rotate or (r + 1) % 50 == 0 or r + 1 == a.rounds:
        print(f"round {r + 1}: killed after {delay:.2f} s, {len(new)} new acks, {len(acked)} acked in all, "
              f"{len(seqs)} stored, missing {len(missing)}, dense {dense}", flush=True)
    if failed:
        print(f"FAIL: lost {sorted(missing)[:10]} dense={dense} (dir {d}, seed {seed})")
        sys.exit(1)
print(f"kill-loop: {a.rounds} kills, {total_acked + len(acked)} acknowledged messages, 0 lost (seed {seed})")
