//! The `distillwatch` binary; everything it does lives in the `dw-server` crate.

/// mimalloc rather than the system's allocator: parsing events allocates and
/// frees many small strings, and glibc's malloc spent a third of ingest's CPU
/// time on them (`docs/benchmarks.md`, "Small events").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    dw_server::main()
}
