//! (in progress)
pub mod plan;
pub mod status;
pub fn main() -> i32 { 0 }
