use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// Every stored instant is UTC.
pub type Timestamp = DateTime<Utc>;

/// `"<prefix>-<uuid4>"`, the id format of every entity.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

/// The current time truncated to microseconds, the precision both databases keep,
/// so a value read back equals the value written.
pub fn now() -> Timestamp {
    let now = Utc::now();
    let micros = now.timestamp_micros();
    DateTime::from_timestamp_micros(micros).unwrap_or(now)
}

/// Entity timestamps as the original renders them: ISO 8601, UTC without an offset,
/// microseconds when non-zero (`2025-07-01T10:00:00.123456`).
pub mod naive_utc {
    use super::*;

    pub fn format(ts: &Timestamp) -> String {
        let naive = ts.naive_utc();
        if naive.and_utc().timestamp_subsec_micros() == 0 {
            naive.format("%Y-%m-%dT%H:%M:%S").to_string()
        } else {
            naive.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
        }
    }

    pub fn parse(s: &str) -> Option<Timestamp> {
        if let Ok(ts) = DateTime::parse_from_rfc3339(s) {
            return Some(ts.with_timezone(&Utc));
        }
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|n| n.and_utc())
    }

    pub fn serialize<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(ts))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).ok_or_else(|| serde::de::Error::custom("invalid datetime"))
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(ts: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
            match ts {
                Some(ts) => s.serialize_str(&format(ts)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
            match Option::<String>::deserialize(d)? {
                None => Ok(None),
                Some(s) => parse(&s)
                    .map(Some)
                    .ok_or_else(|| serde::de::Error::custom("invalid datetime")),
            }
        }
    }
}

/// `LettaMessage.date`: seconds precision with an explicit `+00:00`.
pub fn format_message_date(ts: &Timestamp) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// Number of Unicode scalar values, the length the original measures (Python `len`).
pub fn char_len(s: &str) -> usize {
    s.chars().count()
}
