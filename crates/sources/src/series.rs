//! The answer model shared by every backend: labelled series of timestamped
//! points. Parsers produce it; sources turn it into observations.
//!
//! Values are kept exactly as the backend sent them, NaN and ±Inf included:
//! deciding what a NaN means is the source's job, not the parser's.

use canaryd_core::vocab::Timestamp;
use std::collections::BTreeMap;

/// One sample of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// When the sample was taken.
    pub at: Timestamp,
    /// The value as sent, NaN and ±Inf included.
    pub value: f64,
}

/// One labelled series (an instant vector element has a single point; a
/// matrix element or a Datadog series has many; a Prometheus scalar is a
/// series with no labels and one point).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// The series' labels (tags, for Datadog), by name.
    pub labels: BTreeMap<String, String>,
    /// The samples, in the order the backend sent them.
    pub points: Vec<Point>,
}

/// A parsed, successful answer. `warnings` are the backend's own (Prometheus
/// returns them with partial results); a source surfaces them, it does not
/// drop them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Answer {
    /// Every series answered, possibly none.
    pub series: Vec<Series>,
    /// The backend's warnings, to surface next to the result.
    pub warnings: Vec<String>,
}
