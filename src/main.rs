//! `sweep`: the command line (src/cli/). Built without libtorch (`make release`),
//! it hands the commands that train over to `sweep-engine` (src/cli/engine.rs).
fn main() {
    std::process::exit(sweep::cli::main());
}
