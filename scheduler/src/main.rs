//! The `lithoflow` binary: parse arguments, set up logging, run, map the outcome to an
//! exit code (0 ok, 1 a run failed, 2 usage or DAG errors).

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the AWS SDK allocates a lot per request, and glibc's allocator made ~25% of
/// the Lambda client's CPU (bench/aws/run.sh).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc reads its options from the environment when the process loads.
const PURGE_DELAY_ENV: &str = "MIMALLOC_PURGE_DELAY";

/// Makes this process run with mimalloc giving freed pages back to the system `delay_ms`
/// after they are freed (`MIMALLOC_PURGE_DELAY`) instead of its default 10 ms.
///
/// - The scheduler daemon: at once (`0`). A delayed purge is carried out only when the
///   thread that owns the pages allocates again, and most of a scheduler's threads (tokio
///   workers between minutes, blocking threads that finished) do not, so over runs of
///   every-minute DAGs its resident memory kept what its busiest moments had freed (56-63
///   MiB at rest after 1,500-3,000 runs, against 23-30 MiB with the option; bench/soak).
/// - `dags test` and `tasks test`: after 2 ms. Their threads allocate all along, so the
///   purges happen; mimalloc's default 10 ms let a 100,000-call map's peak RSS reach
///   58-61 MiB in some runs (52-53 in most), 2 ms kept every run at 42-49 MiB with no
///   slower runs (`0` was about 30 ms slower: a purge per free).
///
/// mimalloc reads options only at load, and setting one later takes `unsafe` FFI, which
/// this workspace forbids; so the process re-executes itself once with the variable set
/// (same pid, arguments and `argv[0]`; 2-3 ms at start). A value already in the
/// environment is kept, and if the re-exec fails the process simply runs with mimalloc's
/// default.
fn purge_freed_memory_after(delay_ms: &str) {
    use std::os::unix::process::CommandExt as _;
    if std::env::var_os(PURGE_DELAY_ENV).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let mut cmd = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        cmd.arg0(arg0);
    }
    // `exec` returns only if it failed; then carry on as we are.
    let _ = cmd.args(args).env(PURGE_DELAY_ENV, delay_ms).exec();
}

fn main() -> ExitCode {
    // No transparent huge pages for this process (and the workers it starts): mimalloc's
    // segments on a system with THP in `madvise` or `always` mode turned into 2 MiB pages,
    // doubling the scheduler's RSS (31.5 against 82.7 MiB at rest) and making it climb by
    // ~100 MB/h over a soak of every-minute DAGs (bench/soak/run.sh). A refusal (an old
    // kernel) only costs memory.
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(true);
    let cli = lithoflow_scheduler::Cli::parse();
    if let Some(delay_ms) = cli.purge_delay_ms() {
        purge_freed_memory_after(delay_ms);
    }
    lithoflow_scheduler::logging::init_logging(&cli);
    let mut builder = if cli.one_thread() {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
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
