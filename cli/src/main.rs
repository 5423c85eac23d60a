//! The `waypost` binary; everything is in the library (`waypost_cli::run`).

fn main() {
    std::process::exit(waypost_cli::run(std::env::args_os()));
}
