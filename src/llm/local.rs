//! The local default endpoint: a `llama-server` child process serving the GGUF model that
//! `scripts/setup.sh` installed under `$SYNTHCTI_HOME`.
//!
//! Lifetime: the child is stopped (SIGTERM, then SIGKILL after 3 s) when the
//! [`LocalServer`] is dropped or stopped, and when startup fails. If the synthcti process
//! itself dies (Ctrl-C with the default handler, `kill -9`, a panic that aborts), the kernel
//! kills the child too: it is spawned with `prctl(PR_SET_PDEATHSIG, SIGKILL)`. Because that
//! signal follows the *thread* that forked, the child is spawned and watched by a dedicated
//! keeper thread that lives exactly as long as the `LocalServer`, never by a tokio worker or
//! blocking-pool thread that the runtime may retire.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{LlmError, MAX_TIMEOUT_SECS, MIN_TIMEOUT_SECS};
use crate::home::{SETUP_HINT, synthcti_home};
use crate::setting::{SettingError, check_range};

/// The model file `scripts/setup.sh` installs by default.
const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// The alias the default model is served under.
const DEFAULT_MODEL_ALIAS: &str = "smollm2-135m";
/// Lines of the server log quoted in startup errors.
const LOG_TAIL_LINES: usize = 20;
/// How long a stopping server gets between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(3);

/// Settings of the local `llama-server` (all optional; defaults match `scripts/start-llm.sh`).
///
/// Paths are resolved in this order: the field here, the environment variable
/// (`LLAMA_SERVER`, `LLM_MODEL_PATH`, `LLM_MODEL_NAME`), the same key in
/// `$SYNTHCTI_HOME/llm.env` (written by setup), then the default under `$SYNTHCTI_HOME`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalServerConfig {
    /// The `llama-server` binary (default `$SYNTHCTI_HOME/bin/llama-server`).
    pub server_bin: Option<PathBuf>,
    /// The GGUF model (default `$SYNTHCTI_HOME/models/SmolLM2-135M-Instruct.Q4_1.gguf`).
    pub model_path: Option<PathBuf>,
    /// The name `/v1/models` reports (`--alias`; default `smollm2-135m`).
    pub model_alias: Option<String>,
    /// Parallel slots = requests decoded together (`-np`, default 4).
    pub slots: usize,
    /// Context tokens per slot (default 2048); the server gets `slots × ctx_per_slot`.
    pub ctx_per_slot: u32,
    /// Generation and batch threads (`-t`/`-tb`). Default: the available CPUs, between 1
    /// and 4: during `augment` synthcti itself mostly waits, and on the idle 2-core box a
    /// 30-request run took 23.2 s with `-t 2` against 41.2 s with `-t 1`. ggml's threads
    /// spin at barriers, though, so when other work shares the CPU set `threads = 1`
    /// (`[local]` section): with load ~7, 64 tokens took 14-15 s with `-t 2` and 1.0-1.3 s
    /// with `-t 1`.
    pub threads: Option<usize>,
    /// Seconds to wait for `/health` to answer 200 (default 120).
    pub start_timeout_secs: f64,
    /// Extra `llama-server` arguments, appended last.
    pub extra_args: Vec<String>,
    /// Where the server log `llm-PORT.log` goes (default `$SYNTHCTI_HOME/logs`).
    pub log_dir: Option<PathBuf>,
}

impl Default for LocalServerConfig {
    fn default() -> Self {
        Self {
            server_bin: None,
            model_path: None,
            model_alias: None,
            slots: 4,
            ctx_per_slot: 2048,
            threads: None,
            start_timeout_secs: 120.0,
            extra_args: Vec::new(),
            log_dir: None,
        }
    }
}

impl LocalServerConfig {
    /// Validate the numeric settings; the error names the first bad field.
    pub fn check(&self) -> Result<(), SettingError> {
        check_range("local.slots", self.slots, 1..=64)?;
        check_range("local.ctx_per_slot", self.ctx_per_slot, 256..=1_048_576)?;
        if let Some(t) = self.threads {
            check_range("local.threads", t, 1..)?;
        }
        check_range(
            "local.start_timeout_secs",
            self.start_timeout_secs,
            MIN_TIMEOUT_SECS..=MAX_TIMEOUT_SECS,
        )
    }
}

/// A running `llama-server` child on `127.0.0.1`, stopped on drop.
#[derive(Debug)]
pub struct LocalServer {
    base_url: String,
    port: u16,
    pid: u32,
    model_alias: String,
    log_path: PathBuf,
    startup: Duration,
    keeper: Keeper,
}

impl LocalServer {
    /// Find the binary and the model, pick a free port, spawn `llama-server` with the flags
    /// of `scripts/start-llm.sh` and wait until `/health` answers 200.
    ///
    /// Errors: [`LlmError::MissingAsset`] naming the missing path and `scripts/setup.sh`;
    /// [`LlmError::ServerStart`] with the tail of the server log when the process exits
    /// early or is not healthy within `start_timeout_secs` (the process is stopped then).
    pub async fn start(cfg: &LocalServerConfig) -> Result<LocalServer, LlmError> {
        cfg.check()?;
        let home = synthcti_home();
        let file_env = read_env_file(&home.join("llm.env"));
        let pick = |field: &Option<PathBuf>, key: &str, default: PathBuf| {
            field
                .clone()
                .or_else(|| {
                    std::env::var_os(key)
                        .filter(|v| !v.is_empty())
                        .map(PathBuf::from)
                })
                .or_else(|| {
                    file_env
                        .get(key)
                        .filter(|v| !v.is_empty())
                        .map(PathBuf::from)
                })
                .unwrap_or(default)
        };
        let bin = pick(
            &cfg.server_bin,
            "LLAMA_SERVER",
            home.join("bin").join("llama-server"),
        );
        let model = pick(
            &cfg.model_path,
            "LLM_MODEL_PATH",
            home.join("models").join(DEFAULT_MODEL_FILE),
        );
        let alias = cfg
            .model_alias
            .clone()
            .or_else(|| {
                std::env::var("LLM_MODEL_NAME")
                    .ok()
                    .filter(|v| !v.is_empty())
            })
            .or_else(|| {
                file_env
                    .get("LLM_MODEL_NAME")
                    .filter(|v| !v.is_empty())
                    .cloned()
            })
            .unwrap_or_else(|| DEFAULT_MODEL_ALIAS.to_string());
        let hint = format!("{SETUP_HINT} (it installs into {})", home.display());
        if !bin.is_file() {
            return Err(LlmError::MissingAsset {
                what: "llama-server binary",
                path: bin,
                hint,
            });
        }
        if !model.is_file() {
            return Err(LlmError::MissingAsset {
                what: "GGUF model",
                path: model,
                hint,
            });
        }
        let log_dir = cfg.log_dir.clone().unwrap_or_else(|| home.join("logs"));
        std::fs::create_dir_all(&log_dir)
            .map_err(|e| start_error(format!("cannot create {}: {e}", log_dir.display()), ""))?;

        // The port is picked by binding :0 and released before the server binds it, so
        // another process may take it in between: retry with a new port in that case.
        let mut last_err = None;
        for _ in 0..3 {
            match Self::try_start(cfg, &bin, &model, &alias, &log_dir).await {
                Ok(server) => return Ok(server),
                Err((err, port_taken)) => {
                    if !port_taken {
                        return Err(err);
                    }
                    tracing::warn!("llama-server lost its port, retrying: {err}");
                    last_err = Some(err);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| start_error("no free port".into(), "")))
    }

    /// One start on a fresh port; the flag says whether it failed because the port was taken.
    async fn try_start(
        cfg: &LocalServerConfig,
        bin: &Path,
        model: &Path,
        alias: &str,
        log_dir: &Path,
    ) -> Result<LocalServer, (LlmError, bool)> {
        let fail = |e: LlmError| (e, false);
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| fail(start_error(format!("cannot find a free port: {e}"), "")))?;
        let log_path = log_dir.join(format!("llm-{port}.log"));
        let cmd = server_command(cfg, bin, model, alias, port, &log_path).map_err(fail)?;
        let started = Instant::now();
        let keeper = Keeper::spawn(cmd).map_err(|e| {
            fail(start_error(
                format!("cannot run {}: {e}", bin.display()),
                "",
            ))
        })?;
        let pid = keeper.pid;
        let threads = cfg.threads.unwrap_or_else(default_threads);
        tracing::info!(pid, port, model = %model.display(), slots = cfg.slots, threads, "starting llama-server");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = started + Duration::from_secs_f64(cfg.start_timeout_secs);
        let keeper = wait_healthy(keeper, &base, deadline, cfg, bin, &log_path).await?;
        let startup = started.elapsed();
        tracing::info!(
            pid,
            port,
            startup_ms = startup.as_millis() as u64,
            "llama-server ready"
        );
        Ok(LocalServer {
            base_url: format!("{base}/v1"),
            port,
            pid,
            model_alias: alias.to_string(),
            log_path,
            startup,
            keeper,
        })
    }

    /// The OpenAI-compatible base URL, `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id of the `llama-server` child.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The model name the server reports (its `--alias`).
    pub fn model_alias(&self) -> &str {
        &self.model_alias
    }

    /// The server's log file, `llm-PORT.log` in the log directory.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Time from spawn until `/health` answered 200.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// Whether the child is still running (false once it exited or was stopped).
    pub fn is_running(&self) -> bool {
        self.keeper.exit_status().is_none()
    }

    /// Stop the server now (SIGTERM, SIGKILL after 3 s) and wait for it; same as dropping.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        tracing::info!(pid = self.pid, port = self.port, "stopping llama-server");
    }
}

/// Owns the keeper thread, which spawned the child and stops it when told or when this
/// handle is dropped.
#[derive(Debug)]
struct Keeper {
    pid: u32,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    exit: Arc<Mutex<Option<ExitStatus>>>,
}

impl Keeper {
    fn spawn(mut cmd: Command) -> std::io::Result<Keeper> {
        let (ready_tx, ready_rx) = mpsc::channel::<std::io::Result<u32>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let exit = Arc::new(Mutex::new(None));
        let exit_in = Arc::clone(&exit);
        let thread = std::thread::Builder::new()
            .name("llama-server-keeper".into())
            .spawn(move || {
                let mut child = match cmd.spawn() {
                    Ok(child) => child,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(child.id()));
                loop {
                    match stop_rx.recv_timeout(Duration::from_millis(100)) {
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                            let status = terminate(&mut child);
                            set_exit(&exit_in, status);
                            return;
                        }
                        Err(RecvTimeoutError::Timeout) => {
                            if let Ok(Some(status)) = child.try_wait() {
                                set_exit(&exit_in, Some(status));
                                return;
                            }
                        }
                    }
                }
            })?;
        let pid = match ready_rx.recv() {
            Ok(Ok(pid)) => pid,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(std::io::Error::other("the keeper thread died"));
            }
        };
        Ok(Keeper {
            pid,
            stop: Some(stop_tx),
            thread: Some(thread),
            exit,
        })
    }

    fn exit_status(&self) -> Option<ExitStatus> {
        *self.exit.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn set_exit(slot: &Mutex<Option<ExitStatus>>, status: Option<ExitStatus>) {
    let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
    // A child that could not be waited for still counts as gone for `is_running`.
    *guard = status.or_else(|| Some(std::os::unix::process::ExitStatusExt::from_raw(0)));
}

/// SIGTERM, wait up to [`TERM_GRACE`], then SIGKILL; reap the child.
fn terminate(child: &mut Child) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: plain syscall on our own, not yet reaped child (its pid cannot be reused).
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + TERM_GRACE;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    child.wait().ok()
}

/// The llama-server command for `port`: its output into `log_path`, killed with its parent
/// (`PR_SET_PDEATHSIG`).
fn server_command(
    cfg: &LocalServerConfig,
    bin: &Path,
    model: &Path,
    alias: &str,
    port: u16,
    log_path: &Path,
) -> Result<Command, LlmError> {
    let log = File::create(log_path)
        .map_err(|e| start_error(format!("cannot create {}: {e}", log_path.display()), ""))?;
    let log_err = log
        .try_clone()
        .map_err(|e| start_error(format!("cannot reopen {}: {e}", log_path.display()), ""))?;
    let mut cmd = Command::new(bin);
    cmd.args(server_args(cfg, model, alias, port));
    cmd.args(&cfg.extra_args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err));
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe calls (prctl, getppid); it allocates nothing (the error path is
    // a plain `io::Error` from an OS error code).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    Ok(cmd)
}

/// Polls `{base}/health` until it answers 2xx; stops the server (dropping `keeper`) when it
/// exits first (the flag: whether its log says the port was taken) or `deadline` passes.
async fn wait_healthy(
    keeper: Keeper,
    base: &str,
    deadline: Instant,
    cfg: &LocalServerConfig,
    bin: &Path,
    log_path: &Path,
) -> Result<Keeper, (LlmError, bool)> {
    let health = format!("{base}/health");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| {
            (
                start_error(format!("cannot build an HTTP client: {e}"), ""),
                false,
            )
        })?;
    loop {
        if let Some(status) = keeper.exit_status() {
            let tail = log_tail(log_path, LOG_TAIL_LINES);
            let port_taken = tail.contains("bind") || tail.contains("in use");
            drop(keeper);
            let err = start_error(
                format!(
                    "{} exited with {status} during startup (log: {})",
                    bin.display(),
                    log_path.display()
                ),
                &tail,
            );
            return Err((err, port_taken));
        }
        if let Ok(resp) = http.get(&health).send().await
            && resp.status().is_success()
        {
            return Ok(keeper);
        }
        if Instant::now() >= deadline {
            drop(keeper); // stops the process
            let tail = log_tail(log_path, LOG_TAIL_LINES);
            let err = start_error(
                format!(
                    "no healthy answer from {health} within {:.0} s (log: {})",
                    cfg.start_timeout_secs,
                    log_path.display()
                ),
                &tail,
            );
            return Err((err, false));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The available CPUs, between 1 and 4 (see [`LocalServerConfig::threads`]).
fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
}

fn start_error(reason: String, log_tail: &str) -> LlmError {
    LlmError::ServerStart {
        reason,
        log_tail: log_tail.to_string(),
    }
}

/// `KEY=VALUE` lines (optional `export `, quotes, `#` comments) of a setup-written env file.
fn read_env_file(path: &Path) -> HashMap<String, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return HashMap::new();
    };
    parse_env(&text)
}

fn parse_env(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let l = l.strip_prefix("export ").unwrap_or(l);
            let (k, v) = l.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
                .unwrap_or(v);
            Some((k.trim().to_string(), v.to_string()))
        })
        .collect()
}

/// The last `n` lines of a log file (reads at most its last 64 KiB).
fn log_tail(path: &Path, n: usize) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let start = len.saturating_sub(64 * 1024);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// llama-server's command line (before `extra_args`): model, alias, loopback port,
/// threads, context and slots, batch sizes; `--no-repack` on an AMX CPU and a chat
/// template for the base gemma model.
fn server_args(cfg: &LocalServerConfig, model: &Path, alias: &str, port: u16) -> Vec<OsString> {
    let threads = cfg.threads.unwrap_or_else(default_threads).to_string();
    let ctx = (cfg.slots as u64 * u64::from(cfg.ctx_per_slot)).to_string();
    let mut args: Vec<OsString> = vec!["-m".into(), model.into()];
    let port = port.to_string();
    let slots = cfg.slots.to_string();
    args.extend(
        [
            "--alias",
            alias,
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "-t",
            &threads,
            "-tb",
            &threads,
            "-c",
            &ctx,
            "-np",
            &slots,
            "-b",
            "512",
            "-ub",
            "512",
            "--threads-http",
            "4",
            "--no-webui",
            "--metrics",
        ]
        .map(OsString::from),
    );
    if cpu_has_amx() {
        // llama.cpp's AMX matmul (used for repacked weights when built with -march=native
        // on an AMX CPU) segfaults at warm-up on Sapphire Rapids VMs; without repacking it
        // runs the AVX-512 kernels.
        args.push("--no-repack".into());
    }
    if alias == "gemma3-270m" {
        // The gemma3-270m GGUF is a base model without a chat template (see LLM.md).
        args.extend(["--chat-template", "gemma"].map(OsString::from));
    }
    args
}

/// Whether the CPU has Intel AMX (the `amx_int8` or `amx_tile` flag in `/proc/cpuinfo`).
fn cpu_has_amx() -> bool {
    std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|info| {
        info.lines()
            .filter(|l| l.starts_with("flags"))
            .take(1)
            .any(|l| {
                l.split_whitespace()
                    .any(|f| f == "amx_int8" || f == "amx_tile")
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_parsing() {
        let env = parse_env(
            "# comment\nLLAMA_SERVER=/a/b/llama-server\nexport LLM_MODEL_PATH=\"/m/x.gguf\"\nLLM_MODEL_NAME='smol'\nbogus\n",
        );
        assert_eq!(env["LLAMA_SERVER"], "/a/b/llama-server");
        assert_eq!(env["LLM_MODEL_PATH"], "/m/x.gguf");
        assert_eq!(env["LLM_MODEL_NAME"], "smol");
        assert_eq!(env.len(), 3);
    }

    #[test]
    fn log_tail_takes_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        std::fs::write(
            &p,
            (1..=30).map(|i| format!("line {i}\n")).collect::<String>(),
        )
        .unwrap();
        let tail = log_tail(&p, 3);
        assert_eq!(tail, "line 28\nline 29\nline 30");
        assert_eq!(log_tail(&dir.path().join("missing"), 3), "");
    }

    #[test]
    fn config_check() {
        LocalServerConfig::default().check().unwrap();
        let bad = LocalServerConfig {
            slots: 0,
            ..LocalServerConfig::default()
        };
        assert_eq!(bad.check().unwrap_err().key, "local.slots");
    }

    #[tokio::test]
    async fn missing_binary_names_path_and_setup() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LocalServerConfig {
            server_bin: Some(dir.path().join("no-such-llama-server")),
            ..LocalServerConfig::default()
        };
        let err = LocalServer::start(&cfg).await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, LlmError::MissingAsset { .. }), "{err:?}");
        assert!(msg.contains("no-such-llama-server"), "{msg}");
        assert!(msg.contains("scripts/setup.sh"), "{msg}");
    }

    #[tokio::test]
    async fn early_exit_reports_log_tail() {
        // A fake "server" that prints and exits at once.
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("fake-server");
        std::fs::write(
            &bin,
            "#!/bin/sh\necho 'error: model is broken' >&2\nexit 3\n",
        )
        .unwrap();
        let mut perms = std::fs::metadata(&bin).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&bin, perms).unwrap();
        let model = dir.path().join("m.gguf");
        std::fs::write(&model, b"GGUF").unwrap();
        let cfg = LocalServerConfig {
            server_bin: Some(bin),
            model_path: Some(model),
            start_timeout_secs: 20.0,
            log_dir: Some(dir.path().join("logs")),
            ..LocalServerConfig::default()
        };
        let err = LocalServer::start(&cfg).await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, LlmError::ServerStart { .. }), "{err:?}");
        assert!(msg.contains("model is broken"), "{msg}");
        assert!(msg.contains("exited"), "{msg}");
    }
}
