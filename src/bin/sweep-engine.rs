//! `sweep-engine`: the whole `sweep` command line, built with libtorch. A
//! `sweep` built without libtorch hands the commands that train over to it
//! (src/cli/engine.rs); run directly, it does everything `sweep` does.
fn main() {
    std::process::exit(sweep::cli::main());
}
