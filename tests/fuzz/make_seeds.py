#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/).

Control messages are encoded by the `capnp` tool from the schema; envelopes
and typed payloads are laid out here by hand (standard framing, single
segment), as the kernels and the library read them. Run from anywhere:
    python3 tests/fuzz/make_seeds.py
"""
import os
import struct
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CONTROL = os.path.join(ROOT, "schema", "control.capnp")


def encode(struct_name, text):
    return subprocess.run(["capnp", "encode", "-I/usr/include", CONTROL, struct_name], input=text.encode(),
                          check=True, capture_output=True).stdout


def chunk(b):
    return struct.pack("<H", len(b)) + b


def struct_ptr(offset, data_words, ptrs):
    return struct.pack("<Q", ((offset & 0x3FFFFFFF) << 2) | (data_words << 32) | (ptrs << 48))


def list_ptr(offset, elem_size, count):
    return struct.pack("<Q", 1 | ((offset & 0x3FFFFFFF) << 2) | (elem_size << 32) | (count << 35))


def pad8(b):
    return b + b"\0" * (-len(b) % 8)


def envelope(payload_words, payload_ptr_builder, kernel=1, type_=1, corr=7, status=0):
    """Root Envelope (4 data words, 1 pointer) followed by its payload."""
    # words: [root ptr][4 data][payload ptr][payload...]
    data = struct.pack("<IIQQIHH", kernel, type_, corr, 123456789, 0, status, 0)
    payload_ptr = payload_ptr_builder(0)  # payload starts right after the pointer
    seg = struct_ptr(0, 4, 1) + data + payload_ptr + payload_words
    return struct.pack("<II", 0, len(seg) // 8) + seg


def data_envelope_exact(raw, **kw):
    return envelope(pad8(raw), lambda off: list_ptr(off, 2, len(raw)), **kw)


def float_list(vals):
    return pad8(b"".join(struct.pack("<f", v) for v in vals))


def saxpy(a, x, y):
    # struct: 1 data word (a), 2 pointers (x, y); then the two lists
    xs, ys = float_list(x), float_list(y)
    body = struct.pack("<fI", a, 0) + list_ptr(1, 4, len(x)) + list_ptr(len(xs) // 8, 4, len(y)) + xs + ys
    return envelope(body, lambda off: struct_ptr(off, 1, 2))


def reduce_sum(vals):
    vs = float_list(vals)
    body = list_ptr(0, 4, len(vals)) + vs
    return envelope(body, lambda off: struct_ptr(off, 0, 1))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- fuzz_kernel_handlers: [builtin][capacity index][zeroed][u64 state fill][record]
records = {
    "echo": (0, data_envelope_exact(b"hello, ring")),
    "echo_empty": (0, data_envelope_exact(b"")),
    "counter": (1, data_envelope_exact(struct.pack("<q", 42))),
    "saxpy": (2, saxpy(2.0, [1, 2, 3, 4], [5, 6, 7, 8])),
    "saxpy_short": (2, saxpy(1.5, [1, 2, 3], [1])),
    "reduce_sum": (3, reduce_sum([1.0, 2.0, 3.5, -1.0])),
}
for name, (which, rec) in records.items():
    for cap in (5, 7):
        write("fuzz_kernel_handlers", f"{name}_cap{cap}", bytes([which, cap, cap & 1]) + b"\0" * 8 + rec)


def ring_record(body, flags=0):
    return struct.pack("<II", len(body), flags) + pad8(body)


# ---- fuzz_ring_consumer: [mode][head u64][tail u64][buffer bytes]
recs = ring_record(records["echo"][1]) + ring_record(records["counter"][1]) + ring_record(b"", 2)
write("fuzz_ring_consumer", "two_records", b"\0" + struct.pack("<QQ", 0, len(recs)) + recs)
write("fuzz_ring_consumer", "two_records_release", b"\4" + struct.pack("<QQ", 0, len(recs)) + recs)
# A wrap: the last record before the end, then padding over the rest.
tail_rec = ring_record(records["echo"][1])
start = 4096 - 64 - len(tail_rec)
buf = bytearray(4096)
buf[start:start + len(tail_rec)] = tail_rec
buf[start + len(tail_rec):start + len(tail_rec) + 8] = struct.pack("<II", 64 - 8, 1)
buf[0:len(recs)] = recs
write("fuzz_ring_consumer", "wrap", b"\0" + struct.pack("<QQ", start, 4096 + len(recs)) + bytes(buf))
write("fuzz_ring_consumer", "header", b"\3" + struct.pack("<QII", 4096, 1024, 0x52494e47) + struct.pack("<QQ", 0, 0))

# ---- fuzz_control_request: chunks, one control packet each
hello = encode("Request", '(hello = (abiVersion = 1, protocolVersion = 1, clientName = "seed"))')
reqs = {
    "hello_only": [hello],
    "no_hello": [encode("Request", "(list = void)")],
    "launch_cycle": [hello, encode("Request", "(segmentMapped = void)"),
                     encode("Request", '(launch = (kernel = "echo", backend = cpu, ringBytes = 4096))'),
                     encode("Request", "(activate = (instanceId = 1))"),
                     encode("Request", "(status = (instanceId = 1))"),
                     encode("Request", "(metrics = (instanceId = 1))"),
                     encode("Request", "(deactivate = (instanceId = 1))"),
                     encode("Request", "(list = void)"), encode("Request", "(serverInfo = void)"),
                     encode("Request", "(terminate = (instanceId = 1, timeoutMs = 100))"),
                     encode("Request", "(release = (instanceId = 1))")],
    "shared": [hello, encode("Request", '(launch = (kernel = "counter", instanceName = "s", ringBytes = 8192))'),
               encode("Request", '(attach = (instanceName = "s"))'),
               encode("Request", '(attach = (instanceName = "missing"))'),
               encode("Request", '(launch = (kernel = "nope"))'),
               encode("Request", "(terminate = (instanceId = 1, timeoutMs = 0))")],
}
for name, packets in reqs.items():
    write("fuzz_control_request", name, b"".join(chunk(p) for p in packets))

# ---- fuzz_client_reply: [op][chunk reply][4096 ring bytes][u64 tail][chunk metrics reply]
info = encode("Reply", '(status = 0, server = (version = "0.1.0", abiVersion = 1, sessions = 1, instances = 0, '
                       'backends = ["cpu", "cuda"], defaultBackend = "cpu", pid = 1))')
write("fuzz_client_reply", "server_info", b"\0" + chunk(info))
write("fuzz_client_reply", "error", b"\0" + chunk(encode("Reply", '(status = 3, message = "no", none = void)')))
bound = encode("Reply", '(status = 0, bound = (instanceId = 1, channel = 1, state = active, backend = cpu, '
                        'device = -1, kernel = "echo"))')
metrics = encode("Reply", "(status = 0, metrics = (processed = 5, state = active, channels = 1))")
replies = ring_record(data_envelope_exact(b"reply one", corr=(1 << 63))) + \
    ring_record(data_envelope_exact(b"two", corr=(1 << 63) + 1, status=3)) + ring_record(saxpy(1, [1], [2]))
ring = replies + b"\0" * (4096 - len(replies))
for op in (1, 2):
    write("fuzz_client_reply", f"bound_op{op}", bytes([op]) + chunk(bound) + ring + struct.pack("<Q", len(replies)) +
          chunk(metrics))
write("fuzz_client_reply", "bound_no_bell", bytes([5]) + chunk(bound))
