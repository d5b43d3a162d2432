//! Schemas: our own panic-free conversion of the verified `Schema` flatbuffer into an Arrow
//! [`Schema`] (arrow-ipc's `fb_to_schema` panics on malformed input), plus the per-field plan
//! (dictionary ids) the decoder walks; encoding reuses arrow-ipc's `IpcSchemaEncoder`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_ipc as fb;
use arrow_schema::{DataType, Field, Fields, IntervalUnit, Schema, SchemaRef, TimeUnit, UnionFields, UnionMode};

use crate::error::{Error, Result};

/// How to decode one field: its Arrow type and the dictionary ids found in the schema.
#[derive(Clone, Debug)]
pub(crate) struct FieldPlan {
    /// The Arrow type, `Dictionary(..)` for a dictionary-encoded field.
    pub(crate) data_type: DataType,
    /// The dictionary id when dictionary encoded.
    pub(crate) dict_id: Option<i64>,
    /// The plans of the children of the (value) type.
    pub(crate) children: Vec<FieldPlan>,
}

impl FieldPlan {
    /// The plan of a dictionary's values.
    pub(crate) fn value_plan(&self) -> FieldPlan {
        let data_type = match &self.data_type {
            DataType::Dictionary(_, v) => v.as_ref().clone(),
            other => other.clone(),
        };
        FieldPlan { data_type, dict_id: None, children: self.children.clone() }
    }

    fn collect_dicts(&self, out: &mut Vec<(i64, FieldPlan)>) {
        for c in &self.children {
            c.collect_dicts(out);
        }
        if let Some(id) = self.dict_id {
            out.push((id, self.value_plan()));
        }
    }
}

/// A decoded schema with its field plans and dictionaries.
#[derive(Clone, Debug)]
pub(crate) struct SchemaPlan {
    pub(crate) schema: SchemaRef,
    pub(crate) fields: Vec<FieldPlan>,
    /// Dictionary id -> plan of its values (nested dictionaries listed before their parents).
    pub(crate) dictionaries: HashMap<i64, FieldPlan>,
}

impl SchemaPlan {
    /// The dictionary ids used by the given top-level fields (nested ones included).
    pub(crate) fn dictionaries_of(&self, columns: &[usize]) -> HashSet<i64> {
        let mut out = Vec::new();
        for &c in columns {
            if let Some(f) = self.fields.get(c) {
                f.collect_dicts(&mut out);
            }
        }
        // Dictionaries may themselves contain dictionary-encoded fields.
        let mut ids: HashSet<i64> = out.iter().map(|(id, _)| *id).collect();
        let mut queue: Vec<FieldPlan> = out.into_iter().map(|(_, p)| p).collect();
        while let Some(p) = queue.pop() {
            let mut nested = Vec::new();
            for c in &p.children {
                c.collect_dicts(&mut nested);
            }
            for (id, vp) in nested {
                if ids.insert(id) {
                    queue.push(vp);
                }
            }
        }
        ids
    }
}

/// Converts a verified schema flatbuffer; `offset` is where its message starts (for errors).
pub(crate) fn schema_from_fb(s: fb::Schema<'_>, offset: u64, max_depth: usize) -> Result<SchemaPlan> {
    if s.endianness() != fb::Endianness::Little {
        return Err(Error::Unsupported(format!("big-endian IPC data (schema at byte {offset})")));
    }
    let mut cx = Cx { offset, max_depth, dicts: Vec::new(), seen: HashSet::new() };
    let mut fields = Vec::new();
    let mut plans = Vec::new();
    if let Some(list) = s.fields() {
        for f in list {
            let (field, plan) = cx.field(f, 1)?;
            fields.push(field);
            plans.push(plan);
        }
    }
    let metadata = metadata_from_fb(s.custom_metadata());
    let schema = Arc::new(Schema::new_with_metadata(fields, metadata));
    Ok(SchemaPlan { schema, fields: plans, dictionaries: cx.dicts.into_iter().collect() })
}

pub(crate) fn metadata_from_fb(
    kvs: Option<flatbuffers::Vector<'_, flatbuffers::ForwardsUOffset<fb::KeyValue<'_>>>>,
) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for kv in kvs.into_iter().flatten() {
        if let (Some(k), Some(v)) = (kv.key(), kv.value()) {
            out.insert(k.to_owned(), v.to_owned());
        }
    }
    out
}

struct Cx {
    offset: u64,
    max_depth: usize,
    dicts: Vec<(i64, FieldPlan)>,
    seen: HashSet<i64>,
}

impl Cx {
    fn bad(&self, what: impl Into<String>) -> Error {
        Error::corrupt(self.offset, format!("schema: {}", what.into()))
    }

    fn field(&mut self, f: fb::Field<'_>, depth: usize) -> Result<(Field, FieldPlan)> {
        if depth > self.max_depth {
            return Err(Error::LimitExceeded {
                offset: self.offset,
                what: "type nesting depth",
                value: depth as u64,
                limit: self.max_depth as u64,
            });
        }
        let name = f.name().unwrap_or_default().to_owned();
        let (value_type, children) = self.value_type(&f, &name, depth)?;
        let (data_type, dict_id) = match f.dictionary() {
            Some(d) => {
                let index_type = match d.indexType() {
                    Some(int) => int_type(int.bitWidth(), int.is_signed())
                        .ok_or_else(|| self.bad(format!("field {name:?}: bad dictionary index type")))?,
                    None => DataType::Int32,
                };
                let id = d.id();
                if !self.seen.insert(id) {
                    return Err(self.bad(format!("dictionary id {id} used by two fields")));
                }
                let plan = FieldPlan { data_type: value_type.clone(), dict_id: None, children: children.clone() };
                self.dicts.push((id, plan));
                (DataType::Dictionary(Box::new(index_type), Box::new(value_type)), Some(id))
            }
            None => (value_type, None),
        };
        let mut field = Field::new(name, data_type.clone(), f.nullable());
        if let Some(d) = f.dictionary() {
            field = field.with_dict_is_ordered(d.isOrdered());
        }
        let field = field.with_metadata(metadata_from_fb(f.custom_metadata()));
        Ok((field, FieldPlan { data_type, dict_id, children }))
    }

    fn children(&mut self, f: &fb::Field<'_>, depth: usize) -> Result<(Vec<Field>, Vec<FieldPlan>)> {
        let mut fields = Vec::new();
        let mut plans = Vec::new();
        for c in f.children().into_iter().flatten() {
            let (field, plan) = self.field(c, depth + 1)?;
            fields.push(field);
            plans.push(plan);
        }
        Ok((fields, plans))
    }

    fn one_child(
        &mut self,
        f: &fb::Field<'_>,
        name: &str,
        depth: usize,
        n: usize,
    ) -> Result<(Vec<Field>, Vec<FieldPlan>)> {
        let (fields, plans) = self.children(f, depth)?;
        if fields.len() != n {
            return Err(self.bad(format!(
                "field {name:?} of type {:?} has {} children, expected {n}",
                f.type_type(),
                fields.len()
            )));
        }
        Ok((fields, plans))
    }

    fn value_type(&mut self, f: &fb::Field<'_>, name: &str, depth: usize) -> Result<(DataType, Vec<FieldPlan>)> {
        use fb::Type as T;
        let missing = |cx: &Self| cx.bad(format!("field {name:?}: missing type table for {:?}", f.type_type()));
        let t = match f.type_type() {
            T::Null => DataType::Null,
            T::Bool => DataType::Boolean,
            T::Int => {
                let int = f.type_as_int().ok_or_else(|| missing(self))?;
                int_type(int.bitWidth(), int.is_signed())
                    .ok_or_else(|| self.bad(format!("field {name:?}: int of bit width {}", int.bitWidth())))?
            }
            T::Binary => DataType::Binary,
            T::LargeBinary => DataType::LargeBinary,
            T::BinaryView => DataType::BinaryView,
            T::Utf8 => DataType::Utf8,
            T::LargeUtf8 => DataType::LargeUtf8,
            T::Utf8View => DataType::Utf8View,
            T::FixedSizeBinary => {
                let w = f.type_as_fixed_size_binary().ok_or_else(|| missing(self))?.byteWidth();
                if w < 0 {
                    return Err(self.bad(format!("field {name:?}: fixed size binary width {w}")));
                }
                DataType::FixedSizeBinary(w)
            }
            T::FloatingPoint => match f.type_as_floating_point().ok_or_else(|| missing(self))?.precision() {
                fb::Precision::HALF => DataType::Float16,
                fb::Precision::SINGLE => DataType::Float32,
                fb::Precision::DOUBLE => DataType::Float64,
                p => return Err(self.bad(format!("field {name:?}: float precision {p:?}"))),
            },
            T::Date => match f.type_as_date().ok_or_else(|| missing(self))?.unit() {
                fb::DateUnit::DAY => DataType::Date32,
                fb::DateUnit::MILLISECOND => DataType::Date64,
                u => return Err(self.bad(format!("field {name:?}: date unit {u:?}"))),
            },
            T::Time => {
                let t = f.type_as_time().ok_or_else(|| missing(self))?;
                match (t.bitWidth(), t.unit()) {
                    (32, fb::TimeUnit::SECOND) => DataType::Time32(TimeUnit::Second),
                    (32, fb::TimeUnit::MILLISECOND) => DataType::Time32(TimeUnit::Millisecond),
                    (64, fb::TimeUnit::MICROSECOND) => DataType::Time64(TimeUnit::Microsecond),
                    (64, fb::TimeUnit::NANOSECOND) => DataType::Time64(TimeUnit::Nanosecond),
                    (w, u) => return Err(self.bad(format!("field {name:?}: time of width {w} unit {u:?}"))),
                }
            }
            T::Timestamp => {
                let t = f.type_as_timestamp().ok_or_else(|| missing(self))?;
                let tz: Option<Arc<str>> = t.timezone().map(Into::into);
                DataType::Timestamp(
                    time_unit(t.unit()).ok_or_else(|| self.bad(format!("field {name:?}: time unit")))?,
                    tz,
                )
            }
            T::Duration => {
                let u = f.type_as_duration().ok_or_else(|| missing(self))?.unit();
                DataType::Duration(time_unit(u).ok_or_else(|| self.bad(format!("field {name:?}: time unit")))?)
            }
            T::Interval => match f.type_as_interval().ok_or_else(|| missing(self))?.unit() {
                fb::IntervalUnit::YEAR_MONTH => DataType::Interval(IntervalUnit::YearMonth),
                fb::IntervalUnit::DAY_TIME => DataType::Interval(IntervalUnit::DayTime),
                fb::IntervalUnit::MONTH_DAY_NANO => DataType::Interval(IntervalUnit::MonthDayNano),
                u => return Err(self.bad(format!("field {name:?}: interval unit {u:?}"))),
            },
            T::Decimal => {
                let d = f.type_as_decimal().ok_or_else(|| missing(self))?;
                let (p, s, w) = (d.precision(), d.scale(), d.bitWidth());
                let max = match w {
                    32 => 9,
                    64 => 18,
                    128 => 38,
                    256 => 76,
                    _ => return Err(self.bad(format!("field {name:?}: decimal bit width {w}"))),
                };
                let (Ok(p8), Ok(s8)) = (u8::try_from(p), i8::try_from(s)) else {
                    return Err(self.bad(format!("field {name:?}: decimal precision {p} scale {s}")));
                };
                if p8 == 0 || p8 > max || s8 > p8 as i8 {
                    return Err(self.bad(format!("field {name:?}: decimal precision {p} scale {s}")));
                }
                match w {
                    32 => DataType::Decimal32(p8, s8),
                    64 => DataType::Decimal64(p8, s8),
                    128 => DataType::Decimal128(p8, s8),
                    _ => DataType::Decimal256(p8, s8),
                }
            }
            T::List | T::LargeList | T::ListView | T::LargeListView => {
                let (mut fields, plans) = self.one_child(f, name, depth, 1)?;
                let child = Arc::new(fields.remove(0));
                let t = match f.type_type() {
                    T::List => DataType::List(child),
                    T::LargeList => DataType::LargeList(child),
                    T::ListView => DataType::ListView(child),
                    _ => DataType::LargeListView(child),
                };
                return Ok((t, plans));
            }
            T::FixedSizeList => {
                let size = f.type_as_fixed_size_list().ok_or_else(|| missing(self))?.listSize();
                if size < 0 {
                    return Err(self.bad(format!("field {name:?}: fixed size list size {size}")));
                }
                let (mut fields, plans) = self.one_child(f, name, depth, 1)?;
                return Ok((DataType::FixedSizeList(Arc::new(fields.remove(0)), size), plans));
            }
            T::Map => {
                let sorted = f.type_as_map().ok_or_else(|| missing(self))?.keysSorted();
                let (mut fields, plans) = self.one_child(f, name, depth, 1)?;
                let entries = fields.remove(0);
                match entries.data_type() {
                    DataType::Struct(fs) if fs.len() == 2 => {}
                    _ => return Err(self.bad(format!("field {name:?}: map entries must be a struct of two fields"))),
                }
                return Ok((DataType::Map(Arc::new(entries), sorted), plans));
            }
            T::Struct_ => {
                let (fields, plans) = self.children(f, depth)?;
                return Ok((DataType::Struct(Fields::from(fields)), plans));
            }
            T::Union => {
                let u = f.type_as_union().ok_or_else(|| missing(self))?;
                let mode = match u.mode() {
                    fb::UnionMode::Sparse => UnionMode::Sparse,
                    fb::UnionMode::Dense => UnionMode::Dense,
                    m => return Err(self.bad(format!("field {name:?}: union mode {m:?}"))),
                };
                let (fields, plans) = self.children(f, depth)?;
                let ids: Vec<i8> = match u.typeIds() {
                    Some(ids) => ids
                        .iter()
                        .map(|i| i8::try_from(i).ok().filter(|i| *i >= 0))
                        .collect::<Option<_>>()
                        .ok_or_else(|| self.bad(format!("field {name:?}: union type id out of range")))?,
                    None => (0..fields.len()).map(|i| i8::try_from(i).unwrap_or(-1)).collect(),
                };
                if ids.len() != fields.len() || ids.iter().any(|i| *i < 0) {
                    return Err(self.bad(format!("field {name:?}: union type ids do not match its children")));
                }
                let uf = UnionFields::try_new(ids, fields).map_err(|e| self.bad(format!("field {name:?}: {e}")))?;
                return Ok((DataType::Union(uf, mode), plans));
            }
            T::RunEndEncoded => {
                let (mut fields, plans) = self.one_child(f, name, depth, 2)?;
                let values = fields.pop().map(Arc::new);
                let run_ends = fields.pop().map(Arc::new);
                let (Some(r), Some(v)) = (run_ends, values) else { return Err(self.bad("run-end encoded children")) };
                if !matches!(r.data_type(), DataType::Int16 | DataType::Int32 | DataType::Int64) {
                    return Err(self.bad(format!("field {name:?}: run ends must be Int16/32/64")));
                }
                return Ok((DataType::RunEndEncoded(r, v), plans));
            }
            other => return Err(Error::Unsupported(format!("field {name:?}: IPC type {other:?}"))),
        };
        // Leaf types: children in the flatbuffer are ignored, as other readers do.
        Ok((t, Vec::new()))
    }
}

fn int_type(bits: i32, signed: bool) -> Option<DataType> {
    Some(match (bits, signed) {
        (8, true) => DataType::Int8,
        (8, false) => DataType::UInt8,
        (16, true) => DataType::Int16,
        (16, false) => DataType::UInt16,
        (32, true) => DataType::Int32,
        (32, false) => DataType::UInt32,
        (64, true) => DataType::Int64,
        (64, false) => DataType::UInt64,
        _ => return None,
    })
}

fn time_unit(u: fb::TimeUnit) -> Option<TimeUnit> {
    Some(match u {
        fb::TimeUnit::SECOND => TimeUnit::Second,
        fb::TimeUnit::MILLISECOND => TimeUnit::Millisecond,
        fb::TimeUnit::MICROSECOND => TimeUnit::Microsecond,
        fb::TimeUnit::NANOSECOND => TimeUnit::Nanosecond,
        _ => return None,
    })
}
