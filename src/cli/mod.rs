//! (in progress)
pub mod export;
pub mod report;
pub fn main() -> i32 { 0 }
