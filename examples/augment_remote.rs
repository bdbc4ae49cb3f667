//! Augment a dataset with a remote endpoint described by a config file, through the library:
//! validate the config once, start the embedding service, run the pipeline, read the report.
//!
//! `cargo run --release --example augment_remote -- examples/remote.toml data/tram2_single_label.json out/remote [--dry-run]`
//!
//! With `--dry-run` nothing is sent: the plan (requests, tokens, cost) is printed.

use synthcti::config::Config;
use synthcti::embed::{EmbedService, open_embedder};
use synthcti::pipeline::{AugmentOptions, LlmRun, augment};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config, input, output, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: augment_remote CONFIG.toml INPUT OUTPUT_DIR [--dry-run]");
    };
    let dry_run = rest.iter().any(|a| a == "--dry-run");
    let cfg = Config::from_file(config.as_ref())?.validate()?;
    let embed = EmbedService::spawn(open_embedder(&cfg.embed)?)?;
    let opts = AugmentOptions {
        run: LlmRun {
            dir: output.into(),
            dry_run,
            progress: true,
            ..Default::default()
        },
        config_file: Some(config.into()),
        ..Default::default()
    };
    if !dry_run {
        std::fs::create_dir_all(output)?;
    }
    let report = augment(input.as_ref(), &cfg, &opts, &embed).await?;
    print!("{}", report.summary_markdown());
    println!(
        "{} rows → {} rows; outcome: {:?}",
        report.rows_before, report.rows_after, report.outcome
    );
    Ok(())
}
