//! The few library log lines an operator of a long-running command must see
//! on stderr: a listener reaching its connection cap, and the like.
//!
//! Deliberately narrow: per-request warnings (an upstream refused, timed out)
//! are counted in `/metrics` and judged by the rollout; printing each would
//! flood the terminal exactly when something is wrong.

use std::fmt::Write as _;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Prints INFO and above from the serving loop (`canaryd_http`) to stderr.
struct ListenerLog;

/// Installs [`ListenerLog`] unless a subscriber is already set.
pub fn install() {
    let _ = tracing::subscriber::set_global_default(ListenerLog);
}

struct Line(String);

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value:?}"));
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for ListenerLog {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.target().starts_with("canaryd_http") && *m.level() <= Level::INFO
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = Line(String::new());
        event.record(&mut line);
        eprintln!(
            "canaryd: {}: {}",
            event.metadata().level().as_str().to_lowercase(),
            line.0
        );
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
