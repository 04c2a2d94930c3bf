//! Containers through the binary, as root, on the busybox image: run and its flags, exit
//! statuses, detached containers that outlive the CLI, stop/kill/rm/wait, restart policies,
//! logs, isolation checks from inside, and a killed monitor.

use std::time::{Duration, Instant};

use crate::common::{busybox_tar, Env};

fn env_with_busybox() -> Env {
    let env = Env::new();
    env.busybox("bb");
    env
}

#[test]
fn run_prints_output_and_passes_the_exit_status_through() {
    let env = env_with_busybox();
    let run = env.run(&["run", "--rm", "bb", "sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert_eq!(run.code, 7, "{}", run.stderr);
    assert_eq!(run.stdout, "out\n");
    assert_eq!(run.stderr, "err\n");
    assert_eq!(env.ok(&["run", "--rm", "bb", "true"]).stdout, "");
    assert_eq!(env.ok(&["ps", "-aq"]).stdout, "", "--rm removed them");
    // Their files, their rootfs mounts, and the runtime's state (removed after their cgroups)
    // go as their monitors end, just after `run` returned.
    let root = env.root().to_string_lossy().to_string();
    let files = || {
        [env.root().join("containers"), env.root().join("tmp"), env.path("run/rt"), env.path("run/bundles")]
            .iter()
            .flat_map(|d| std::fs::read_dir(d).into_iter().flatten())
            .count()
            + std::fs::read_to_string("/proc/mounts").unwrap().matches(&root).count()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while files() > 0 {
        assert!(Instant::now() < deadline, "files of --rm containers left");
        std::thread::sleep(Duration::from_millis(20));
    }

    let err = env.fails(&["run", "--rm", "bb", "no-such-command"], 127);
    assert!(err.contains("exec: \"no-such-command\": executable file not found in $PATH"), "{err}");
    let err = env.fails(&["run", "--rm", "bb", "/etc"], 126);
    assert!(err.contains("permission denied"), "{err}");
    // `--pull never`: a missing image is not looked for in a registry (the default pulls it).
    let err = env.fails(&["run", "--rm", "--pull", "never", "no-such-image"], 125);
    assert!(err.contains("No such image: no-such-image:latest"), "{err}");
    let err = env.fails(&["run", "--bogus-flag", "bb"], 125);
    assert!(err.contains("--bogus-flag"), "{err}");
    // berth's global flags go before the command, as docker's do.
    let err = env.fails(&["ps", "--root", "/nonexistent"], 125);
    assert!(err.contains("unexpected argument '--root'"), "{err}");
    env.ok(&["--root", env.root().to_str().unwrap(), "ps", "-a"]);
    assert_eq!(env.ok(&["ps", "-aq"]).stdout, "", "failed --rm runs leave nothing");
}

#[test]
fn run_flags_take_effect_inside() {
    let env = env_with_busybox();
    let out = |args: &[&str]| {
        let mut all = vec!["run", "--rm"];
        all.extend_from_slice(args);
        env.ok(&all).stdout
    };
    assert_eq!(out(&["-e", "GREETING=hi", "bb", "sh", "-c", "echo $GREETING"]), "hi\n");
    std::fs::write(env.path("vars"), "# comment\nFROM_FILE=yes\n").unwrap();
    assert_eq!(out(&["--env-file", env.path("vars").to_str().unwrap(), "bb", "sh", "-c", "echo $FROM_FILE"]), "yes\n");
    assert_eq!(out(&["-w", "/tmp", "bb", "pwd"]), "/tmp\n");
    assert_eq!(out(&["-h", "box", "bb", "hostname"]), "box\n");
    assert_eq!(out(&["-u", "nobody", "bb", "id", "-u"]), "65534\n");
    assert_eq!(out(&["-u", "1234:5678", "bb", "sh", "-c", "echo $(id -u):$(id -g)"]), "1234:5678\n");
    // HOME, as Docker's: the user's home from the image's passwd, "/" for a user without an
    // entry, the container's own when it sets one.
    assert_eq!(out(&["bb", "sh", "-c", "echo $HOME"]), "/root\n");
    assert_eq!(out(&["-u", "nobody", "bb", "sh", "-c", "echo $HOME"]), "/nonexistent\n");
    assert_eq!(out(&["-u", "1234", "bb", "sh", "-c", "echo $HOME"]), "/\n");
    assert_eq!(out(&["-e", "HOME=/mine", "bb", "sh", "-c", "echo $HOME"]), "/mine\n");
    assert_eq!(out(&["--entrypoint", "echo", "bb", "a", "b"]), "a b\n");
    // PID 1 (the shell: `; true` keeps it from exec'ing ls) holds only stdio. No pipe in the
    // command: the shell would hold the pipe's ends while ls reads /proc/1/fd.
    assert_eq!(out(&["bb", "sh", "-c", "ls /proc/1/fd; true"]), "0\n1\n2\n");
    // /proc/timer_list has content on the host; Docker masks it with /dev/null.
    assert_eq!(out(&["bb", "sh", "-c", "wc -c < /proc/timer_list"]).trim(), "0", "/proc/timer_list is masked");
    let ro = env.run(&["run", "--rm", "--read-only", "bb", "touch", "/x"]);
    assert_ne!(ro.code, 0, "read-only rootfs");
    assert!(ro.stderr.contains("Read-only file system"), "{}", ro.stderr);
    assert_eq!(out(&["--read-only", "--tmpfs", "/scratch", "bb", "sh", "-c", "touch /scratch/x && echo ok"]), "ok\n");
    // Binds, read-only binds.
    let host_dir = env.path("shared");
    std::fs::create_dir(&host_dir).unwrap();
    std::fs::write(host_dir.join("in.txt"), "from host\n").unwrap();
    let bind = format!("{}:/shared", host_dir.display());
    assert_eq!(out(&["-v", &bind, "bb", "sh", "-c", "cat /shared/in.txt; echo back > /shared/out.txt"]), "from host\n");
    assert_eq!(std::fs::read_to_string(host_dir.join("out.txt")).unwrap(), "back\n");
    let ro_bind = format!("{}:/shared:ro", host_dir.display());
    assert_ne!(env.run(&["run", "--rm", "-v", &ro_bind, "bb", "touch", "/shared/y"]).code, 0);
    // `-v` makes a missing host path, as a directory, as Docker's does; `--mount` refuses it.
    let missing = env.path("made/by/v");
    let made = format!("{}:/made", missing.display());
    assert_eq!(out(&["-v", &made, "bb", "sh", "-c", "test -d /made && echo dir"]), "dir\n");
    assert!(missing.is_dir(), "the host directory was made");
    let refused = format!("type=bind,source={},target=/x", env.path("absent").display());
    let err = env.fails(&["run", "--rm", "--mount", &refused, "bb", "true"], 125);
    assert!(err.contains("bind source path does not exist"), "{err}");
    // Capabilities: Docker's default set has no NET_ADMIN; --cap-drop ALL leaves none.
    let caps = out(&["bb", "sh", "-c", "grep CapEff /proc/1/status"]);
    assert_eq!(caps.trim(), "CapEff:\t00000000a80425fb", "Docker's default capabilities");
    let none = out(&["--cap-drop", "ALL", "bb", "sh", "-c", "grep CapEff /proc/1/status"]);
    assert_eq!(none.trim(), "CapEff:\t0000000000000000");
    assert_eq!(out(&["--ulimit", "nofile=512:1024", "bb", "sh", "-c", "ulimit -n"]), "512\n");
}

#[test]
fn named_volumes_are_seeded_and_persist() {
    let env = Env::new();
    let tar = busybox_tar().to_str().unwrap();
    env.ok(&["import", "-c", "VOLUME /etc", "-c", "CMD [\"sh\"]", tar, "withvol"]);
    // A new named volume over /etc starts with the image's /etc, and keeps what is written.
    env.ok(&["run", "--rm", "-v", "data:/etc", "withvol", "sh", "-c", "test -f /etc/passwd && echo new > /etc/added"]);
    let listing = env.ok(&["run", "--rm", "-v", "data:/data", "withvol", "sh", "-c", "ls /data | tr '\\n' ' '"]).stdout;
    // As Docker's: the init layer's files under /etc are seeded too.
    assert_eq!(listing, "added group hostname hosts mtab passwd resolv.conf ");
    // The image's VOLUME gives each container an anonymous volume; `rm -v` removes it.
    env.ok(&["run", "--name", "keep", "withvol", "true"]);
    assert_eq!(env.ok(&["volume", "ls", "-q"]).stdout.lines().count(), 2, "data and one anonymous volume");
    env.ok(&["rm", "-v", "keep"]);
    assert_eq!(env.ok(&["volume", "ls", "-q"]).stdout, "data\n");
    env.ok(&["create", "--name", "user", "-v", "data:/x", "withvol"]);
    let err = env.fails(&["volume", "rm", "data"], 125);
    assert!(err.contains("remove data: volume is in use"), "{err}");
    env.ok(&["rm", "-v", "user"]);
    assert_eq!(env.ok(&["volume", "rm", "data"]).stdout, "data\n");
}

#[test]
fn detached_containers_outlive_the_cli_and_stop_on_request() {
    let env = env_with_busybox();
    // PID 1 of a PID namespace gets only the signals it handles (as in Docker, where a bare
    // `sleep` as PID 1 ignores SIGTERM): this one handles TERM and USR1.
    let script = "trap 'exit 143' TERM; trap 'exit 138' USR1; echo ready; while true; do sleep 0.05; done";
    let id = env.ok(&["run", "-d", "--name", "sleeper", "bb", "sh", "-c", script]).stdout.trim().to_string();
    assert_eq!(id.len(), 64);
    let ps = env.ok(&["ps"]).stdout;
    assert!(ps.contains(&id[..12]) && ps.contains("Up ") && ps.contains("sleeper"), "{ps}");
    assert_eq!(env.ok(&["inspect", "-f", "{{.State.Status}} {{.State.Running}}", "sleeper"]).stdout, "running true\n");
    let pid: i32 = env.ok(&["inspect", "-f", "{{.State.Pid}}", "sleeper"]).stdout.trim().parse().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());

    // It handles SIGTERM: stop ends it at once (once the traps are set: PID 1 drops a signal
    // it has no handler for).
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.ok(&["logs", "sleeper"]).stdout != "ready\n" {
        assert!(Instant::now() < deadline, "the shell never said ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    assert_eq!(env.ok(&["stop", "sleeper"]).stdout, "sleeper\n");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(env.ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "sleeper"]).stdout, "exited 143\n");
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(env.ok(&["ps", "-q"]).stdout, "");
    assert!(env.ok(&["ps", "-a", "--format", "{{.Status}}"]).stdout.starts_with("Exited (143)"));

    // A process that ignores SIGTERM is killed after -t seconds.
    env.ok(&["run", "-d", "--name", "stubborn", "bb", "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]);
    let started = Instant::now();
    env.ok(&["stop", "-t", "1", "stubborn"]);
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(6), "stop -t 1 took {took:?}");
    assert_eq!(env.ok(&["inspect", "-f", "{{.State.ExitCode}}", "stubborn"]).stdout, "137\n");

    // start again, kill with a signal, wait for the status.
    env.ok(&["start", "sleeper"]);
    assert_eq!(env.ok(&["inspect", "-f", "{{.State.Status}}", "sleeper"]).stdout, "running\n");
    // A signal PID 1 has no handler for yet is dropped: wait until the traps are set.
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.ok(&["logs", "sleeper"]).stdout.matches("ready").count() < 2 {
        assert!(Instant::now() < deadline, "the restarted shell never got ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    env.ok(&["kill", "-s", "USR1", "sleeper"]);
    assert_eq!(env.ok(&["wait", "sleeper"]).stdout, "138\n");

    let err = env.fails(&["rm", "stubborn", "nonexistent"], 125);
    assert!(err.contains("No such container: nonexistent"), "{err}");
    env.ok(&["run", "-d", "--name", "busy", "bb", "sleep", "1000"]);
    let err = env.fails(&["rm", "busy"], 125);
    assert!(err.contains("You cannot remove a running container"), "{err}");
    env.ok(&["rm", "-f", "busy", "sleeper"]);
    assert_eq!(env.ok(&["ps", "-aq"]).stdout, "");
}

#[test]
fn logs_keep_both_streams_with_timestamps_and_tail() {
    let env = env_with_busybox();
    env.ok(&["run", "--name", "talker", "bb", "sh", "-c", "for i in 1 2 3; do echo out$i; echo err$i >&2; done"]);
    let logs = env.ok(&["logs", "talker"]);
    assert_eq!(logs.stdout, "out1\nout2\nout3\n");
    assert_eq!(logs.stderr, "err1\nerr2\nerr3\n");
    // --tail counts lines across both streams; a one-stream container keeps the order exact.
    env.ok(&["run", "--name", "counter", "bb", "sh", "-c", "for i in 1 2 3; do echo line$i; done"]);
    assert_eq!(env.ok(&["logs", "--tail", "2", "counter"]).stdout, "line2\nline3\n");
    let stamped = env.ok(&["logs", "-t", "talker"]).stdout;
    assert!(stamped.lines().all(|l| l.len() > 30 && l.as_bytes()[4] == b'-' && l.contains('T')), "{stamped}");
    // The log file is Docker's json-file format.
    let path = env.ok(&["inspect", "-f", "{{.LogPath}}", "talker"]).stdout;
    let first = std::fs::read_to_string(path.trim()).unwrap().lines().next().unwrap().to_string();
    let entry: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert!(entry["log"].as_str().unwrap().ends_with('\n') && entry["stream"].is_string() && entry["time"].is_string());

    // -f follows until the container exits.
    env.ok(&["run", "-d", "--name", "ticker", "bb", "sh", "-c", "for i in 1 2 3; do echo tick$i; sleep 0.2; done"]);
    assert_eq!(env.ok(&["logs", "-f", "ticker"]).stdout, "tick1\ntick2\ntick3\n");
}

#[test]
fn restart_on_failure_runs_the_container_again() {
    let env = env_with_busybox();
    // Each run has its memory limit: the first run's cgroups are made ahead of the start
    // (`Launcher::prepare`), a restart's by the runtime.
    let script = "echo attempt $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes); exit 1";
    env.ok(&["run", "-d", "--name", "flaky", "--restart", "on-failure:2", "--memory", "32m", "bb", "sh", "-c", script]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = env.ok(&["inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "flaky"]).stdout;
        if s == "exited 2\n" {
            break;
        }
        assert!(Instant::now() < deadline, "still {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(env.ok(&["logs", "flaky"]).stdout, "attempt 33554432\n".repeat(3), "three runs");
    assert_eq!(env.ok(&["inspect", "-f", "{{.State.ExitCode}}", "flaky"]).stdout, "1\n");
}

/// The parent of a process once it is the shim (the monitor hands a container that runs on to
/// it after a moment), and that parent's command name.
fn shim_of(pid: &str) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let ppid = stat[stat.rfind(')').unwrap() + 2..].split(' ').nth(1).unwrap().to_string();
        let comm = std::fs::read_to_string(format!("/proc/{ppid}/comm")).unwrap().trim().to_string();
        if comm == "berth-shim" || Instant::now() > deadline {
            return (ppid, comm);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_running_container_is_watched_by_the_small_shim_and_handed_back_at_exit() {
    let env = env_with_busybox();
    env.ok(&["run", "-d", "--name", "watched", "--restart", "on-failure:1", "bb", "sh", "-c", "echo up; sleep 1000"]);
    let pid = env.ok(&["inspect", "-f", "{{.State.Pid}}", "watched"]).stdout.trim().to_string();
    let (shim, comm) = shim_of(&pid);
    assert_eq!(comm, "berth-shim", "PID 1's parent is the shim the monitor became");
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.ok(&["logs", "watched"]).stdout != "up\n" {
        assert!(Instant::now() < deadline, "the shim writes the log");
        std::thread::sleep(Duration::from_millis(50));
    }

    // PID 1 killed: the shim hands the exit back to the monitor, which applies the restart
    // policy and hands the new PID 1 to a shim again, in the same process.
    crate::common::sh(&format!("kill -9 {pid}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let new_pid = loop {
        let now = env.ok(&["inspect", "-f", "{{.State.Pid}} {{.RestartCount}}", "watched"]).stdout;
        if let Some(p) = now.trim().strip_suffix(" 1").filter(|p| *p != pid && *p != "0") {
            break p.to_string();
        }
        assert!(Instant::now() < deadline, "not restarted: {now}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(shim_of(&new_pid), (shim, "berth-shim".to_string()));
    env.ok(&["stop", "-t", "1", "watched"]);
    assert_eq!(env.ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "watched"]).stdout, "exited 137\n");
    assert_eq!(env.ok(&["logs", "watched"]).stdout, "up\nup\n");
}

#[test]
fn a_killed_monitor_does_not_fool_ps_stop_or_rm() {
    let env = env_with_busybox();
    env.ok(&["run", "-d", "--name", "orphan", "bb", "sleep", "1000"]);
    // The monitor is PID 1's parent.
    let monitor_of = |name: &str| {
        let pid = env.ok(&["inspect", "-f", "{{.State.Pid}}", name]).stdout.trim().to_string();
        (crate::common::sh(&format!("ps -o ppid= -p {pid}")).trim().to_string(), pid)
    };
    let (monitor, _) = monitor_of("orphan");
    crate::common::sh(&format!("kill -9 {monitor}"));
    std::thread::sleep(Duration::from_millis(100));
    // PID 1 still runs: it is running, and stop still works.
    assert_eq!(env.ok(&["inspect", "-f", "{{.State.Status}}", "orphan"]).stdout, "running\n");
    env.ok(&["stop", "-t", "1", "orphan"]);
    assert_eq!(env.ok(&["inspect", "-f", "{{.State.Status}}", "orphan"]).stdout, "exited\n");
    env.ok(&["rm", "orphan"]);

    // Monitor and PID 1 both killed: every command sees it exited.
    env.ok(&["run", "-d", "--name", "gone", "bb", "sleep", "1000"]);
    let (monitor, pid) = monitor_of("gone");
    crate::common::sh(&format!("kill -9 {monitor} {pid}"));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(env.ok(&["ps", "-q"]).stdout, "");
    assert!(env.ok(&["ps", "-a", "--format", "{{.Status}}"]).stdout.starts_with("Exited"));
    env.ok(&["rm", "gone"]);
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains(env.root().to_str().unwrap()), "no mount left:\n{mounts}");
}

#[test]
fn help_describes_each_command() {
    // Subcommands are built only when used (clap's `defer`); each still describes itself.
    let env = Env::new();
    assert!(env.ok(&["run", "--help"]).stdout.starts_with("Create and run a new container from an image\n"));
    assert!(env.ok(&["container", "create", "--help"]).stdout.starts_with("Create a new container\n"));
    assert!(env.ok(&["--help"]).stdout.contains("  run "));
    assert!(env.ok(&["compose", "--help"]).stdout.contains("  up "));
}

#[test]
fn a_removable_container_takes_a_copy_before_it_starts_and_a_broken_one_says_why() {
    let env = env_with_busybox();
    // `--rm` mounts its overlay volatile; `cp` mounts it once before the start mounts it again.
    env.ok(&["create", "--rm", "--name", "once", "bb", "cat", "/copied"]);
    let host = env.path("copied");
    std::fs::write(&host, "copied in\n").unwrap();
    env.ok(&["cp", host.to_str().unwrap(), "once:/copied"]);
    assert_eq!(env.ok(&["start", "-a", "once"]).stdout, "copied in\n");
    assert_eq!(env.ok(&["ps", "-aq"]).stdout, "");

    // A container whose files were damaged: `start -a` exits 125 and says why.
    let id = env.ok(&["create", "--name", "broken", "bb", "true"]).stdout.trim().to_string();
    std::fs::remove_dir_all(env.root().join("containers").join(&id).join("upper")).unwrap();
    let err = env.fails(&["start", "-a", "broken"], 125);
    assert!(err.contains("No such file or directory"), "{err}");
    env.ok(&["rm", "broken"]);
}

#[test]
fn diff_after_a_run_shows_only_what_the_container_changed() {
    let env = env_with_busybox();
    env.ok(&["run", "--name", "ran", "--network", "none", "bb", "sh", "-c", "echo x > /made.txt; cat /etc/hostname"]);
    // The mount points of a start (/proc, /sys, /dev, /etc/hosts, ...) come from the init
    // layer under the container's own, as Docker's do: they are not its changes.
    assert_eq!(env.ok(&["diff", "ran"]).stdout, "A /made.txt\n");
    env.ok(&["start", "-a", "ran"]);
    assert_eq!(env.ok(&["diff", "ran"]).stdout, "A /made.txt\n");
}

#[test]
fn cp_commit_diff_and_export() {
    let env = env_with_busybox();
    env.ok(&["create", "--name", "box", "bb", "sh"]);
    // Host to container: a file under a new name, a directory into an existing one, a tar.
    let host = env.path("host");
    std::fs::create_dir_all(host.join("dir/sub")).unwrap();
    std::fs::write(host.join("file.txt"), "file\n").unwrap();
    std::fs::write(host.join("dir/sub/deep.txt"), "deep\n").unwrap();
    env.ok(&["cp", host.join("file.txt").to_str().unwrap(), "box:/renamed.txt"]);
    env.ok(&["cp", host.join("dir").to_str().unwrap(), "box:/etc"]);
    let diff = env.ok(&["diff", "box"]).stdout;
    assert_eq!(diff, "C /etc\nA /etc/dir\nA /etc/dir/sub\nA /etc/dir/sub/deep.txt\nA /renamed.txt\n");

    // Container to host: a file, a directory, its contents (`/.`), and a tar on stdout.
    let out = env.path("out");
    std::fs::create_dir(&out).unwrap();
    env.ok(&["cp", "box:/renamed.txt", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(out.join("renamed.txt")).unwrap(), "file\n");
    env.ok(&["cp", "box:/etc/dir", out.join("copy").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(out.join("copy/sub/deep.txt")).unwrap(), "deep\n");
    env.ok(&["cp", "box:/etc/dir/.", out.to_str().unwrap()]);
    assert!(out.join("sub/deep.txt").exists());
    let tar = env.cmd(&["cp", "box:/etc/passwd", "-"]).output().unwrap();
    assert!(tar.status.success());
    let mut archive = tar::Archive::new(&tar.stdout[..]);
    let names: Vec<String> =
        archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
    assert_eq!(names, ["passwd"]);
    let err = env.fails(&["cp", "box:/nonexistent", out.to_str().unwrap()], 125);
    assert!(err.contains("Could not find the file /nonexistent in container"), "{err}");

    // A symlink in the container that points at the host's /etc is resolved inside the root.
    let link_dir = env.path("link");
    std::fs::create_dir(&link_dir).unwrap();
    std::os::unix::fs::symlink("/etc", link_dir.join("escape")).unwrap();
    env.ok(&["cp", link_dir.join("escape").to_str().unwrap(), "box:/escape"]);
    env.ok(&["cp", host.join("file.txt").to_str().unwrap(), "box:/escape/passwd-from-cp"]);
    assert!(!std::path::Path::new("/etc/passwd-from-cp").exists(), "cp wrote through a symlink to the host");
    assert!(env.ok(&["diff", "box"]).stdout.contains("A /etc/passwd-from-cp"), "it landed in the container's /etc");

    // commit: the changes become a layer of a new image, with the message and author.
    let image = env.ok(&["commit", "-a", "tester", "-m", "snapshot", "-c", "ENV COMMITTED=1", "box", "snap:1"]).stdout;
    assert!(image.trim().starts_with("sha256:"));
    let layers = env.ok(&["inspect", "-f", "{{json .RootFS.Layers}}", "snap:1"]).stdout;
    assert_eq!(serde_json::from_str::<Vec<String>>(&layers).unwrap().len(), 2);
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.Author}} {{.Comment}} {{json .Config.Env}}", "snap:1"]).stdout.trim(),
        format!(
            "tester snapshot {}",
            "[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\"COMMITTED=1\"]"
        )
    );
    env.ok(&["create", "--name", "fromsnap", "snap:1", "sh"]);
    let copied = env.path("fromsnap.txt");
    env.ok(&["cp", "fromsnap:/etc/dir/sub/deep.txt", copied.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&copied).unwrap(), "deep\n");

    // export: the whole filesystem.
    let exported = env.path("export.tar");
    env.ok(&["export", "-o", exported.to_str().unwrap(), "box"]);
    let listing = crate::common::sh(&format!("tar -tf {}", exported.display()));
    assert!(listing.lines().any(|l| l == "bin/busybox") && listing.lines().any(|l| l == "renamed.txt"), "{listing}");
    env.ok(&["rm", "box", "fromsnap"]);
    env.assert_store_clean();
}
