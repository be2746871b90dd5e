//! The `distillwatch` binary; everything it does lives in the `dw-server` crate.

fn main() -> std::process::ExitCode {
    dw_server::main()
}
