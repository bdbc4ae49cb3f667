//! Runs that fail say so: fatal endpoint answers, failures in a row, budget limits, journal
//! write failures, mismatched resumes, a shared output directory and `--overwrite` against a
//! broken endpoint. Each test drives the real binary against the fault server.

mod support;

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::augment_cli::{
    TINY, augment_llm, augment_llm_on, deterministic_answer, journal_requests, open_filters_config,
    read_jsonl, read_report, synthetic,
};
use support::fault_server::{FaultServer, Reply};

/// Runs a command off the async runtime (the fault server lives on it).
async fn run(mut cmd: std::process::Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn good_server() -> FaultServer {
    FaultServer::start(|_, body| Reply::ok(&deterministic_answer(body))).await
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_requests_stop_the_run_at_once_with_exit_3() {
    for status in [401u16, 403, 404] {
        let server = FaultServer::start(move |_, _| Reply::status(status)).await;
        let dir = tempfile::tempdir().unwrap();
        let cfg = open_filters_config(dir.path(), "");
        let out = dir.path().join("out");
        let o = run(augment_llm(
            &out,
            &cfg,
            &server.base_url(),
            &[
                "--target",
                "absolute:20",
                "--max-retries",
                "3",
                "--concurrency",
                "2",
            ],
        ))
        .await;
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(3), "{err}");
        assert!(
            err.contains(&format!(
                "the LLM endpoint 127.0.0.1 answered HTTP {status}"
            )),
            "{err}"
        );
        assert!(err.contains("--resume"), "{err}");
        // At most the requests already in flight; no retries of a refusal.
        assert!(server.requests() <= 2, "{} requests", server.requests());
        let report = read_report(&out);
        let outcome = &report["outcome"];
        assert_eq!(outcome["status"], "incomplete", "{outcome}");
        assert_eq!(outcome["reason"]["kind"], "endpoint-refused");
        assert_eq!(outcome["reason"]["status"], status);
        assert_eq!(outcome["missing_rows"], 40);
        assert_eq!(
            report["llm"]["failed_by"]["client-error"],
            server.requests()
        );
        let md = std::fs::read_to_string(out.join("report.md")).unwrap();
        assert!(md.contains("outcome: **incomplete**"), "{md}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_in_a_row_stop_the_run() {
    let server = FaultServer::start(|_, _| Reply::status(500)).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = open_filters_config(
        dir.path(),
        "[llm]\nbackoff_initial_ms = 0\nbackoff_max_ms = 1\n",
    );
    let out = dir.path().join("out");
    let o = run(augment_llm(
        &out,
        &cfg,
        &server.base_url(),
        &[
            "--target",
            "absolute:50",
            "--max-retries",
            "1",
            "--concurrency",
            "2",
            "--max-consecutive-failures",
            "5",
        ],
    ))
    .await;
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("5 requests in a row failed"), "{err}");
    let report = read_report(&out);
    let llm = &report["llm"];
    // 5 failures end it; one more may have been in flight (concurrency 2), 2 attempts each.
    let failed = llm["failed"].as_u64().unwrap();
    assert!((5..=6).contains(&failed), "{llm}");
    assert_eq!(server.requests() as u64, 2 * failed);
    assert_eq!(report["outcome"]["reason"]["kind"], "consecutive-failures");
    // Failed requests are journaled (and asked again on resume).
    assert_eq!(journal_requests(&out).len() as u64, failed);
}

/// A deterministic endpoint, a finished reference run into `a`, and `b` for the run under
/// test (same config and args).
struct Reference {
    server: FaultServer,
    url: String,
    _dir: tempfile::TempDir,
    cfg: PathBuf,
    a: PathBuf,
    b: PathBuf,
    /// Requests the reference run made.
    before: usize,
}

async fn reference_run(extra_toml: &str, args: &[&str]) -> Reference {
    let server = good_server().await;
    let url = server.base_url();
    let dir = tempfile::tempdir().unwrap();
    let cfg = open_filters_config(dir.path(), extra_toml);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let o = run(augment_llm(&a, &cfg, &url, args)).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let before = server.requests();
    Reference {
        server,
        url,
        _dir: dir,
        cfg,
        a,
        b,
        before,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn budget_limits_stop_cleanly_and_resume_continues() {
    let base = ["--target", "absolute:6", "--concurrency", "1"];
    let r = reference_run("[generate]\noverask = 1.0\n", &base).await;

    let with = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        augment_llm(&r.b, &r.cfg, &r.url, &args)
    };
    let o = run(with(&["--max-requests", "3"])).await;
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--max-requests 3 reached"),
        "{}",
        stderr(&o)
    );
    assert_eq!(r.server.requests() - r.before, 3);
    let report = read_report(&r.b);
    assert_eq!(report["outcome"]["reason"]["kind"], "limit");
    assert_eq!(report["outcome"]["reason"]["limit"], "max-requests");
    assert_eq!(report["outcome"]["missing_rows"], 12 - 3);

    // Each answer is 15 tokens: a 40-token budget admits three requests.
    let o = run(with(&["--resume", "--max-tokens-total", "40"])).await;
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_eq!(r.server.requests() - r.before, 6);
    assert_eq!(
        read_report(&r.b)["outcome"]["reason"]["limit"],
        "max-tokens-total"
    );

    let o = run(with(&["--resume", "--max-cost", "1"])).await;
    assert_eq!(o.status.code(), Some(2), "no prices, no cost limit");
    assert!(
        stderr(&o).contains(
            "generate.max_cost must be left unset unless llm.price_per_1k_prompt or \
             llm.price_per_1k_completion is set, got 1.0"
        ),
        "{}",
        stderr(&o)
    );

    let o = run(with(&["--resume"])).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        read_jsonl(&r.a.join("augmented.jsonl")),
        read_jsonl(&r.b.join("augmented.jsonl")),
        "a run stopped twice by limits and resumed equals an uninterrupted one"
    );
    assert_eq!(r.server.requests() - r.before, 12, "no request asked twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_journal_write_failure_stops_the_run_and_keeps_the_answers() {
    let args = ["--target", "absolute:15", "--concurrency", "2"];
    // (open_filters_config has no embedding cache: the file-size limit hits the journal first.)
    let r = reference_run("", &args).await;

    let mut cmd = augment_llm(&r.b, &r.cfg, &r.url, &args);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            // Writes past 3 KB fail with EFBIG instead of killing the process.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: 3000,
                rlim_max: 3000,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let o = run(cmd).await;
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("journal") && err.contains("journal.jsonl"),
        "{err}"
    );
    let sent = r.server.requests() - r.before;
    let journaled = journal_requests(&r.b).len();
    assert!((3..30).contains(&journaled), "{journaled} journaled");
    // Stopped at once: at most the requests in flight beyond what was journaled.
    assert!(sent <= journaled + 2, "{sent} sent, {journaled} journaled");
    assert!(!r.b.join("report.json").exists());

    let o = run(augment_llm(
        &r.b,
        &r.cfg,
        &r.url,
        &[&args[..], &["--resume"]].concat(),
    ))
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        read_jsonl(&r.a.join("augmented.jsonl")),
        read_jsonl(&r.b.join("augmented.jsonl"))
    );
    assert!(read_report(&r.b)["llm"]["replayed"].as_u64().unwrap() >= journaled as u64);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resume_of_another_input_is_refused() {
    let server = good_server().await;
    let url = server.base_url();
    let dir = tempfile::tempdir().unwrap();
    let cfg = open_filters_config(dir.path(), "");
    let out = dir.path().join("out");
    let o = run(augment_llm(&out, &cfg, &url, &["--target", "absolute:2"])).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let header: Value = serde_json::from_str(
        std::fs::read_to_string(out.join("journal.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["event"], "header");
    assert_eq!(header["synthcti"], env!("CARGO_PKG_VERSION"));

    // The same file with one sentence changed.
    let changed = dir.path().join("changed.json");
    let text = std::fs::read_to_string(TINY).unwrap();
    let first = text.find("\"text\": \"").unwrap() + 9;
    std::fs::write(
        &changed,
        format!("{}Changed: {}", &text[..first], &text[first..]),
    )
    .unwrap();
    let o = run(augment_llm_on(
        &changed,
        &out,
        &cfg,
        &url,
        &["--target", "absolute:2", "--resume"],
    ))
    .await;
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("belongs to another run: the input dataset differs")
            && err.contains("--overwrite"),
        "{err}"
    );
    // Another seed is another configuration.
    let o = run(augment_llm(
        &out,
        &cfg,
        &url,
        &["--target", "absolute:2", "--resume", "--seed", "9"],
    ))
    .await;
    assert!(
        stderr(&o).contains("the configuration differs"),
        "{}",
        stderr(&o)
    );
    // A limit or a larger target is not: the resume goes on.
    let o = run(augment_llm(
        &out,
        &cfg,
        &url,
        &[
            "--target",
            "absolute:3",
            "--resume",
            "--max-requests",
            "100",
            "--concurrency",
            "3",
        ],
    ))
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_in_the_same_directory_is_refused() {
    let server = FaultServer::start(|_, body| {
        Reply::Delay(
            Duration::from_millis(200),
            Box::new(Reply::ok(&deterministic_answer(body))),
        )
    })
    .await;
    let url = server.base_url();
    let dir = tempfile::tempdir().unwrap();
    let cfg = open_filters_config(dir.path(), "");
    let out = dir.path().join("out");
    let args = ["--target", "absolute:10", "--concurrency", "1"];
    let mut first = augment_llm(&out, &cfg, &url, &args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while server.requests() == 0 && t.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let o = run(augment_llm(
        &out,
        &cfg,
        &url,
        &[&args[..], &["--resume"]].concat(),
    ))
    .await;
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("is in use by another synthcti run")
            && err.contains(&format!("pid {}", first.id())),
        "{err}"
    );
    let status = tokio::task::spawn_blocking(move || first.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success());
    // A procedures-only run does not write over the finished run either.
    let mut cmd = support::augment_cli::augment_cmd();
    cmd.args(["--input", TINY, "--output"])
        .arg(&out)
        .arg("--config")
        .arg(&cfg)
        .args(["--source", "procedures"]);
    let o = run(cmd).await;
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("holds a previous run"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn overwrite_keeps_the_old_answers_until_the_endpoint_works() {
    let good = good_server().await;
    let refusing = FaultServer::start(|_, _| Reply::status(401)).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = open_filters_config(dir.path(), "");
    let out = dir.path().join("out");
    let args = ["--target", "absolute:3"];
    let o = run(augment_llm(&out, &cfg, &good.base_url(), &args)).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let paid = journal_requests(&out).len();
    assert!(paid >= 6, "{paid} answers");

    for _ in 0..2 {
        let o = run(augment_llm(
            &out,
            &cfg,
            &refusing.base_url(),
            &[&args[..], &["--overwrite"]].concat(),
        ))
        .await;
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        let old = read_jsonl(&out.join("journal.jsonl.old"));
        let kept: Vec<&Value> = old.iter().filter(|v| v["event"] == "request").collect();
        assert_eq!(kept.len(), paid, "the paid answers are kept");
    }
    let o = run(augment_llm(
        &out,
        &cfg,
        &good.base_url(),
        &[&args[..], &["--overwrite"]].concat(),
    ))
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.join("journal.jsonl.old").exists());
    assert_eq!(
        synthetic(&read_jsonl(&out.join("augmented.jsonl"))).len(),
        6
    );
}

/// The local llama-server killed mid-run: the run stops, says so and exits 3.
#[test]
fn the_local_server_dying_stops_the_run() {
    if !support::local_llm::assets_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = open_filters_config(dir.path(), "[local]\nthreads = 1\n");
    let out = dir.path().join("out");
    let mut cmd = support::augment_cli::augment_cmd();
    cmd.args(["--input", TINY, "--output"])
        .arg(&out)
        .arg("--config")
        .arg(&cfg)
        .args(["--source", "llm", "--target", "absolute:40", "--seed", "5"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    // Wait for the first answer, then kill llama-server (the child of synthcti).
    let t = Instant::now();
    while journal_requests(&out).is_empty() && t.elapsed() < Duration::from_secs(180) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let server = children(child.id())
        .into_iter()
        .next()
        .expect("llama-server runs");
    // SAFETY: kill(2) on the pid of a process this test started (through synthcti).
    unsafe { libc::kill(server as i32, libc::SIGKILL) };
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("the local llama-server exited during the run"),
        "{err}"
    );
    let report = read_report(&out);
    assert_eq!(report["outcome"]["reason"]["kind"], "local-server-exited");
}

fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        out.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    out
}
