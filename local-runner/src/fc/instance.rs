//! One running instance of a function: a handler process in its own process
//! group, listening on a port of its own.

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use super::FunctionSpec;

/// How long a handler may take to listen after exec. Ours take milliseconds;
/// this only bounds a broken one.
const START_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Instance {
    /// `<function>-<n>`, the handler's `FC_INSTANCE_ID`.
    id: String,
    port: u16,
    pgid: i32,
    child: std::sync::Mutex<Option<Child>>,
    free: AtomicU32,
    /// Exec to listening, for the benchmark of cold starts.
    pub ready_after: Duration,
}

impl Instance {
    pub async fn start(spec: &FunctionSpec, log_dir: &Path, n: usize) -> std::io::Result<Instance> {
        let (program, args) = spec.command.split_first().ok_or_else(|| {
            std::io::Error::other(format!("function {} has no command", spec.name))
        })?;
        let port = free_port()?;
        let id = format!("{}-{n}", spec.name);
        let log_path = log_dir.join(format!("{}.log", spec.name));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("FC_SERVER_PORT", port.to_string())
            .env("FC_CUSTOM_LISTEN_PORT", port.to_string())
            .env("FC_SERVER_HOST", "127.0.0.1")
            .env("FC_FUNCTION_NAME", &spec.name)
            .env("FC_INSTANCE_ID", &id)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            // Its own group, so that killing the instance also kills the
            // ffmpeg processes it started.
            .process_group(0)
            .kill_on_drop(true);
        if let Some(cwd) = &spec.cwd {
            cmd.current_dir(cwd);
        }
        let exec_at = Instant::now();
        let mut child = cmd.spawn().map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot run {program:?} for {}: {e}", spec.name),
            )
        })?;
        let pgid = child.id().map(|p| p as i32).unwrap_or(0);
        // Ready when it accepts a TCP connection.
        loop {
            if let Some(status) = child.try_wait()? {
                return Err(std::io::Error::other(format!(
                    "{} exited with {status} before listening; see {}",
                    spec.name,
                    log_path.display()
                )));
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            if exec_at.elapsed() > START_TIMEOUT {
                kill_group(pgid);
                return Err(std::io::Error::other(format!(
                    "{} did not listen on port {port} within {START_TIMEOUT:?}",
                    spec.name
                )));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let ready_after = exec_at.elapsed();
        tracing::debug!(function = %spec.name, port, ?ready_after, "instance ready");
        Ok(Instance {
            id,
            port,
            pgid,
            child: std::sync::Mutex::new(Some(child)),
            free: AtomicU32::new(spec.instance_concurrency.max(1)),
            ready_after,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn is_alive(&self) -> bool {
        match self.child.lock() {
            Ok(mut g) => match g.as_mut() {
                Some(c) => matches!(c.try_wait(), Ok(None)),
                None => false,
            },
            Err(_) => false,
        }
    }

    /// Take one of the instance's concurrency slots, if one is free.
    pub fn take_slot(&self) -> bool {
        self.free
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    pub fn free_slot(&self) {
        self.free.fetch_add(1, Ordering::SeqCst);
    }

    /// Kill the process group and reap the handler.
    pub async fn kill(&self) {
        kill_group(self.pgid);
        let child = self.child.lock().ok().and_then(|mut g| g.take());
        if let Some(mut c) = child {
            let _ = c.kill().await;
            let _ = c.wait().await;
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        kill_group(self.pgid);
    }
}

fn kill_group(pgid: i32) {
    if pgid > 0 {
        // SAFETY: killpg has no memory effects; a stale group id fails with ESRCH.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}

fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
