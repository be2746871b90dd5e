//! OTLP/JSON trace export requests decoded into the protobuf types, with
//! only the fields distillwatch reads.
//!
//! The OTLP crate's own JSON decoding reads each attribute value through
//! serde's `flatten`, which buffers the whole value (a model call's messages:
//! most of a request) before reading it again; a file of a hundred thousand
//! calls spent a seventh of its loading time there. Here an attribute value
//! is read once, as what it is. What is read: the resource's attributes, each
//! scope's name, and each span's ids, name, start time, attributes and
//! events (their names and attributes); every other field is skipped, as are
//! fields OTLP/JSON does not define. The encoding is OTLP/JSON's: ids in hex,
//! 64-bit integers as numbers or strings, bytes in base64, field names in
//! lowerCamelCase.

use std::fmt;

use base64::Engine;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

/// An export request's text as the protobuf request, read fields only.
pub fn trace_request(body: &[u8]) -> Result<ExportTraceServiceRequest, serde_json::Error> {
    let request: Request = serde_json::from_slice(body)?;
    Ok(ExportTraceServiceRequest { resource_spans: request.resource_spans.into_iter().map(Into::into).collect() })
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Request {
    resource_spans: Vec<JsonResourceSpans>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JsonResourceSpans {
    resource: Option<Attributed>,
    scope_spans: Vec<JsonScopeSpans>,
}

/// A resource: its attributes.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Attributed {
    attributes: Vec<JsonKeyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonScopeSpans {
    scope: Option<JsonScope>,
    spans: Vec<JsonSpan>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonScope {
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JsonSpan {
    #[serde(deserialize_with = "hex_bytes")]
    trace_id: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    span_id: Vec<u8>,
    #[serde(deserialize_with = "hex_bytes")]
    parent_span_id: Vec<u8>,
    name: String,
    #[serde(deserialize_with = "unsigned")]
    start_time_unix_nano: u64,
    attributes: Vec<JsonKeyValue>,
    events: Vec<JsonEvent>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonEvent {
    name: String,
    attributes: Vec<JsonKeyValue>,
}

#[derive(Deserialize)]
struct JsonKeyValue {
    key: String,
    #[serde(default)]
    value: Option<JsonAnyValue>,
}

/// An attribute value: at most one of OTLP/JSON's value fields (an object
/// with none, or only unknown ones, is an empty value).
struct JsonAnyValue(Option<any_value::Value>);

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonArray {
    values: Vec<JsonAnyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonKvList {
    values: Vec<JsonKeyValue>,
}

/// The value fields of an attribute value.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum ValueField {
    StringValue,
    BoolValue,
    IntValue,
    DoubleValue,
    ArrayValue,
    KvlistValue,
    BytesValue,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for JsonAnyValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = JsonAnyValue;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an OTLP attribute value (an object such as {\"stringValue\": ...})")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonAnyValue, A::Error> {
                use any_value::Value as V;
                let mut value = None;
                while let Some(field) = map.next_key::<ValueField>()? {
                    // A null field is an absent one.
                    let read = match field {
                        ValueField::StringValue => map.next_value::<Option<String>>()?.map(V::StringValue),
                        ValueField::BoolValue => map.next_value::<Option<bool>>()?.map(V::BoolValue),
                        ValueField::IntValue => map.next_value::<Option<Signed>>()?.map(|i| V::IntValue(i.0)),
                        ValueField::DoubleValue => map.next_value::<Option<Double>>()?.map(|d| V::DoubleValue(d.0)),
                        ValueField::ArrayValue => map.next_value::<Option<JsonArray>>()?.map(|a| {
                            V::ArrayValue(ArrayValue { values: a.values.into_iter().map(Into::into).collect() })
                        }),
                        ValueField::KvlistValue => map.next_value::<Option<JsonKvList>>()?.map(|l| {
                            V::KvlistValue(KeyValueList { values: l.values.into_iter().map(Into::into).collect() })
                        }),
                        ValueField::BytesValue => match map.next_value::<Option<String>>()? {
                            Some(text) => Some(V::BytesValue(
                                base64::engine::general_purpose::STANDARD
                                    .decode(text.as_bytes())
                                    .map_err(|e| de::Error::custom(format!("bytesValue is not base64: {e}")))?,
                            )),
                            None => None,
                        },
                        ValueField::Other => {
                            map.next_value::<IgnoredAny>()?;
                            None
                        }
                    };
                    if read.is_some() {
                        value = read;
                    }
                }
                Ok(JsonAnyValue(value))
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

/// A signed 64-bit integer written as a number or a string.
struct Signed(i64);

impl<'de> Deserialize<'de> for Signed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        integer(deserializer).map(Signed)
    }
}

/// A double written as a number, or as the string "NaN", "Infinity" or
/// "-Infinity".
struct Double(f64);

impl<'de> Deserialize<'de> for Double {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Number;
        impl Visitor<'_> for Number {
            type Value = f64;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number, or \"NaN\", \"Infinity\" or \"-Infinity\"")
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
                Ok(v)
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
                Ok(v as f64)
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
                Ok(v as f64)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
                match v {
                    "NaN" => Ok(f64::NAN),
                    "Infinity" => Ok(f64::INFINITY),
                    "-Infinity" => Ok(f64::NEG_INFINITY),
                    other => Err(E::custom(format!("{other:?} is not a number"))),
                }
            }
        }
        deserializer.deserialize_any(Number).map(Double)
    }
}

/// An unsigned 64-bit integer written as a number or a string (a time in
/// nanoseconds).
fn unsigned<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    integer(deserializer)
}

/// A 64-bit integer (`i64` or `u64`) written as a number or a string holding
/// one; out of range is an error naming the value.
fn integer<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64> + std::str::FromStr,
{
    struct Integer<T>(std::marker::PhantomData<T>);
    impl<T: TryFrom<i64> + TryFrom<u64> + std::str::FromStr> Visitor<'_> for Integer<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "a {}, or a string holding one", std::any::type_name::<T>())
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::custom(format!("{v} is out of range for {}", std::any::type_name::<T>())))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::custom(format!("{v} is out of range for {}", std::any::type_name::<T>())))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            v.parse().map_err(|_| E::custom(format!("{v:?} is not a {}", std::any::type_name::<T>())))
        }
    }
    deserializer.deserialize_any(Integer(std::marker::PhantomData))
}

/// Bytes written in hex (trace and span ids; an empty string is no id).
fn hex_bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    struct Hex;
    impl Visitor<'_> for Hex {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an id in hex")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
            let digits = v.strip_prefix("0x").unwrap_or(v);
            hex::decode(digits).map_err(|e| E::custom(format!("{v:?} is not an id in hex: {e}")))
        }
    }
    deserializer.deserialize_str(Hex)
}

impl From<JsonKeyValue> for KeyValue {
    fn from(kv: JsonKeyValue) -> Self {
        KeyValue { key: kv.key, value: kv.value.map(Into::into), ..KeyValue::default() }
    }
}

impl From<JsonAnyValue> for AnyValue {
    fn from(value: JsonAnyValue) -> Self {
        AnyValue { value: value.0 }
    }
}

fn key_values(list: Vec<JsonKeyValue>) -> Vec<KeyValue> {
    list.into_iter().map(Into::into).collect()
}

impl From<JsonResourceSpans> for ResourceSpans {
    fn from(r: JsonResourceSpans) -> Self {
        ResourceSpans {
            resource: r.resource.map(|a| Resource { attributes: key_values(a.attributes), ..Resource::default() }),
            scope_spans: r.scope_spans.into_iter().map(Into::into).collect(),
            ..ResourceSpans::default()
        }
    }
}

impl From<JsonScopeSpans> for ScopeSpans {
    fn from(s: JsonScopeSpans) -> Self {
        ScopeSpans {
            scope: s.scope.map(|scope| InstrumentationScope { name: scope.name, ..InstrumentationScope::default() }),
            spans: s.spans.into_iter().map(Into::into).collect(),
            ..ScopeSpans::default()
        }
    }
}

impl From<JsonSpan> for Span {
    fn from(s: JsonSpan) -> Self {
        Span {
            trace_id: s.trace_id,
            span_id: s.span_id,
            parent_span_id: s.parent_span_id,
            name: s.name,
            start_time_unix_nano: s.start_time_unix_nano,
            attributes: key_values(s.attributes),
            events: s
                .events
                .into_iter()
                .map(|e| span::Event { name: e.name, attributes: key_values(e.attributes), ..span::Event::default() })
                .collect(),
            ..Span::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)).unwrap()
    }

    /// The OTLP crate's decoding of a request, with only the fields read here.
    fn reference(body: &[u8]) -> ExportTraceServiceRequest {
        let mut request: ExportTraceServiceRequest = serde_json::from_slice(body).unwrap();
        for r in &mut request.resource_spans {
            r.schema_url.clear();
            if let Some(resource) = r.resource.as_mut() {
                *resource = Resource { attributes: std::mem::take(&mut resource.attributes), ..Resource::default() };
            }
            for s in &mut r.scope_spans {
                s.schema_url.clear();
                if let Some(scope) = s.scope.as_mut() {
                    *scope = InstrumentationScope { name: std::mem::take(&mut scope.name), ..Default::default() };
                }
                for span in &mut s.spans {
                    *span = Span {
                        trace_id: std::mem::take(&mut span.trace_id),
                        span_id: std::mem::take(&mut span.span_id),
                        parent_span_id: std::mem::take(&mut span.parent_span_id),
                        name: std::mem::take(&mut span.name),
                        start_time_unix_nano: span.start_time_unix_nano,
                        attributes: std::mem::take(&mut span.attributes),
                        events: std::mem::take(&mut span.events)
                            .into_iter()
                            .map(|e| span::Event { name: e.name, attributes: e.attributes, ..Default::default() })
                            .collect(),
                        ..Span::default()
                    };
                }
            }
        }
        request
    }

    #[test]
    fn real_clients_requests_read_as_the_otlp_crate_reads_them() {
        for name in [
            "langfuse-v5.traces.json",
            "litellm-1.108.14-otel.traces.json",
            "otel-openai-v2-default.traces.json",
            "otel-openai-v2-latest.traces.json",
            "otlp-json-exporter-0.66b1.traces.json",
        ] {
            let body = fixture(name);
            let read = trace_request(&body).unwrap();
            assert!(read.resource_spans.iter().flat_map(|r| &r.scope_spans).any(|s| !s.spans.is_empty()), "{name}");
            assert_eq!(read, reference(&body), "{name}");
        }
    }

    #[test]
    fn every_kind_of_attribute_value_is_read_once_as_what_it_is() {
        let body = br#"{"resourceSpans": [{"scopeSpans": [{"spans": [{
            "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "0xeee19b7ec3c1b174", "parentSpanId": "",
            "name": "chat", "startTimeUnixNano": "1544712660000000000", "kind": 3, "unknownField": {"a": [1]},
            "attributes": [
                {"key": "s", "value": {"stringValue": "text"}},
                {"key": "b", "value": {"boolValue": true}},
                {"key": "i", "value": {"intValue": "-42"}},
                {"key": "j", "value": {"intValue": 7}},
                {"key": "d", "value": {"doubleValue": 0.5}},
                {"key": "n", "value": {"doubleValue": "NaN"}},
                {"key": "a", "value": {"arrayValue": {"values": [{"stringValue": "x"}, {"intValue": 1}]}}},
                {"key": "k", "value": {"kvlistValue": {"values": [{"key": "inner", "value": {"boolValue": false}}]}}},
                {"key": "y", "value": {"bytesValue": "AQID"}},
                {"key": "e", "value": {}},
                {"key": "u", "value": {"futureValue": 1, "stringValue": null}},
                {"key": "none"}
            ]}]}]}]}"#;
        let read = trace_request(body).unwrap();
        let span = &read.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id, hex::decode("5b8efff798038103d269b633813fc60c").unwrap());
        assert_eq!(span.span_id, hex::decode("eee19b7ec3c1b174").unwrap());
        assert!(span.parent_span_id.is_empty());
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
        use any_value::Value as V;
        let values: Vec<Option<V>> = span.attributes.iter().map(|kv| kv.value.clone().and_then(|v| v.value)).collect();
        assert_eq!(values[0], Some(V::StringValue("text".into())));
        assert_eq!(values[1], Some(V::BoolValue(true)));
        assert_eq!(values[2], Some(V::IntValue(-42)));
        assert_eq!(values[3], Some(V::IntValue(7)));
        assert_eq!(values[4], Some(V::DoubleValue(0.5)));
        assert!(matches!(values[5], Some(V::DoubleValue(d)) if d.is_nan()));
        let Some(V::ArrayValue(array)) = &values[6] else { panic!("{:?}", values[6]) };
        assert_eq!(array.values.len(), 2);
        let Some(V::KvlistValue(list)) = &values[7] else { panic!("{:?}", values[7]) };
        assert_eq!(list.values[0].key, "inner");
        assert_eq!(values[8], Some(V::BytesValue(vec![1, 2, 3])));
        assert_eq!((&values[9], &values[10], &values[11]), (&None, &None, &None));
        // The same body through the OTLP crate (which reads no "NaN"): the same values.
        let nan = r#"{"key": "n", "value": {"doubleValue": "NaN"}},"#;
        let theirs = reference(String::from_utf8_lossy(body).replace(nan, "").as_bytes());
        let mut ours = span.attributes.clone();
        ours.remove(5);
        assert_eq!(theirs.resource_spans[0].scope_spans[0].spans[0].attributes, ours);
    }

    #[test]
    fn what_is_not_a_request_is_an_error_that_says_where() {
        for (body, says) in [
            (&br#"{"resourceSpans": 7}"#[..], "invalid type"),
            (br#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}"#, "not an id in hex"),
            (br#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}"#, "is not a u64"),
            (br#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [{"key": "i", "value": {"intValue": "x"}}]}]}]}]}"#, "is not a i64"),
            (br#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [{"key": "y", "value": {"bytesValue": "!!"}}]}]}]}]}"#, "base64"),
            (br#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [{"value": {"boolValue": true}}]}]}]}]}"#, "missing field `key`"),
            (b"{\"resourceSpans\": [", "EOF"),
        ] {
            let err = trace_request(body).unwrap_err().to_string();
            assert!(err.contains(says), "{err} (expected {says:?})");
            assert!(err.contains("line 1 column"), "{err}");
        }
    }
}
