//! `berth compose watch`, through the binary, as root: a project with a `sync`, a `rebuild`
//! and a `sync+restart` rule; each change is checked from inside the container; a burst of
//! 500 files is one batch; ignored paths never arrive; Ctrl-C ends the watch.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{sh, Env};

/// A running `berth compose watch`, its output lines (stdout and stderr) collected.
struct Watching {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Watching {
    fn start(env: &Env, dir: &Path, args: &[&str]) -> Watching {
        let mut full = vec!["compose"];
        full.extend_from_slice(args);
        let mut child =
            env.cmd(&full).current_dir(dir).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().unwrap());
        let err: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().unwrap());
        for stream in [out, err] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let w = Watching { child, lines };
        w.wait_line("Watch enabled", 1, 120);
        w
    }

    fn count(&self, needle: &str) -> usize {
        self.lines.lock().unwrap().iter().filter(|l| l.contains(needle)).count()
    }

    fn text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits until `n` lines contain `needle`.
    fn wait_line(&self, needle: &str, n: usize, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while self.count(needle) < n {
            assert!(Instant::now() < deadline, "no {n}x {needle:?} in:\n{}", self.text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ctrl-C: the command ends with `code`.
    fn interrupt(mut self, code: i32) {
        sh(&format!("kill -INT {}", self.child.id()));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert_eq!(status.code(), Some(code), "watch exited with {status}:\n{}", self.text());
                return;
            }
            assert!(Instant::now() < deadline, "watch did not stop on SIGINT:\n{}", self.text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// `sh -c SCRIPT` in the service's container: its stdout, or None when it fails.
fn in_container(env: &Env, dir: &Path, service: &str, script: &str) -> Option<String> {
    let run = env.compose(dir, &["exec", "-T", service, "sh", "-c", script]);
    (run.code == 0).then(|| run.stdout.trim().to_string())
}

/// Polls the container until `script` prints `want`.
fn eventually(env: &Env, dir: &Path, service: &str, script: &str, want: &str, watching: &Watching) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = in_container(env, dir, service, script);
        if got.as_deref() == Some(want) {
            return;
        }
        assert!(Instant::now() < deadline, "{script}: {got:?}, want {want:?}; watch said:\n{}", watching.text());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn inspect(env: &Env, name: &str, format: &str) -> String {
    env.ok(&["inspect", "--format", format, name]).stdout.trim().to_string()
}

const PROJECT: &str = r#"
name: watchproj
services:
  web:
    image: bb
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    develop:
      watch:
        - path: ./src
          target: /app/src
          action: sync
          ignore: ["*.log", "tmp/"]
        - path: ./conf
          target: /etc/app
          action: sync+restart
  api:
    build: ./api
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    develop:
      watch:
        - path: ./api
          action: rebuild
          ignore: ["notes.md"]
"#;

fn project(env: &Env) -> PathBuf {
    env.busybox("bb");
    let dir = env.path("watch-proj");
    write(&dir.join("compose.yaml"), PROJECT);
    write(&dir.join("src/hello.txt"), "zero\n");
    write(&dir.join("conf/app.conf"), "a=1\n");
    write(&dir.join("api/Dockerfile"), "FROM bb\nCOPY version /version\n");
    write(&dir.join("api/version"), "1\n");
    dir
}

#[test]
fn watch_syncs_rebuilds_and_restarts_and_batches_a_burst() {
    let env = Env::new();
    let dir = project(&env);
    let w = Watching::start(&env, &dir, &["watch"]);
    let src = dir.join("src");

    // A new file, an executable one in a new directory, then an edit and a deletion.
    write(&src.join("new.txt"), "fresh\n");
    write(&src.join("bin/deep/run.sh"), "#!/bin/sh\necho ran\n");
    sh(&format!("chmod 0750 {}", src.join("bin/deep/run.sh").display()));
    eventually(&env, &dir, "web", "cat /app/src/new.txt", "fresh", &w);
    eventually(&env, &dir, "web", "stat -c %a /app/src/bin/deep/run.sh && /app/src/bin/deep/run.sh", "750\nran", &w);
    write(&src.join("new.txt"), "edited\n");
    eventually(&env, &dir, "web", "cat /app/src/new.txt", "edited", &w);
    std::fs::remove_file(src.join("new.txt")).unwrap();
    eventually(&env, &dir, "web", "test -e /app/src/new.txt && echo there || echo gone", "gone", &w);
    std::fs::remove_dir_all(src.join("bin")).unwrap();
    eventually(&env, &dir, "web", "test -e /app/src/bin && echo there || echo gone", "gone", &w);

    // Ignored by the rule, editor droppings: never synced, even alongside a synced change.
    write(&src.join("debug.log"), "noise\n");
    write(&src.join("tmp/scratch"), "noise\n");
    write(&src.join(".hello.txt.swp"), "vim\n");
    write(&src.join("hello.txt~"), "backup\n");
    write(&src.join("4913"), "");
    write(&src.join("hello.txt"), "one\n");
    eventually(&env, &dir, "web", "cat /app/src/hello.txt", "one", &w);
    std::thread::sleep(Duration::from_millis(500));
    eventually(&env, &dir, "web", "ls -A /app/src", "hello.txt", &w);

    // A burst of 500 files (what a `git checkout` does) is one batch.
    std::fs::create_dir_all(src.join("many")).unwrap();
    eventually(&env, &dir, "web", "test -d /app/src/many && echo yes", "yes", &w);
    std::thread::sleep(Duration::from_millis(300));
    let before = w.count("Syncing \"web\"");
    for i in 0..500 {
        std::fs::write(src.join(format!("many/f{i:03}.txt")), format!("{i}\n")).unwrap();
    }
    eventually(&env, &dir, "web", "ls /app/src/many | wc -l", "500", &w);
    eventually(&env, &dir, "web", "cat /app/src/many/f499.txt", "499", &w);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(w.count("Syncing \"web\""), before + 1, "one batch for the burst:\n{}", w.text());
    assert!(w.text().contains("Syncing \"web\" after 500 changed files"), "{}", w.text());

    // sync+restart: the file arrives and the container restarts.
    let started = inspect(&env, "watchproj-web-1", "{{.State.StartedAt}}");
    write(&dir.join("conf/app.conf"), "a=2\n");
    eventually(&env, &dir, "web", "cat /etc/app/app.conf", "a=2", &w);
    w.wait_line("Restarting \"web\"", 1, 30);
    let deadline = Instant::now() + Duration::from_secs(30);
    while inspect(&env, "watchproj-web-1", "{{.State.StartedAt}}") == started {
        assert!(Instant::now() < deadline, "web was not restarted:\n{}", w.text());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(inspect(&env, "watchproj-web-1", "{{.State.Status}}"), "running");

    // rebuild: a new image and a new container that has the change.
    let image = inspect(&env, "watchproj-api", "{{.Id}}");
    let container = inspect(&env, "watchproj-api-1", "{{.Id}}");
    write(&dir.join("api/notes.md"), "ignored: no rebuild\n");
    write(&dir.join("api/version"), "2\n");
    w.wait_line("Rebuilding \"api\" after changes were detected", 1, 60);
    eventually(&env, &dir, "api", "cat /version", "2", &w);
    assert_ne!(inspect(&env, "watchproj-api", "{{.Id}}"), image);
    assert_ne!(inspect(&env, "watchproj-api-1", "{{.Id}}"), container);
    assert_eq!(w.count("Rebuilding"), 1, "{}", w.text());
    assert!(in_container(&env, &dir, "api", "test -e /notes.md").is_none());

    w.interrupt(0);
    env.compose_ok(&dir, &["down", "-t", "1"]);
    assert_eq!(env.ok(&["ps", "-aq"]).stdout, "");
}

const SHARED: &str = r#"
name: watchexec
services:
  app:
    build: ./app
    image: watchexec-shared
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    develop:
      watch:
        - path: ./app/src
          target: /src
          action: sync+exec
          exec:
            command: ["sh", "-c", "echo \"exec $$GREETING $$(cat msg) $$(id -u) $$(pwd)\""]
            user: nobody
            working_dir: /src
            environment:
              GREETING: hi
        - path: ./app/VERSION
          action: rebuild
  worker:
    build: ./app
    image: watchexec-shared
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    develop:
      watch:
        - path: ./app/VERSION
          action: rebuild
"#;

/// `up --watch`: logs and watching together; `sync+exec` runs its command as its user, in its
/// directory, with its environment; an image two services share is built once per batch and
/// both are recreated; Ctrl-C stops the project as `up` does.
#[test]
fn up_watch_runs_sync_exec_and_builds_a_shared_image_once() {
    let env = Env::new();
    env.busybox("bb");
    let dir = env.path("watch-shared");
    write(&dir.join("compose.yaml"), SHARED);
    write(&dir.join("app/Dockerfile"), "FROM bb\nCOPY VERSION /VERSION\n");
    write(&dir.join("app/VERSION"), "1\n");
    write(&dir.join("app/src/msg"), "start\n");
    let w = Watching::start(&env, &dir, &["up", "--watch"]);

    write(&dir.join("app/src/msg"), "hello\n");
    w.wait_line("exec hi hello 65534 /src", 1, 30);
    assert_eq!(w.count("Executing"), 1, "{}", w.text());

    let built = w.count("Image watchexec-shared  Building");
    write(&dir.join("app/VERSION"), "2\n");
    eventually(&env, &dir, "app", "cat /VERSION", "2", &w);
    eventually(&env, &dir, "worker", "cat /VERSION", "2", &w);
    assert_eq!(w.count("Image watchexec-shared  Building"), built + 1, "built once:\n{}", w.text());
    w.wait_line("Rebuilding \"worker\"", 1, 10);

    w.interrupt(130);
    assert_eq!(env.ok(&["ps", "-q"]).stdout, "", "up --watch stops the project on Ctrl-C");
    env.compose_ok(&dir, &["down", "-t", "1"]);
}
