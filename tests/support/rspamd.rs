//! A real rspamd for the spam-filter tests: a throwaway instance on a
//! loopback port, its resolver pointed at the test's embedded DNS server
//! (so nothing it looks up leaves the machine), stopped when dropped.
//! When rspamd is not installed the tests that need it say so and skip,
//! unless MAILAUDIT_RSPAMD_TESTS=require (as .ci/run sets).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Rspamd {
    pub url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Rspamd {
    fn drop(&mut self) {
        // SIGTERM: the main process stops its workers (SIGKILL would leave
        // them running).
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts rspamd, or `None` (said on stderr) when it is not installed and
/// not required.
pub fn start(dns: SocketAddr) -> Option<Rspamd> {
    let installed = Command::new("rspamd")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        if std::env::var("MAILAUDIT_RSPAMD_TESTS").as_deref() == Ok("require") {
            panic!("rspamd is required (MAILAUDIT_RSPAMD_TESTS=require) but not installed");
        }
        eprintln!(
            "note: rspamd is not installed; the spam-filter test with a real rspamd is skipped (apt-get install rspamd)"
        );
        return None;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let d = dir.path();
    for sub in ["local.d", "override.d", "db", "run", "log"] {
        std::fs::create_dir_all(d.join(sub)).expect("rspamd directories");
    }
    let (normal, controller, proxy) = (free_port(), free_port(), free_port());
    let write =
        |path: &str, text: String| std::fs::write(d.join(path), text).expect("rspamd config");
    write(
        "override.d/worker-normal.inc",
        format!("bind_socket = \"127.0.0.1:{normal}\";\ncount = 1;\n"),
    );
    write(
        "override.d/worker-controller.inc",
        format!("bind_socket = \"127.0.0.1:{controller}\";\ncount = 1;\n"),
    );
    write(
        "override.d/worker-proxy.inc",
        format!("bind_socket = \"127.0.0.1:{proxy}\";\nmilter = no;\ncount = 1;\n"),
    );
    write("override.d/worker-fuzzy.inc", "count = 0;\n".into());
    write(
        "local.d/options.inc",
        format!("dns {{ nameserver = [\"{dns}\"]; timeout = 0.5s; retransmits = 1; }}\n"),
    );
    write("local.d/fuzzy_check.conf", "enabled = false;\n".into());
    write(
        "override.d/logging.inc",
        format!(
            "type = \"file\"; filename = \"{}\"; level = \"error\";\n",
            d.join("log/rspamd.log").display()
        ),
    );
    let var = |k: &str, v: &std::path::Path| format!("{k}={}", v.display());
    let child = Command::new("rspamd")
        .args(["-f", "--insecure", "-c", "/etc/rspamd/rspamd.conf"])
        .args(["--var", &var("LOCAL_CONFDIR", d)])
        .args(["--var", &var("DBDIR", &d.join("db"))])
        .args(["--var", &var("RUNDIR", &d.join("run"))])
        .args(["--var", &var("LOGDIR", &d.join("log"))])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rspamd starts");
    let started = Instant::now();
    let addr: SocketAddr = format!("127.0.0.1:{normal}").parse().expect("an address");
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "rspamd did not listen within 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Some(Rspamd {
        url: format!("http://127.0.0.1:{normal}"),
        child,
        _dir: dir,
    })
}
