//! The three things a driver asks of a router.

use canaryd_core::vocab::Weight;
use std::fmt;

/// One request of the driver to the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send this percentage of traffic to the canary.
    SetWeight(Weight),
    /// All traffic to stable, and undo the canary.
    RollBack,
    /// The canary takes all traffic and becomes stable.
    Promote,
}

impl Action {
    /// The config key and `CANARYD_ACTION` value.
    pub fn name(self) -> &'static str {
        match self {
            Action::SetWeight(_) => "set_weight",
            Action::RollBack => "rollback",
            Action::Promote => "promote",
        }
    }

    /// The canary weight once the action is done, the value of `{weight}`.
    pub fn weight(self) -> Weight {
        match self {
            Action::SetWeight(w) => w,
            Action::RollBack => 0,
            Action::Promote => 100,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::SetWeight(w) => write!(f, "set_weight {w}"),
            other => f.write_str(other.name()),
        }
    }
}
