#!/usr/bin/env python3
"""Interop with pyarrow, driven by tests/interop.rs.

  interop.py generate DIR   write pyarrow files (py_*) covering every type, codec and format
  interop.py verify DIR     check the files lsio wrote:
                              rt_<name>   lsio's rewrite of py_<name>: equal to the data pyarrow wrote
                              lsio_<name> lsio's file of the Rust test data: equal to ref_<name>,
                                          written by arrow-rs from the same batches
"""
import datetime
import decimal
import os
import sys

import pyarrow as pa
import pyarrow.ipc as ipc

N = 100
CODECS = {"none": None, "lz4": "lz4", "zstd": "zstd"}


def opt(i, v):
    return None if i % 7 == 3 else v


def all_types_table():
    r = range(N)
    cols = {
        "i8": pa.array([opt(i, i % 100 - 50) for i in r], pa.int8()),
        "i16": pa.array([opt(i, i * 3) for i in r], pa.int16()),
        "i32": pa.array([opt(i, i * 5) for i in r], pa.int32()),
        "i64": pa.array([opt(i, i * 7 - 50) for i in r], pa.int64()),
        "u8": pa.array([opt(i, i) for i in r], pa.uint8()),
        "u16": pa.array([opt(i, i) for i in r], pa.uint16()),
        "u32": pa.array([opt(i, i) for i in r], pa.uint32()),
        "u64": pa.array([opt(i, i * 1_000_003) for i in r], pa.uint64()),
        # float16 from bit patterns (0x3c00 is 1.0), without numpy.
        "f16": pa.array([opt(i, 0x3C00 + i % 64) for i in r], pa.uint16()).view(pa.float16()),
        "f32": pa.array([opt(i, i * 1.5) for i in r], pa.float32()),
        "f64": pa.array([opt(i, i * 0.25) for i in r], pa.float64()),
        "bool": pa.array([opt(i, i % 3 == 0) for i in r], pa.bool_()),
        "utf8": pa.array([opt(i, f"s{i}-" + "x" * (i % 20)) for i in r], pa.string()),
        "large_utf8": pa.array([opt(i, f"L{i}") for i in r], pa.large_string()),
        "utf8_view": pa.array([opt(i, f"view-{i}-" + "y" * (i % 30)) for i in r], pa.string_view()),
        "binary": pa.array([opt(i, bytes([i % 256]) * (i % 17)) for i in r], pa.binary()),
        "large_binary": pa.array([opt(i, bytes([i % 256]) * (i % 5)) for i in r], pa.large_binary()),
        "binary_view": pa.array([opt(i, bytes([i % 256]) * (i % 29)) for i in r], pa.binary_view()),
        "fixed_binary": pa.array([opt(i, bytes([i % 256, 1, 2])) for i in r], pa.binary(3)),
        "decimal128": pa.array([opt(i, decimal.Decimal(i * 1_000_000_007) / 1000) for i in r], pa.decimal128(20, 3)),
        "decimal256": pa.array([opt(i, decimal.Decimal(i * 31) / 100000) for i in r], pa.decimal256(40, 5)),
        "date32": pa.array([opt(i, datetime.date(2020, 1, 1) + datetime.timedelta(days=i)) for i in r], pa.date32()),
        "date64": pa.array([opt(i, i * 86_400_000) for i in r], pa.date64()),
        "time32": pa.array([opt(i, i * 1000) for i in r], pa.time32("ms")),
        "time64": pa.array([opt(i, i * 1_000_000_000) for i in r], pa.time64("ns")),
        "ts_utc": pa.array([opt(i, i * 1_000_000) for i in r], pa.timestamp("us", tz="UTC")),
        "ts_ny": pa.array([opt(i, i * 3_600_000_000_000) for i in r], pa.timestamp("ns", tz="America/New_York")),
        "ts_naive": pa.array([opt(i, i) for i in r], pa.timestamp("s")),
        "duration": pa.array([opt(i, i * 10) for i in r], pa.duration("ms")),
        "interval_mdn": pa.array([opt(i, pa.MonthDayNano([1, i, 7])) for i in r], pa.month_day_nano_interval()),
        "list_i32": pa.array([opt(i, list(range(i % 4))) for i in r], pa.list_(pa.int32())),
        "large_list_utf8": pa.array([None if i % 5 == 1 else [f"e{k}" for k in range(i % 3)] for i in r], pa.large_list(pa.string())),
        "fixed_list_f32": pa.array([None if i % 6 == 2 else [float(i), -float(i)] for i in r], pa.list_(pa.float32(), 2)),
        "struct": pa.array(
            [None if i % 9 == 4 else {"a": opt(i + 1, i), "b": opt(i + 2, f"b{i}")} for i in r],
            pa.struct([("a", pa.int32()), ("b", pa.string())]),
        ),
        "map": pa.array([None if i % 8 == 5 else [(f"k{k}", i * k) for k in range(i % 3)] for i in r], pa.map_(pa.string(), pa.int64())),
        "dict": pa.array([opt(i, ["red", "green", "blue", "yellow"][i % 4]) for i in r], pa.string()).dictionary_encode(),
        "null": pa.nulls(N),
        "sparse_union": pa.UnionArray.from_sparse(
            pa.array([i % 2 for i in r], pa.int8()),
            [pa.array(list(r), pa.int32()), pa.array([f"u{i}" for i in r], pa.string())],
            field_names=["ui", "us"],
        ),
        "dense_union": pa.UnionArray.from_dense(
            pa.array([i % 2 for i in r], pa.int8()),
            pa.array([i // 2 for i in r], pa.int32()),
            [pa.array([i * 2 for i in range((N + 1) // 2)], pa.int32()), pa.array([f"d{i}" for i in range(N // 2)], pa.string())],
            field_names=["ui", "us"],
        ),
    }
    return pa.table(cols)


def batches_of(table):
    """Three batches: a slice, a zero-row batch, and a slice with an offset."""
    bs = table.combine_chunks().to_batches()
    b = bs[0] if bs else None
    return [b.slice(0, 40), b.slice(40, 0), b.slice(40, 60)]


def delta_batches():
    out = []
    for vals, idx in [(["a", "b"], [0, 1, 1]), (["a", "b", "c"], [2, 0]), (["a", "b", "c", "d"], [3])]:
        d = pa.DictionaryArray.from_arrays(pa.array(idx, pa.int32()), pa.array(vals))
        out.append(pa.record_batch([d], names=["d"]))
    return out


def cases():
    """name -> (batches, schema, kind, codec, extra options)"""
    t = all_types_table()
    out = {}
    for kind in ("file", "stream"):
        for cname, codec in CODECS.items():
            out[f"all_{cname}.{kind}"] = (batches_of(t), t.schema, kind, codec, {})
        out[f"empty.{kind}"] = ([], t.schema, kind, None, {})
        out[f"simple_zero_rows.{kind}"] = ([pa.record_batch([pa.array([], pa.int64())], names=["x"])], None, kind, None, {})
    out["dict_delta.stream"] = (delta_batches(), delta_batches()[0].schema, "stream", None, {"emit_dictionary_deltas": True})
    return out


def write(path, batches, schema, kind, codec, extra):
    schema = schema if schema is not None else batches[0].schema
    opts = ipc.IpcWriteOptions(compression=codec, **extra)
    sink = pa.OSFile(path, "wb")
    w = ipc.new_file(sink, schema, options=opts) if kind == "file" else ipc.new_stream(sink, schema, options=opts)
    for b in batches:
        w.write_batch(b)
    w.close()
    sink.close()


def read(path):
    with open(path, "rb") as f:
        head = f.read(6)
    if head == b"ARROW1":
        return ipc.open_file(path).read_all()
    return ipc.open_stream(path).read_all()


def expected_table(batches, schema):
    return pa.Table.from_batches(batches, schema=schema if schema is not None else batches[0].schema)


def generate(d):
    for name, (batches, schema, kind, codec, extra) in cases().items():
        write(os.path.join(d, "py_" + name), batches, schema, kind, codec, extra)
    print("generated", len(cases()))


def same(a, b):
    if a.schema != b.schema:
        return f"schemas differ:\n{a.schema}\n---\n{b.schema}"
    if a.num_rows != b.num_rows:
        return f"row counts differ: {a.num_rows} != {b.num_rows}"
    for name in a.column_names:
        x, y = a.column(name), b.column(name)
        if pa.types.is_dictionary(x.type):
            # Dictionaries may be laid out differently (deltas, replacements): compare values.
            x, y = x.cast(x.type.value_type), y.cast(y.type.value_type)
        if not x.equals(y):
            return f"column {name} differs:\n{x}\n---\n{y}"
    return None


def verify(d):
    failures = []
    checked = 0
    specs = cases()
    for f in sorted(os.listdir(d)):
        p = os.path.join(d, f)
        try:
            if f.startswith("rt_"):
                batches, schema, _, _, _ = specs[f[3:]]
                err = same(read(p), expected_table(batches, schema)) if batches else (
                    None if read(p).schema == schema and read(p).num_rows == 0 else "empty table differs")
            elif f.startswith("lsio_"):
                err = same(read(p), read(os.path.join(d, "ref_" + f[5:])))
            else:
                continue
        except Exception as e:  # noqa: BLE001 - report every failure
            err = f"{type(e).__name__}: {e}"
        checked += 1
        if err:
            failures.append(f"{f}: {err}")
    for x in failures:
        print("FAIL", x)
    print(f"verified {checked} files, {len(failures)} failures")
    return 1 if failures or checked == 0 else 0


if __name__ == "__main__":
    cmd, d = sys.argv[1], sys.argv[2]
    if cmd == "generate":
        generate(d)
    elif cmd == "verify":
        sys.exit(verify(d))
    else:
        sys.exit(f"unknown command {cmd}")
