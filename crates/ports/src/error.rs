//! What went wrong at an edge, and whether trying again can help.

use std::fmt;

/// Whether a failed call may succeed if it is simply made again.
///
/// The shell retries both kinds (an effect stays in the outbox until it is
/// carried out; a window whose metrics cannot be read counts as unreliable),
/// but it tells operators which one they face: a transient failure resolves
/// itself, a permanent one waits for someone to change a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A timeout, a refused connection, a 5xx, a conflict: the same call
    /// may succeed in a moment.
    Transient,
    /// A refused credential, a missing object, a bad configuration: the
    /// same call fails the same way until a human changes something.
    Permanent,
}

impl ErrorKind {
    /// `Transient` when `transient` is true, else `Permanent`.
    pub fn from_transient(transient: bool) -> ErrorKind {
        if transient {
            ErrorKind::Transient
        } else {
            ErrorKind::Permanent
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Transient => "transient",
            ErrorKind::Permanent => "permanent",
        })
    }
}

/// A failure at an edge, of the kind `E` says ([`Action`] or [`Source`]):
/// one shape for both, two types, so a metrics failure can never be passed
/// off as a failed action or the other way round.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EdgeError<E> {
    kind: ErrorKind,
    message: String,
    edge: std::marker::PhantomData<E>,
}

/// Marks an [`EdgeError`] as a failed action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {}

/// Marks an [`EdgeError`] as a failed metrics read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {}

/// A failure to carry out an effect (move traffic, send a notice). The
/// effect stays in the outbox and is retried; the message is what an
/// operator needs to fix the cause.
pub type ActionError = EdgeError<Action>;

/// A failure to read metrics. The shell turns it into an *unreliable*
/// window (the rollout holds), never into a verdict about the canary.
pub type SourceError = EdgeError<Source>;

impl<E> EdgeError<E> {
    /// A failure that may pass on its own (see [`ErrorKind::Transient`]).
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }

    /// A failure that needs a human (see [`ErrorKind::Permanent`]).
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Permanent, message)
    }

    /// A failure of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        EdgeError {
            kind,
            message: message.into(),
            edge: std::marker::PhantomData,
        }
    }

    /// Whether trying again may help.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// What went wrong, worded for the operator.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same failure with `context` in front (`"{context}: {message}"`).
    pub fn context(self, context: impl fmt::Display) -> Self {
        Self::new(self.kind, format!("{context}: {}", self.message))
    }
}
