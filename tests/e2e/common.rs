//! The test harness: a private state root per test, a runner for the `berth` binary, and the
//! busybox image every test starts from, made offline from the host's busybox-static.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Env {
    pub dir: tempfile::TempDir,
}

/// What one berth command did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

pub fn berth_bin() -> &'static str {
    env!("CARGO_BIN_EXE_berth")
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::Builder::new().prefix("berth-test-").tempdir().expect("temp dir");
        // An empty engine configuration, so the host's /etc/berth/daemon.json never leaks in.
        std::fs::write(dir.path().join("daemon.json"), "{}").expect("write config");
        Env { dir }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A `berth` command bound to this test's state root.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(berth_bin());
        cmd.args(args)
            .env("BERTH_ROOT", self.root())
            .env("BERTH_RUNROOT", self.dir.path().join("run"))
            .env("BERTH_CONFIG", self.dir.path().join("daemon.json"))
            .stdin(Stdio::null());
        cmd
    }

    /// `berth compose ARGS` in the project directory `dir`, whatever the exit code.
    pub fn compose(&self, dir: &Path, args: &[&str]) -> Run {
        let mut full = vec!["compose"];
        full.extend_from_slice(args);
        Run::from(self.cmd(&full).current_dir(dir).output().expect("run berth compose"))
    }

    /// Like `compose`, failing the test on a non-zero exit.
    pub fn compose_ok(&self, dir: &Path, args: &[&str]) -> Run {
        let run = self.compose(dir, args);
        assert_eq!(run.code, 0, "compose {args:?} failed:\n{}{}", run.stdout, run.stderr);
        run
    }

    /// Runs berth and returns what it did, whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.cmd(args).output().expect("run berth"))
    }

    /// Runs berth and fails the test unless it exits 0.
    pub fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(run.code, 0, "berth {args:?} failed:\nstdout: {}\nstderr: {}", run.stdout, run.stderr);
        run
    }

    /// Runs berth, expects it to fail with `code`, and returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let run = self.run(args);
        assert_eq!(
            run.code, code,
            "berth {args:?}: expected exit {code}:\nstdout: {}\nstderr: {}",
            run.stdout, run.stderr
        );
        run.stderr
    }

    /// Imports the busybox test image under `name` and returns its ID.
    pub fn busybox(&self, name: &str) -> String {
        let tar = busybox_tar().to_str().expect("utf-8 path");
        self.ok(&["import", "-c", "CMD [\"sh\"]", tar, name]).stdout.trim().to_string()
    }

    /// `system check` must find no errors and no garbage.
    pub fn assert_store_clean(&self) {
        let run = self.ok(&["system", "check", "--no-repair"]);
        assert!(run.stdout.contains("0 errors, 0 garbage found"), "store not clean:\n{}{}", run.stdout, run.stderr);
    }
}

/// A test that fails half-way still leaves nothing running or mounted: every container of its
/// state root is force-removed (the temp dir itself goes with `TempDir`).
impl Drop for Env {
    fn drop(&mut self) {
        if !self.root().join("berth.db").exists() {
            return;
        }
        let ids = self.run(&["ps", "-aq", "--no-trunc"]).stdout;
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids);
            let _ = self.run(&args);
        }
        // Then its networks: bridges and rules.
        let _ = self.run(&["network", "prune", "-f"]);
    }
}

/// A tarball of a busybox root filesystem (busybox-static, its applet links, passwd, group),
/// built once per test run.
pub fn busybox_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("busybox-{}", std::process::id()));
        let rootfs = base.join("rootfs");
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        std::fs::create_dir_all(rootfs.join("etc")).unwrap();
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
            .expect("busybox-static is installed (scripts/setup.sh)");
        let out =
            Command::new("chroot").arg(&rootfs).args(["/bin/busybox", "--install", "-s", "/bin"]).output().unwrap();
        assert!(out.status.success(), "busybox --install: {}", String::from_utf8_lossy(&out.stderr));
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        .unwrap();
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
        let tar = base.join("busybox.tar");
        let out = Command::new("tar").arg("-C").arg(&rootfs).arg("-cf").arg(&tar).arg(".").output().unwrap();
        assert!(out.status.success());
        tar
    })
}

/// Runs a host command and returns stdout, failing the test on a non-zero exit.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("run sh");
    assert!(
        out.status.success(),
        "{cmd} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fails the test with a clear message when a host tool that scripts/setup.sh installs is absent.
pub fn require(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(found, "{tool} is not installed: run scripts/setup.sh");
}

/// A host port nobody uses now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An HTTP GET from the host, with timeouts; the body.
pub fn http_get(addr: &str) -> String {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = std::net::TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
        })();
        match attempt {
            Ok(body) if !body.is_empty() => return body,
            other => assert!(Instant::now() < deadline, "GET {addr}: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The kernel objects a network or container of this test would leave: its bridge, veths,
/// network namespaces, and berth's rules. A container's veth pair goes with its namespace,
/// which the kernel tears down in the background once berth unpinned it (a few to a few tens
/// of milliseconds): veths alone are given up to 3 s to go.
pub fn leftovers(network_id: &str, container_ids: &[&str]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = leftovers_now(network_id, container_ids);
        if !left.iter().any(|l| l.starts_with("veth of ")) || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn leftovers_now(network_id: &str, container_ids: &[&str]) -> Vec<String> {
    let mut left = Vec::new();
    let links = sh("ip -o link show");
    let bridge = format!("br-{}", &network_id[..12]);
    if links.contains(&bridge) {
        left.push(bridge.clone());
    }
    let namespaces = sh("ip netns list");
    for id in container_ids {
        if links.contains(&format!("vb{}", &id[..12])) {
            left.push(format!("veth of {id}"));
        }
        if namespaces.contains(&format!("berth-{}", &id[..12])) {
            left.push(format!("netns of {id}"));
        }
    }
    let rules = sh("nft list ruleset");
    if rules.contains(&format!("berth:{network_id}")) {
        left.push("nft rules".into());
    }
    if sh("iptables -S FORWARD 2>/dev/null || true").contains(&bridge) {
        left.push("iptables rules".into());
    }
    left
}
