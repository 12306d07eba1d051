//! One module per subcommand.
pub mod audit;
pub mod history;
pub mod policy;
pub mod replay;
pub mod report;
