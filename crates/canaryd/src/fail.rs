//! Failures at the binary's edge, each with the exit code a pipeline can act on.

use std::fmt;

#[derive(Debug)]
pub enum Fail {
    /// The user gave us something we cannot use: exit 3.
    Invalid(String),
    /// Something around us failed (database, disk): exit 4.
    Operational(anyhow::Error),
}

impl Fail {
    pub fn code(&self) -> u8 {
        match self {
            Fail::Invalid(_) => 3,
            Fail::Operational(_) => 4,
        }
    }

    pub fn invalid(msg: impl Into<String>) -> Fail {
        Fail::Invalid(msg.into())
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fail::Invalid(m) => f.write_str(m),
            Fail::Operational(e) => write!(f, "{e:#}"),
        }
    }
}

impl From<canaryd_store::StoreError> for Fail {
    fn from(e: canaryd_store::StoreError) -> Self {
        Fail::Operational(e.into())
    }
}

impl From<canaryd_driver::DriverError> for Fail {
    fn from(e: canaryd_driver::DriverError) -> Self {
        Fail::Operational(e.into())
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Self {
        Fail::Operational(e.into())
    }
}
