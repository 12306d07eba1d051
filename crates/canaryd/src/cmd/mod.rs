//! One module per subcommand.
pub mod audit;
pub mod backtest;
pub mod bench;
pub mod controller;
pub mod crd;
pub mod doctor;
pub mod gate;
pub mod history;
pub mod load;
pub mod operator;
pub mod policy;
pub mod proxy;
pub mod replay;
pub mod report;
pub mod sample_app;
pub mod serve;
pub mod stats;
