//! `synthcti` binary: parse flags, set up logging, run, print errors with their causes.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use synthcti::cli::{Cli, run};
use synthcti::outcome::IncompleteRun;
use synthcti::pipeline::PipelineError;

/// Exit codes: 0 success; 1 the run itself failed (I/O, journal, output directory, LLM
/// endpoint or server); 2 bad input or usage; 3 run incomplete because of request failures
/// (rows missing; `--resume` continues); 4 stopped by `--max-requests`, `--max-tokens-total`
/// or `--max-cost` (rows missing; `--resume` with a higher limit continues); 5 requests written
/// by `--batch-export` (run them offline, then `--resume --batch-import`).
fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(incomplete) = cause.downcast_ref::<IncompleteRun>() {
            return incomplete.exit_code();
        }
        if cause
            .downcast_ref::<PipelineError>()
            .is_some_and(PipelineError::is_run_failure)
        {
            return 1;
        }
    }
    2
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", synthcti::error_chain(e.as_ref()));
            ExitCode::from(exit_code(&e))
        }
    }
}
