//! stepwise: walks an engineer through declarative runbooks and executes each step, keeping
//! progress on disk so that a run can be resumed exactly where it stopped.
//!
//! The flow: a runbook file is read and checked (`runbook`), giving a `Plan`; the `engine`
//! executes the plan's steps and reports `Event`s; the run store (`state`) keeps each change on
//! disk; a front end (`plain`) shows the events.

pub mod aws;
pub mod cli;
pub mod commands;
pub mod engine;
pub mod error;
pub mod out;
pub mod plain;
pub mod prepare;
pub mod process;
pub mod runbook;
pub mod state;
pub mod syntax;
pub mod tui;
