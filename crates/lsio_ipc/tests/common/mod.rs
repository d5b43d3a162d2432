//! Test data: one batch with every type pyarrow commonly writes, plus helpers.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use arrow_array::builder::*;
use arrow_array::types::*;
use arrow_array::*;
use arrow_buffer::{IntervalDayTime, IntervalMonthDayNano, ScalarBuffer, i256};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit, UnionFields};

fn opt<T>(i: usize, v: T) -> Option<T> {
    if i % 7 == 3 { None } else { Some(v) }
}

/// A batch with one column per supported type, `n` rows, nulls every 7th row.
pub fn all_types(n: usize, seed: usize) -> RecordBatch {
    let s = seed;
    let mut cols: Vec<(&str, ArrayRef)> = Vec::with_capacity(40);
    cols.push(("i8", Arc::new(Int8Array::from_iter((0..n).map(|i| opt(i, (i + s) as i8))))));
    cols.push(("i16", Arc::new(Int16Array::from_iter((0..n).map(|i| opt(i, (i * 3 + s) as i16))))));
    cols.push(("i32", Arc::new(Int32Array::from_iter((0..n).map(|i| opt(i, (i * 5 + s) as i32))))));
    cols.push(("i64", Arc::new(Int64Array::from_iter((0..n).map(|i| opt(i, (i * 7 + s) as i64 - 50))))));
    cols.push(("u8", Arc::new(UInt8Array::from_iter((0..n).map(|i| opt(i, (i + s) as u8))))));
    cols.push(("u16", Arc::new(UInt16Array::from_iter((0..n).map(|i| opt(i, (i + s) as u16))))));
    cols.push(("u32", Arc::new(UInt32Array::from_iter((0..n).map(|i| opt(i, (i + s) as u32))))));
    cols.push(("u64", Arc::new(UInt64Array::from_iter((0..n).map(|i| opt(i, (i + s) as u64 * 1_000_003))))));
    // f16 bit patterns of small values (0x3c00 = 1.0), with nulls.
    let bits: Vec<u16> = (0..n).map(|i| 0x3c00 + (i % 64) as u16).collect();
    let nulls: arrow_buffer::NullBuffer = (0..n).map(|i| i % 7 != 3).collect();
    cols.push((
        "f16",
        Arc::new(Float16Array::new(ScalarBuffer::new(arrow_buffer::Buffer::from_vec(bits), 0, n), Some(nulls))),
    ));
    cols.push(("f32", Arc::new(Float32Array::from_iter((0..n).map(|i| opt(i, i as f32 * 1.5 + s as f32))))));
    cols.push(("f64", Arc::new(Float64Array::from_iter((0..n).map(|i| opt(i, i as f64 * 0.25 - s as f64))))));
    cols.push(("bool", Arc::new(BooleanArray::from_iter((0..n).map(|i| opt(i, (i + s).is_multiple_of(3)))))));
    let strs: Vec<Option<String>> = (0..n).map(|i| opt(i, format!("s{}-{}", i + s, "x".repeat(i % 20)))).collect();
    cols.push(("utf8", Arc::new(StringArray::from_iter(strs.iter().map(|s| s.as_deref())))));
    cols.push(("large_utf8", Arc::new(LargeStringArray::from_iter(strs.iter().map(|s| s.as_deref())))));
    cols.push(("utf8_view", Arc::new(StringViewArray::from_iter(strs.iter().map(|s| s.as_deref())))));
    let bins: Vec<Option<Vec<u8>>> = (0..n).map(|i| opt(i, vec![(i + s) as u8; i % 17])).collect();
    cols.push(("binary", Arc::new(BinaryArray::from_iter(bins.iter().map(|b| b.as_deref())))));
    cols.push(("large_binary", Arc::new(LargeBinaryArray::from_iter(bins.iter().map(|b| b.as_deref())))));
    cols.push(("binary_view", Arc::new(BinaryViewArray::from_iter(bins.iter().map(|b| b.as_deref())))));
    let fsb = FixedSizeBinaryArray::try_from_sparse_iter_with_size((0..n).map(|i| opt(i, [(i + s) as u8, 1, 2])), 3)
        .expect("fsb");
    cols.push(("fixed_binary", Arc::new(fsb)));
    cols.push((
        "decimal128",
        Arc::new(
            Decimal128Array::from_iter((0..n).map(|i| opt(i, (i as i128 + s as i128) * 1_000_000_007)))
                .with_precision_and_scale(20, 3)
                .expect("dec"),
        ),
    ));
    cols.push((
        "decimal256",
        Arc::new(
            Decimal256Array::from_iter((0..n).map(|i| opt(i, i256::from_i128(i as i128 * 31 - s as i128))))
                .with_precision_and_scale(40, 5)
                .expect("dec"),
        ),
    ));
    cols.push(("date32", Arc::new(Date32Array::from_iter((0..n).map(|i| opt(i, (i + s) as i32))))));
    cols.push(("date64", Arc::new(Date64Array::from_iter((0..n).map(|i| opt(i, (i + s) as i64 * 86_400_000))))));
    cols.push(("time32", Arc::new(Time32MillisecondArray::from_iter((0..n).map(|i| opt(i, (i * 1000) as i32))))));
    cols.push(("time64", Arc::new(Time64NanosecondArray::from_iter((0..n).map(|i| opt(i, i as i64 * 1_000_000_000))))));
    cols.push((
        "ts_utc",
        Arc::new(
            TimestampMicrosecondArray::from_iter((0..n).map(|i| opt(i, (i + s) as i64 * 1_000_000)))
                .with_timezone("UTC"),
        ),
    ));
    cols.push((
        "ts_ny",
        Arc::new(
            TimestampNanosecondArray::from_iter((0..n).map(|i| opt(i, i as i64 * 3_600_000_000_000)))
                .with_timezone("America/New_York"),
        ),
    ));
    cols.push(("ts_naive", Arc::new(TimestampSecondArray::from_iter((0..n).map(|i| opt(i, i as i64))))));
    cols.push(("duration", Arc::new(DurationMillisecondArray::from_iter((0..n).map(|i| opt(i, i as i64 * 10))))));
    cols.push(("interval_ym", Arc::new(IntervalYearMonthArray::from_iter((0..n).map(|i| opt(i, i as i32))))));
    cols.push((
        "interval_dt",
        Arc::new(IntervalDayTimeArray::from_iter((0..n).map(|i| opt(i, IntervalDayTime::new(i as i32, 5))))),
    ));
    cols.push((
        "interval_mdn",
        Arc::new(IntervalMonthDayNanoArray::from_iter(
            (0..n).map(|i| opt(i, IntervalMonthDayNano::new(1, i as i32, 7))),
        )),
    ));
    let mut lb = ListBuilder::new(Int32Builder::new());
    for i in 0..n {
        if i % 7 == 3 {
            lb.append_null();
        } else {
            for k in 0..(i % 4) {
                lb.values().append_value((i * 10 + k + s) as i32);
            }
            lb.append(true);
        }
    }
    cols.push(("list_i32", Arc::new(lb.finish())));
    let mut llb = LargeListBuilder::new(StringBuilder::new());
    for i in 0..n {
        for k in 0..(i % 3) {
            llb.values().append_value(format!("e{k}"));
        }
        llb.append(i % 5 != 1);
    }
    cols.push(("large_list_utf8", Arc::new(llb.finish())));
    let mut fl = FixedSizeListBuilder::new(Float32Builder::new(), 2);
    for i in 0..n {
        fl.values().append_value(i as f32);
        fl.values().append_value(-(i as f32));
        fl.append(i % 6 != 2);
    }
    cols.push(("fixed_list_f32", Arc::new(fl.finish())));
    let sa = StructArray::try_new(
        Fields::from(vec![Field::new("a", DataType::Int32, true), Field::new("b", DataType::Utf8, true)]),
        vec![
            Arc::new(Int32Array::from_iter((0..n).map(|i| opt(i + 1, i as i32)))),
            Arc::new(StringArray::from_iter((0..n).map(|i| opt(i + 2, format!("b{i}"))))),
        ],
        Some((0..n).map(|i| i % 9 != 4).collect()),
    )
    .expect("struct");
    cols.push(("struct", Arc::new(sa)));
    let mut mb = MapBuilder::new(None, StringBuilder::new(), Int64Builder::new());
    for i in 0..n {
        for k in 0..(i % 3) {
            mb.keys().append_value(format!("k{k}"));
            mb.values().append_value((i * k) as i64);
        }
        mb.append(i % 8 != 5).expect("map");
    }
    cols.push(("map", Arc::new(mb.finish())));
    let keys = Int32Array::from_iter((0..n).map(|i| opt(i, (i % 4) as i32)));
    let values: ArrayRef = Arc::new(StringArray::from(vec!["red", "green", "blue", "yellow"]));
    cols.push(("dict", Arc::new(DictionaryArray::<Int32Type>::try_new(keys, values).expect("dict"))));
    cols.push(("null", Arc::new(NullArray::new(n))));
    let uf = UnionFields::try_new(
        vec![0, 1],
        vec![Field::new("ui", DataType::Int32, true), Field::new("us", DataType::Utf8, true)],
    )
    .expect("union fields");
    let type_ids: ScalarBuffer<i8> = (0..n).map(|i| (i % 2) as i8).collect();
    let sparse = UnionArray::try_new(
        uf.clone(),
        type_ids.clone(),
        None,
        vec![
            Arc::new(Int32Array::from_iter((0..n).map(|i| Some(i as i32)))),
            Arc::new(StringArray::from_iter((0..n).map(|i| Some(format!("u{i}"))))),
        ],
    )
    .expect("sparse union");
    cols.push(("sparse_union", Arc::new(sparse)));
    let n_int = n.div_ceil(2);
    let n_str = n / 2;
    let offsets: ScalarBuffer<i32> = (0..n).map(|i| (i / 2) as i32).collect();
    let dense = UnionArray::try_new(
        uf,
        type_ids,
        Some(offsets),
        vec![
            Arc::new(Int32Array::from_iter((0..n_int).map(|i| Some(i as i32 * 2)))),
            Arc::new(StringArray::from_iter((0..n_str).map(|i| Some(format!("d{i}"))))),
        ],
    )
    .expect("dense union");
    cols.push(("dense_union", Arc::new(dense)));
    RecordBatch::try_from_iter(cols).expect("batch")
}

pub fn schema() -> SchemaRef {
    all_types(1, 0).schema()
}

/// The columns of the batch without the unions (pyarrow/arrow-rs comparisons of unions work,
/// but CSV etc. do not).
pub fn without(batch: &RecordBatch, names: &[&str]) -> RecordBatch {
    let keep: Vec<usize> = batch
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| !names.contains(&f.name().as_str()))
        .map(|(i, _)| i)
        .collect();
    batch.project(&keep).expect("project")
}

/// A simple 4-column batch (int64, float64, ~16-byte utf8, bool).
pub fn simple(n: usize, seed: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("i", DataType::Int64, false),
        Field::new("f", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("b", DataType::Boolean, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values((0..n as i64).map(|i| i + seed))),
            Arc::new(Float64Array::from_iter((0..n).map(|i| opt(i, i as f64 * 0.5)))),
            Arc::new(StringArray::from_iter((0..n).map(|i| opt(i, format!("value-{:010}", i as i64 + seed))))),
            Arc::new(BooleanArray::from_iter((0..n).map(|i| opt(i, i % 3 == 0)))),
        ],
    )
    .expect("batch")
}

pub fn ts_unit() -> TimeUnit {
    TimeUnit::Microsecond
}

/// Asserts two lists of batches hold the same rows (batch boundaries may differ).
pub fn assert_same(a: &[RecordBatch], b: &[RecordBatch]) {
    let rows = |v: &[RecordBatch]| v.iter().map(|b| b.num_rows()).sum::<usize>();
    assert_eq!(rows(a), rows(b), "row counts differ");
    if a.is_empty() || b.is_empty() {
        return;
    }
    let sa = a[0].schema();
    let ca = arrow_select::concat::concat_batches(&sa, a).expect("concat");
    let cb = arrow_select::concat::concat_batches(&b[0].schema(), b).expect("concat");
    assert_eq!(ca.schema().fields(), cb.schema().fields(), "schemas differ");
    for (i, (x, y)) in ca.columns().iter().zip(cb.columns()).enumerate() {
        assert_eq!(x.to_data(), y.to_data(), "column {i} ({}) differs", sa.field(i).name());
    }
}
