#!/usr/bin/env python3
"""Seeds for tests/fuzz/fuzz_mig_src.c that reach what a short fuzzing run rarely does: a
migration whose pages are sent again as deltas (MIG_FEAT_DELTA taken) and that commits, so
the harness compares the target's RAM, rebuilt from those deltas, with the guest's.

The input format is the harness's (its top comment): config bytes 0-5, then operations, each
a byte (% 12) and its own bytes. Each seed: the peer's send window shrinks to a few records so
that round 0 goes out over several steps, the peer takes the features, the guest changes a
few bytes of pages round 0 has sent (pages 0, 61, 122, ... hold data at the start), the rest
is acknowledged with time passing, and the peer acknowledges the COMMIT.

One more seed reaches what the harness checks on a failure after the stop: three streams,
the third's window stuck on the last pages it must send when its connection is lost, after
the whole COMMIT went on the first. The target cannot have committed (a stream had not
ended), so the guest must resume on the source, not stay paused while the source asks.

    tests/fuzz/seeds_mig_src.py DIR              writes the seeds into DIR (a fuzzing corpus)
    tests/fuzz/seeds_mig_src.py --check FUZZER DIR
                                                 runs FUZZER on each seed in DIR and checks
                                                 that it still ends as its entry says
`make fuzz` writes them, checks them (FUZZ_MIG_SRC_REPORT=1 prints the source's result
lines), then fuzzes from them.
"""
import os
import re
import subprocess
import sys

OP_RECORD, OP_ACK, OP_TIME, OP_CLOSE, OP_CONNECT, OP_GUEST, OP_FAULTS, OP_ACK_ALL = \
    0, 2, 3, 4, 5, 6, 9, 11
REC_ACCEPT, REC_COMMIT_ACK = 0, 1
LZ4, DELTA = 1, 2
COMPRESS_OFF, TWO_VCPUS, HOLE, STREAMS = 0x40, 0x01, 0x02, 0x80   # config byte 0
HOLE4, STREAMS3 = 0x02, 0x80                    # config bytes 4 and 5 (with HOLE, STREAMS)


def accept(features):
    """ACCEPT taking features; with several streams asked for, features' high nibble k grants
    1 + k % asked of them."""
    return [OP_RECORD, REC_ACCEPT, features]


def commit_ack():
    return [OP_RECORD, REC_COMMIT_ACK, 0]


def window(q):
    """op_faults with only its window bit: (q + 1) * 64 bytes may be in flight."""
    return [OP_FAULTS, 0x40, q]


def guest(page, pages, value, at32, len4):
    """The guest writes value into bytes [at32 * 32, + 1 + len4 * 4) of pages from page."""
    return [OP_GUEST, page & 0xff, page >> 8, pages - 1, value, 0x80 | at32, len4]


STEP = [OP_ACK_ALL, OP_TIME, 5]                 # everything arrived, 50 ms pass


def seed(config0, features, plan, q=0x0f, config4=0, config5=0, lanes=0, end=None):
    s = [config0, 0x00, 0xff, 0x00, config4, config5]  # running, downtime 1020 ms, handshake ok
    s += STEP + window(q) + accept(features)
    s += [OP_CONNECT, 0] * lanes                # the further streams come up
    for part in plan:
        s += part
    s += STEP * 80 + commit_ack() + STEP * 5 if end is None else end
    return bytes(s)


def ack_main(units):
    """The first stream's peer acknowledges units * 512 bytes (units 1..128)."""
    return [OP_ACK, 127 + units]


def close_newest_stream():
    """The newest live connection (the last further stream) is lost (ECONNRESET)."""
    return [OP_CLOSE, 0x80 | 1]


DELTAS = r"migrate: done .*delta_pages=[1-9]"


SEEDS = {
    "delta_raw": (seed(COMPRESS_OFF, DELTA, [
        STEP * 2, guest(0, 1, 0x5a, 1, 8), STEP * 3, guest(61, 1, 0x5b, 9, 2),
        STEP * 3, guest(122, 1, 0x5c, 30, 20)]), DELTAS),
    "delta_lz4": (seed(0x00, LZ4 | DELTA, [
        STEP * 2, guest(0, 1, 0x5a, 1, 8), STEP * 3, guest(61, 1, 0x5b, 9, 2),
        STEP * 3, guest(122, 1, 0x5c, 30, 20)], q=0), DELTAS),
    "delta_twice": (seed(COMPRESS_OFF, DELTA, [
        STEP * 2, guest(0, 2, 0x44, 3, 10), STEP * 4, guest(0, 2, 0x45, 3, 10),
        STEP * 2, guest(183, 1, 0x46, 100, 255)]), DELTAS),
    # Three streams over 2 MiB and 1 MiB past the hole at 4 GiB: the low chunk is the first
    # stream's, the high one the third's (chunk 2048 % 3), the second carries none; each
    # opens with JOIN and ends with STREAM_END, and the target's RAM is compared once all did.
    "delta_streams": (seed(COMPRESS_OFF | HOLE | STREAMS, DELTA | 0x20, [
        STEP * 2, guest(0, 1, 0x5a, 1, 8), STEP * 3, guest(61, 1, 0x5b, 9, 2),
        STEP * 3, guest(122, 1, 0x5c, 30, 20)], config4=HOLE4, config5=STREAMS3, lanes=2),
        DELTAS),
    "delta_two_vcpus": (seed(COMPRESS_OFF | TWO_VCPUS, DELTA, [
        STEP * 2, guest(0, 1, 0x66, 7, 60), STEP, guest(0, 1, 0x67, 8, 1),
        STEP * 3, guest(244, 1, 0x68, 0, 255)]), DELTAS),
    # The third stream's window holds its last pages (written just before the stop) when its
    # connection is lost; the whole COMMIT went on the first: the guest resumes here.
    "stream_lost_at_commit": (seed(COMPRESS_OFF | HOLE | STREAMS, DELTA | 0x20, [
        STEP * 2, guest(0, 1, 0x5a, 1, 8), STEP * 33, guest(600, 4, 0x77, 0, 255)],
        config4=HOLE4, config5=STREAMS3, lanes=2,
        end=(ack_main(128) + [OP_TIME, 5]) * 8 + close_newest_stream() + STEP * 60),
        r"migrate: failed vm=vm1 phase=commit reason=stream 2: connection lost$"),
}


def check(fuzzer, corpus):
    """Each seed still ends as its entry says (its last result line matches)."""
    bad = 0
    for name, (_, want) in SEEDS.items():
        path = os.path.join(corpus, f"seed_{name}")
        run = subprocess.run([fuzzer, path], env=dict(os.environ, FUZZ_MIG_SRC_REPORT="1"),
                             capture_output=True, text=True, check=False)
        lines = [ln for ln in run.stderr.splitlines() if ln.startswith("migrate: ")]
        if run.returncode or not lines or not re.search(want, lines[-1]):
            print(f"fuzz_mig_src: seed {name} no longer ends as /{want}/ "
                  f"(exit {run.returncode}, last result: {lines[-1] if lines else 'none'})",
                  file=sys.stderr)
            bad += 1
    return bad


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--check":
        sys.exit(1 if check(sys.argv[2], sys.argv[3]) else 0)
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    os.makedirs(sys.argv[1], exist_ok=True)
    for name, (data, _) in SEEDS.items():
        with open(os.path.join(sys.argv[1], f"seed_{name}"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
