//! The `lithoflow` binary: parse arguments, set up logging, run, map the outcome to an
//! exit code (0 ok, 1 a run failed, 2 usage or DAG errors).

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the AWS SDK allocates a lot per request, and glibc's allocator made ~25% of
/// the Lambda client's CPU (bench/aws/run.sh).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // No transparent huge pages for this process (and the workers it starts): mimalloc's
    // segments on a system with THP in `madvise` or `always` mode turned into 2 MiB pages,
    // doubling the scheduler's RSS (31.5 against 82.7 MiB at rest) and making it climb by
    // ~100 MB/h over a soak of every-minute DAGs (bench/soak/run.sh). A refusal (an old
    // kernel) only costs memory.
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(true);
    let cli = lithoflow_scheduler::Cli::parse();
    lithoflow_scheduler::cli::init_logging(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            #[expect(
                clippy::print_stderr,
                reason = "the binary reports its own fatal error"
            )]
            {
                eprintln!("error: failed to start the async runtime: {err}");
            }
            return ExitCode::from(lithoflow_scheduler::Outcome::Invalid.code());
        }
    };
    match runtime.block_on(lithoflow_scheduler::run(cli)) {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(err) => {
            #[expect(
                clippy::print_stderr,
                reason = "the binary reports its own fatal error"
            )]
            {
                eprintln!("error: {err:#}");
            }
            ExitCode::from(lithoflow_scheduler::Outcome::Invalid.code())
        }
    }
}
