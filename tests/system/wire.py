"""A hostile wire: a man in the middle of a QEMU socket netdev segment (each frame is a 4-byte
big-endian length, then the Ethernet frame), run in threads of the test process.

Host a's QEMU listens; the wire connects to it and listens itself for host b's QEMU. Frames
pass unchanged until a test asks for a fault:

- corrupt(port, after, sent=False): the first TCP segment towards `port` (with sent: from
  `port`) that carries payload, once `after` payload bytes have passed that way, gets one
  payload byte flipped and its TCP checksum recomputed, as an attacker on the path would (a
  bad checksum alone would only make the receiver drop the segment and the sender resend it);
- cut() / mend(): every frame is dropped, in both directions, until mended.
"""
import socket
import struct
import threading
import time


def _csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def _tcp(frame):
    """(ip offset, tcp offset, payload offset, payload end, dst port, src port) of an IPv4 TCP
    frame."""
    if len(frame) < 54 or frame[12:14] != b"\x08\x00":
        return None
    ip = 14
    ihl = (frame[ip] & 15) * 4
    if frame[ip] >> 4 != 4 or frame[ip + 9] != 6 or ihl < 20:
        return None
    end = ip + struct.unpack("!H", frame[ip + 2:ip + 4])[0]
    tcp = ip + ihl
    if end > len(frame) or tcp + 20 > end:
        return None
    data = tcp + (frame[tcp + 12] >> 4) * 4
    return (ip, tcp, data, end, struct.unpack("!H", frame[tcp + 2:tcp + 4])[0],
            struct.unpack("!H", frame[tcp:tcp + 2])[0])


class Wire:
    def __init__(self, port_a):
        self.port_a = port_a
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(1)
        self.port = self.srv.getsockname()[1]   # where b's QEMU connects
        self.lock = threading.Lock()
        self.cutting = False
        self.target = None                      # (port, bytes still to pass) while armed
        self.corrupted = 0
        self.dropped = 0
        self.socks = []
        threading.Thread(target=self._run, daemon=True).start()

    def corrupt(self, port, after, sent=False):
        with self.lock:
            self.target = [port, after, sent]
            self.corrupted = 0

    def cut(self):
        with self.lock:
            self.cutting = True

    def mend(self):
        with self.lock:
            self.cutting = False

    def close(self):
        for s in self.socks + [self.srv]:
            try:
                s.close()
            except OSError:
                pass

    def _run(self):
        try:
            b, _ = self.srv.accept()
            deadline = time.time() + 60
            while True:
                try:
                    a = socket.create_connection(("127.0.0.1", self.port_a), timeout=5)
                    break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.2)
        except OSError:
            return
        a.settimeout(None)
        for s in (a, b):        # one frame per write: no Nagle delay between the hosts
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.socks = [a, b]
        threading.Thread(target=self._pump, args=(a, b), daemon=True).start()
        self._pump(b, a)

    @staticmethod
    def _read(s, n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise OSError("closed")
            buf += chunk
        return buf

    def _pump(self, src, dst):
        try:
            while True:
                n = struct.unpack("!I", self._read(src, 4))[0]
                frame = self._read(src, n)
                with self.lock:
                    if self.cutting:
                        self.dropped += 1
                        continue
                    frame = self._maybe_corrupt(frame)
                dst.sendall(struct.pack("!I", len(frame)) + frame)
        except OSError:
            self.close()

    def _maybe_corrupt(self, frame):
        t = _tcp(frame) if self.target else None
        if not t or t[5 if self.target[2] else 4] != self.target[0] or t[3] <= t[2]:
            return frame
        ip, tcp, data, end = t[:4]
        if self.target[1] > 0:
            self.target[1] -= end - data
            return frame
        f = bytearray(frame)
        f[(data + end) // 2] ^= 0x5a
        f[tcp + 16:tcp + 18] = b"\0\0"
        pseudo = bytes(f[ip + 12:ip + 20]) + struct.pack("!BBH", 0, 6, end - tcp)
        f[tcp + 16:tcp + 18] = struct.pack("!H", _csum(pseudo + bytes(f[tcp:end])))
        self.target = None
        self.corrupted += 1
        return bytes(f)
