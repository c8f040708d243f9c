//! `sweep doctor`: what libtorch this binary runs on and which devices it sees.
use clap::Args;

#[derive(Debug, Args)]
pub struct DoctorArgs {}

#[cfg(not(feature = "torch"))]
pub fn exec(_: &DoctorArgs) -> anyhow::Result<i32> {
    println!(
        "sweep {} built without the `torch` feature: configuration, plans and reports only.",
        env!("CARGO_PKG_VERSION")
    );
    println!("Rebuild with default features (make release) to train.");
    Ok(1)
}

#[cfg(feature = "torch")]
pub fn exec(_: &DoctorArgs) -> anyhow::Result<i32> {
    let info = crate::ops::doctor();
    print!("{info}");
    Ok(if info.libtorch_ok { 0 } else { 1 })
}
