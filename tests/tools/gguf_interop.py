#!/usr/bin/env python3
"""GGUF interoperability between kiln and llama.cpp's gguf-py.

  write-gguf-py OUT   writes OUT with gguf-py's GGUFWriter: every metadata type
                      gguf-py can write (all scalars; string, u8, i32, f32, bool
                      and nested arrays), a custom alignment (64), and f32, f16,
                      bf16, q8_0, q4_0, i32 and 0-d tensors.
                      tests/unit/io/gguf_test.cpp reads it with kiln and checks
                      every value, and that kiln's writer reproduces it byte for byte.
  check-kiln FILE     reads FILE (written by kiln's write_gguf, see
                      tests/fixtures/gguf/README.md) with gguf-py's GGUFReader
                      and compares every metadata value (arrays of all 13 types,
                      nested arrays, empty arrays) and tensor with what kiln meant
                      to write; q8_0/q4_0 bytes must equal gguf-py's own quantization.

Run with Debian's python3 and a llama.cpp checkout:
  PYTHONPATH=LLAMA_CPP/gguf-py /usr/bin/python3 tests/tools/gguf_interop.py ...
(needs python3-numpy; gguf-py also imports python3-sentencepiece).
"""
import struct
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q, GGUFValueType as V
from gguf import quants


def values(n):
    """Multiples of 1/16 in [-3.125, 3.125]: exact in f32, f16 and bf16 (same formula in gguf_test.cpp)."""
    return np.array([((i * 37) % 101 - 50) / 16 for i in range(n)], dtype=np.float32)


def wvalues(n):
    """Irregular float32 values for quantization (same formula in gguf_test.cpp)."""
    k = np.array([(i * 7919) % 2001 - 1000 for i in range(n)], dtype=np.float32)
    return k / np.float32(333)


# ---- gguf-py -> kiln ------------------------------------------------------------

def write_gguf_py(out):
    w = gguf.GGUFWriter(out, "kiln-test")  # adds general.architecture first
    w.add_custom_alignment(64)
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_float32("test.f32", 0.1)
    w.add_bool("test.bool_true", True)
    w.add_bool("test.bool_false", False)
    w.add_string("test.string", "h\u00e9llo w\u00f6rld \u2713")
    w.add_key_value("test.empty_string", "", V.STRING)  # add_string skips empty strings
    w.add_uint64("test.u64", 18000000000000000000)
    w.add_int64("test.i64", -9000000000000000000)
    w.add_float64("test.f64", 0.1)
    w.add_array("test.arr_u8", bytes([0, 1, 255]))
    w.add_array("test.arr_i32", [1, -2, 2147483647])
    w.add_array("test.arr_f32", [0.5, -1.25, 0.1])
    w.add_array("test.arr_bool", [True, False, True])
    w.add_array("test.arr_str", ["a", "", "\u00fc"])
    w.add_array("test.arr_nested", [[1, 2], [3], ["x", "y"]])
    w.add_array("test.arr_nested3", [[[1.5, 2.5]], [[-1.0], [0.25]]])

    w.add_tensor("t.f32", values(24).reshape(2, 3, 4))
    w.add_tensor("t.f16", values(15).reshape(3, 5).astype(np.float16))
    w.add_tensor("t.bf16", quants.quantize(values(32).reshape(4, 8), Q.BF16), raw_dtype=Q.BF16)
    q8 = quants.quantize(wvalues(256).reshape(4, 64), Q.Q8_0)
    w.add_tensor("t.q8_0", q8, raw_dtype=Q.Q8_0)
    w.add_tensor("t.q8_0.dequant", quants.dequantize(q8, Q.Q8_0).astype(np.float32))
    q4 = quants.quantize(wvalues(192).reshape(2, 96), Q.Q4_0)
    w.add_tensor("t.q4_0", q4, raw_dtype=Q.Q4_0)
    w.add_tensor("t.q4_0.dequant", quants.dequantize(q4, Q.Q4_0).astype(np.float32))
    w.add_tensor("t.i32", np.array([-2, -1, 0, 1, 2147483647], dtype=np.int32))
    w.add_tensor("t.scalar", np.array(42.0, dtype=np.float32))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# ---- kiln -> gguf-py ------------------------------------------------------------

class Typed:
    """An expected value and its GGUF type (arrays: element type and items)."""

    def __init__(self, type_, value):
        self.type = type_
        self.value = value

    def __repr__(self):
        return f"{self.type.name}:{self.value!r}"

    def __eq__(self, other):
        return isinstance(other, Typed) and self.type == other.type and same(self.value, other.value)


def same(a, b):
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):  # compare bit patterns: NaN-safe and -0.0-exact
        return struct.pack("<d", a) == struct.pack("<d", float(b))
    return a == b


def A(elem, items):
    return Typed(V.ARRAY, (elem, items))


F32 = lambda x: float(np.float32(x))  # noqa: E731  (the value an f32 holds)


def kiln_expected_metadata():
    """What gguf_test.cpp (KilnWritesTheKilnFixture) writes, in file order."""
    return [
        ("general.architecture", Typed(V.STRING, "kiln-test")),
        ("k.u8", Typed(V.UINT8, 255)),
        ("k.i8", Typed(V.INT8, -128)),
        ("k.u16", Typed(V.UINT16, 65535)),
        ("k.i16", Typed(V.INT16, -32768)),
        ("k.u32", Typed(V.UINT32, 4294967295)),
        ("k.i32", Typed(V.INT32, -2147483648)),
        ("k.f32", Typed(V.FLOAT32, F32(-0.1))),
        ("k.bool", Typed(V.BOOL, True)),
        ("k.string", Typed(V.STRING, "kiln \u2713")),
        ("k.u64", Typed(V.UINT64, 18446744073709551615)),
        ("k.i64", Typed(V.INT64, -9223372036854775808)),
        ("k.f64", Typed(V.FLOAT64, 1e300)),
        ("k.arr.u8", A(V.UINT8, [0, 7, 255])),
        ("k.arr.i8", A(V.INT8, [-128, 0, 127])),
        ("k.arr.u16", A(V.UINT16, [0, 65535])),
        ("k.arr.i16", A(V.INT16, [-32768, 32767])),
        ("k.arr.u32", A(V.UINT32, [0, 4294967295])),
        ("k.arr.i32", A(V.INT32, [-2147483648, 2147483647])),
        ("k.arr.f32", A(V.FLOAT32, [0.5, F32(-0.1), float("inf")])),
        ("k.arr.bool", A(V.BOOL, [True, False, True])),
        ("k.arr.string", A(V.STRING, ["", "a", "\u2713"])),
        ("k.arr.u64", A(V.UINT64, [0, 18446744073709551615])),
        ("k.arr.i64", A(V.INT64, [-9223372036854775808, 9223372036854775807])),
        ("k.arr.f64", A(V.FLOAT64, [-0.0, 1e-300])),
        ("k.arr.empty", A(V.UINT64, [])),
        ("k.arr.nested", A(V.ARRAY, [A(V.UINT8, [1, 2]), A(V.STRING, ["x"]), A(V.INT32, [])])),
        ("k.arr.nested3", A(V.ARRAY, [A(V.ARRAY, [A(V.FLOAT64, [1.5])]), A(V.ARRAY, [])])),
    ]


def kiln_expected_tensors():
    """(name, ggml type, numpy shape, expected data as numpy) in file order."""
    q8 = quants.quantize(wvalues(256).reshape(4, 64), Q.Q8_0)
    q4 = quants.quantize(wvalues(192).reshape(2, 96), Q.Q4_0)
    return [
        ("t.f32", Q.F32, (2, 3, 4), values(24).reshape(2, 3, 4)),
        ("t.f16", Q.F16, (3, 5), values(15).reshape(3, 5).astype(np.float16)),
        ("t.bf16", Q.BF16, (4, 8), quants.quantize(values(32).reshape(4, 8), Q.BF16)),
        ("t.q8_0", Q.Q8_0, (4, 64), q8),
        ("t.q4_0", Q.Q4_0, (2, 96), q4),
        ("t.f64", Q.F64, (3,), np.array([0.1, -2.5, 1e300], dtype=np.float64)),
        ("t.i32", Q.I32, (5,), np.array([-2, -1, 0, 1, 2147483647], dtype=np.int32)),
        ("t.i64", Q.I64, (2, 2), np.array([[-9223372036854775808, 0], [1, 9223372036854775807]], dtype=np.int64)),
        ("t.scalar", Q.F32, (), np.array(42.0, dtype=np.float32)),
    ]


def decode(parts, i, vtype):
    """Rebuilds one value from GGUFReader's flat `parts`, starting at parts[i]; returns (Typed, next i)."""
    if vtype == V.STRING:
        return Typed(V.STRING, bytes(parts[i + 1]).decode("utf-8")), i + 2
    if vtype == V.ARRAY:
        elem = V(int(parts[i][0]))
        n = int(parts[i + 1][0])
        i += 2
        items = []
        for _ in range(n):
            item, i = decode(parts, i, elem)
            items.append(item if elem == V.ARRAY else item.value)
        return Typed(V.ARRAY, (elem, items)), i
    v = parts[i][0]
    if vtype in (V.FLOAT32, V.FLOAT64):
        v = float(v)
    elif vtype == V.BOOL:
        v = bool(v)
    else:
        v = int(v)
    return Typed(vtype, v), i + 1


def check_kiln(path):
    r = gguf.GGUFReader(path)
    errors = []
    got = []
    for name, field in r.fields.items():
        if name.startswith("GGUF."):
            continue
        # parts: key length, key bytes, value type, then the value's parts
        value, end = decode(field.parts, 3, V(int(field.parts[2][0])))
        if end != len(field.parts):
            errors.append(f"{name}: {len(field.parts) - end} parts left over")
        got.append((name, value))
    want = kiln_expected_metadata()
    if [k for k, _ in got] != [k for k, _ in want]:
        errors.append(f"keys differ:\n  got  {[k for k, _ in got]}\n  want {[k for k, _ in want]}")
    for (k, g), (_, w) in zip(got, want):
        if not (g == w):
            errors.append(f"{k}: got {g!r}, want {w!r}")

    want_t = kiln_expected_tensors()
    if [t.name for t in r.tensors] != [t[0] for t in want_t]:
        errors.append(f"tensor names differ: {[t.name for t in r.tensors]}")
    align = 32
    expected_offset = r.data_offset
    for t, (name, qtype, shape, data) in zip(r.tensors, want_t):
        if t.tensor_type != qtype:
            errors.append(f"{name}: type {t.tensor_type.name}, want {qtype.name}")
        if tuple(reversed([int(d) for d in t.shape])) != shape:
            errors.append(f"{name}: shape (numpy order) {tuple(reversed(t.shape.tolist()))}, want {shape}")
        if t.data_offset != expected_offset:
            errors.append(f"{name}: data at file offset {t.data_offset}, want {expected_offset} (gguf-py's layout)")
        expected_offset += (t.n_bytes + align - 1) // align * align
        if t.data.tobytes() != np.ascontiguousarray(data).tobytes():
            errors.append(f"{name}: data differs")
    if r.data_offset % align != 0:
        errors.append(f"data section at {r.data_offset}, not a multiple of {align}")
    if errors:
        print("\n".join(errors), file=sys.stderr)
        sys.exit(1)
    print(f"{path}: {len(got)} metadata keys and {len(r.tensors)} tensors match")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("write-gguf-py", "check-kiln"):
        sys.exit(__doc__)
    if sys.argv[1] == "write-gguf-py":
        write_gguf_py(sys.argv[2])
    else:
        check_kiln(sys.argv[2])


if __name__ == "__main__":
    main()
