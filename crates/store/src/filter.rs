//! Building `WHERE` clauses from optional filters.
//!
//! Queries are assembled from only the filters that are set, rather than written as
//! `(?1 IS NULL OR col = ?1)`, because SQLite's planner cannot use an index for
//! the latter and every list would become a full table scan.

use rusqlite::types::Value;

/// ANDed conditions with their bound values; conditions use `?` placeholders.
#[derive(Debug, Default)]
pub(crate) struct Where {
    conditions: Vec<&'static str>,
    values: Vec<Value>,
}

impl Where {
    /// Adds `condition` (one `?` placeholder) bound to `value`, if `value` is set.
    pub fn add(&mut self, condition: &'static str, value: Option<impl Into<Value>>) -> &mut Self {
        if let Some(value) = value {
            self.conditions.push(condition);
            self.values.push(value.into());
        }
        self
    }

    /// The clause including the `WHERE` keyword, or an empty string.
    pub fn sql(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conditions.join(" AND "))
        }
    }

    /// The values to bind, in placeholder order.
    pub fn params(&self) -> rusqlite::ParamsFromIter<&[Value]> {
        rusqlite::params_from_iter(self.values.as_slice())
    }

    /// Appends one more bound value for a placeholder after the `WHERE` clause
    /// (e.g. `LIMIT ?`).
    pub fn bind_extra(&mut self, value: impl Into<Value>) {
        self.values.push(value.into());
    }
}
