//! The rest of a container's life through the binary: tty sessions through a real pty
//! (`script` from util-linux), exec, pause/unpause, top, stats, rename, restart, update,
//! healthchecks and `ps` filters.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::Env;

fn env_with_busybox() -> Env {
    let env = Env::new();
    env.busybox("bb");
    env
}

/// Runs a berth command line inside a pty made by `script`, typing each input chunk half a
/// second after the previous one; returns (exit status, output). Bounded by `timeout`.
fn in_pty(env: &Env, args: &str, input: &[&str]) -> (i32, String) {
    let line = format!(
        "BERTH_ROOT={} BERTH_RUNROOT={} BERTH_CONFIG={} {} {args}",
        env.root().display(),
        env.path("run").display(),
        env.path("daemon.json").display(),
        crate::common::berth_bin()
    );
    let mut child = Command::new("timeout")
        .args(["30", "script", "-qec", &line, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        for chunk in input {
            // Typed once the session is up (and its terminal in raw mode).
            std::thread::sleep(Duration::from_millis(500));
            stdin.write_all(chunk.as_bytes()).unwrap();
        }
        // Keep stdin open a moment: script ends the session when its input ends.
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn wait_for(env: &Env, args: &[&str], want: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = env.ok(args).stdout;
        if got.trim() == want {
            return;
        }
        assert!(Instant::now() < deadline, "{args:?}: still {got:?}, waiting for {want:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn tty_sessions_run_and_exec_through_a_real_pty() {
    let env = env_with_busybox();
    // run -t: the process sees a terminal on stdin and stdout, TERM=xterm, and the status.
    let (code, out) = in_pty(&env, "run -t --rm bb sh -c 'test -t 0 && test -t 1 && echo tty:$TERM; exit 3'", &[]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("tty:xterm"), "{out}");
    // Without -t there is no terminal, even when berth itself runs in one.
    let (_, out) = in_pty(&env, "run --rm bb sh -c 'test -t 1 || echo no-tty'", &[]);
    assert!(out.contains("no-tty"), "{out}");
    // run -it: what is typed reaches the shell.
    let (code, out) = in_pty(&env, "run -it --rm bb sh", &["echo typed-$((6*7))\nexit 4\n"]);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("typed-42"), "{out}");

    // exec, with and without a tty; exit statuses pass through.
    env.ok(&["run", "-d", "--name", "box", "bb", "sleep", "1000"]);
    let (code, out) = in_pty(&env, "exec -it box sh", &["echo inside-$((2+3)); tty; exit 6\n"]);
    assert_eq!(code, 6, "{out}");
    assert!(out.contains("inside-5") && out.contains("/dev/pts/"), "{out}");
    let run = env.run(&[
        "exec",
        "-e",
        "A=b",
        "-w",
        "/etc",
        "-u",
        "nobody",
        "box",
        "sh",
        "-c",
        "echo $A $(pwd) $(id -u); exit 9",
    ]);
    assert_eq!((run.code, run.stdout.as_str()), (9, "b /etc 65534\n"));
    let err = env.fails(&["exec", "box", "nothere"], 127);
    assert!(err.contains("executable file not found"), "{err}");
    env.ok(&["exec", "-d", "box", "sh", "-c", "echo detached > /marker"]);
    wait_for(&env, &["exec", "box", "cat", "/marker"], "detached");
    env.ok(&["rm", "-f", "box"]);
    let err = env.fails(&["exec", "box", "true"], 125);
    assert!(err.contains("No such container: box"), "{err}");
}

#[test]
fn detach_keys_leave_the_container_running() {
    let env = env_with_busybox();
    let (code, out) = in_pty(&env, "run -it --name stay bb sh", &["echo before\n", "\x10\x11"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(env.ok(&["inspect", "-f", "{{.State.Status}}", "stay"]).stdout, "running\n");
    env.ok(&["rm", "-f", "stay"]);
}

#[test]
fn pause_top_stats_rename_restart_and_update() {
    let env = env_with_busybox();
    env.ok(&["run", "-d", "--name", "worker", "--memory", "64m", "--pids-limit", "50", "bb", "sleep", "1000"]);
    env.ok(&["pause", "worker"]);
    assert_eq!(env.ok(&["inspect", "-f", "{{.State.Status}}", "worker"]).stdout, "paused\n");
    assert!(env.ok(&["ps", "--format", "{{.Status}}"]).stdout.contains("(Paused)"));
    let err = env.fails(&["exec", "worker", "true"], 125);
    assert!(err.contains("is paused"), "{err}");
    env.ok(&["unpause", "worker"]);
    assert_eq!(env.ok(&["inspect", "-f", "{{.State.Status}}", "worker"]).stdout, "running\n");

    let top = env.ok(&["top", "worker"]).stdout;
    assert!(top.starts_with("UID") && top.contains("sleep 1000"), "{top}");
    let stats = env.ok(&["stats", "--no-stream", "worker"]).stdout;
    assert!(stats.contains("MEM USAGE / LIMIT") && stats.contains("64MiB"), "the memory limit applies:\n{stats}");
    let pids_max = env.ok(&["exec", "worker", "cat", "/sys/fs/cgroup/pids/pids.max"]);
    assert_eq!(pids_max.stdout, "50\n", "the pids limit applies");
    // PID 1 and an exec'd process are in the container's cgroup in every v1 hierarchy.
    let id = env.ok(&["inspect", "-f", "{{.Id}}", "worker"]).stdout.trim().to_string();
    for process in ["1", "self"] {
        let cgroups = env.ok(&["exec", "worker", "cat", &format!("/proc/{process}/cgroup")]).stdout;
        let controllers = cgroups.lines().filter(|l| !l.starts_with("0::") && !l.contains(":name="));
        for line in controllers {
            assert!(line.ends_with(&format!(":/berth/{id}")), "/proc/{process}/cgroup: {line}");
        }
    }

    env.ok(&["rename", "worker", "renamed"]);
    let err = env.fails(&["inspect", "worker"], 1);
    assert!(err.contains("No such object: worker"), "{err}");
    let before = env.ok(&["inspect", "-f", "{{.State.Pid}}", "renamed"]).stdout;
    env.ok(&["restart", "-t", "0", "renamed"]);
    let after = env.ok(&["inspect", "-f", "{{.State.Pid}} {{.State.Status}}", "renamed"]).stdout;
    assert!(after.ends_with(" running\n") && !after.starts_with(before.trim()), "{before} -> {after}");

    env.ok(&["update", "--restart", "always", "renamed"]);
    assert_eq!(env.ok(&["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", "renamed"]).stdout, "always\n");

    // ps filters and -l / -n.
    env.ok(&["run", "--name", "done", "-l", "role=batch", "bb", "true"]);
    assert_eq!(env.ok(&["ps", "-a", "-f", "status=exited", "--format", "{{.Names}}"]).stdout, "done\n");
    assert_eq!(env.ok(&["ps", "-a", "-f", "label=role=batch", "--format", "{{.Names}}"]).stdout, "done\n");
    assert_eq!(env.ok(&["ps", "-a", "-f", "name=renam", "--format", "{{.Names}}"]).stdout, "renamed\n");
    assert_eq!(env.ok(&["ps", "-l", "--format", "{{.Names}}"]).stdout, "done\n");
    assert_eq!(env.ok(&["ps", "-a", "-f", "ancestor=bb", "-q"]).stdout.lines().count(), 2);
    env.ok(&["rm", "-f", "renamed", "done"]);
}

#[test]
fn healthchecks_go_from_starting_to_healthy_to_unhealthy() {
    let env = env_with_busybox();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "checked",
        "--health-cmd",
        "test -f /ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "bb",
        "sh",
        "-c",
        "touch /ok; exec sleep 1000",
    ]);
    assert_eq!(env.ok(&["inspect", "-f", "{{.State.Health.Status}}", "checked"]).stdout, "starting\n");
    wait_for(&env, &["inspect", "-f", "{{.State.Health.Status}}", "checked"], "healthy");
    env.ok(&["exec", "checked", "rm", "/ok"]);
    wait_for(&env, &["inspect", "-f", "{{.State.Health.Status}}", "checked"], "unhealthy");
    assert!(env.ok(&["ps", "--format", "{{.Status}}"]).stdout.contains("(unhealthy)"));
    env.ok(&["rm", "-f", "checked"]);
}

#[test]
fn a_container_stopped_in_the_middle_of_a_healthcheck_exits() {
    let env = env_with_busybox();
    // A check starts every millisecond, so most stops land while one is being set up in the
    // container's PID namespace; the init (tini) exits only once every process of that
    // namespace is reaped, the check's half-made ones too.
    for round in 0..12 {
        let name = format!("checked{round}");
        env.ok(&[
            "run",
            "-d",
            "--init",
            "--name",
            &name,
            "--health-cmd",
            "true",
            "--health-interval",
            "1ms",
            "bb",
            "sleep",
            "60",
        ]);
        // 50 ms for tini to set up its signal handlers (PID 1 ignores a SIGTERM it has none for).
        std::thread::sleep(Duration::from_millis(50 + 5 * round));
        let started = Instant::now();
        env.ok(&["stop", "-t", "1", &name]);
        assert!(started.elapsed() < Duration::from_secs(5), "round {round}: the stop took {:?}", started.elapsed());
        assert_eq!(env.ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", &name]).stdout, "exited 143\n");
        env.ok(&["rm", &name]);
    }
}

#[test]
fn an_exec_racing_the_containers_exit_leaves_no_cgroup() {
    let env = env_with_busybox();
    // Execs keep coming while PID 1 exits; one that the runtime begins after the monitor
    // removed the container's cgroups makes them again before it fails.
    let mut ids = Vec::new();
    for round in 0..6 {
        let name = format!("short{round}");
        let id = env.ok(&["run", "-d", "--name", &name, "bb", "sleep", "0.3"]).stdout.trim().to_string();
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| while env.run(&["exec", &name, "true"]).code == 0 {});
            }
        });
        env.ok(&["wait", &name]);
        env.ok(&["rm", &name]);
        ids.push(id);
    }
    let left: Vec<String> = ids.iter().flat_map(|id| cgroups_of(id)).collect();
    assert!(left.is_empty(), "cgroups left: {left:?}");
}

/// The container's cgroups under every hierarchy that has them.
fn cgroups_of(id: &str) -> Vec<String> {
    std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|hierarchy| hierarchy.path().join("berth").join(id))
        .filter(|dir| dir.exists())
        .map(|dir| dir.display().to_string())
        .collect()
}

#[test]
fn a_start_that_fails_says_why_and_leaves_no_cgroup() {
    let env = env_with_busybox();
    // The monitor makes the cgroups while it prepares the start; each failure takes them away.
    let id_of = |name: &str| env.ok(&["inspect", "-f", "{{.Id}}", name]).stdout.trim().to_string();
    let err = env.fails(&["run", "--name", "nouser", "-u", "nosuchuser", "bb", "true"], 126);
    assert!(err.contains("unable to find user nosuchuser"), "{err}");
    let err = env.fails(&["run", "--name", "nocmd", "bb", "no-such-command"], 127);
    assert!(err.contains("executable file not found"), "{err}");
    // A rootfs that cannot be mounted (its overlay work directory replaced by a file): the
    // monitor fails before it takes the attach connection; the error still reaches `start -a`.
    let broken = env.ok(&["create", "--name", "broken", "bb", "true"]).stdout.trim().to_string();
    let work = env.root().join("containers").join(&broken).join("work");
    std::fs::remove_dir(&work).unwrap();
    std::fs::write(&work, "").unwrap();
    let err = env.fails(&["start", "-a", "broken"], 125);
    assert!(err.contains("merged"), "{err}");
    for name in ["nouser", "nocmd", "broken"] {
        let id = id_of(name);
        assert_eq!(cgroups_of(&id), Vec::<String>::new(), "cgroups of {name}");
    }
    std::fs::remove_file(&work).unwrap();
    std::fs::create_dir(&work).unwrap();
    env.ok(&["rm", "nouser", "nocmd", "broken"]);
}

#[test]
fn a_container_started_again_as_soon_as_it_exits_runs_whole() {
    let env = env_with_busybox();
    env.ok(&["network", "create", "again-net"]);
    // Each `start` follows the last run's exit at once, as a script that polls `inspect`
    // would, while that run's monitor may still be tearing its network down: the new run waits
    // for it instead of losing its rootfs, its network or its state to it.
    env.ok(&["run", "-d", "--name", "again", "--network", "again-net", "bb", "sh", "-c", "cat /etc/hostname; exit 3"]);
    for round in 0..6 {
        while env.ok(&["inspect", "-f", "{{.State.Status}}", "again"]).stdout != "exited\n" {}
        let start = env.run(&["start", "again"]);
        assert_eq!(start.code, 0, "round {round}: {}", start.stderr);
    }
    assert_eq!(env.ok(&["wait", "again"]).stdout, "3\n");
    let hostname = env.ok(&["inspect", "-f", "{{.Config.Hostname}}", "again"]).stdout;
    assert_eq!(env.ok(&["logs", "again"]).stdout, hostname.repeat(7), "every run printed its hostname");
    env.ok(&["rm", "again"]);
    env.ok(&["network", "rm", "again-net"]);
}

#[test]
fn stop_kill_rm_and_wait_of_a_running_rm_container_succeed() {
    let env = env_with_busybox();
    // Its monitor removes a `--rm` container as soon as PID 1 is gone, while the command that
    // ended it is still looking at it: each succeeds all the same, as Docker's do. `wait` has
    // its exit status.
    let script = "sleep 0.3; exit 3";
    env.ok(&["run", "-d", "--rm", "--name", "rm-wait", "--network", "none", "bb", "sh", "-c", script]);
    assert_eq!(env.ok(&["wait", "rm-wait"]).stdout, "3\n");
    for verb in [&["stop", "-t", "0"][..], &["kill"], &["rm", "-f"]] {
        let name = format!("rm-{}", verb[0]);
        env.ok(&["run", "-d", "--rm", "--name", &name, "--network", "none", "bb", "sleep", "100"]);
        let args: Vec<&str> = verb.iter().copied().chain([name.as_str()]).collect();
        assert_eq!(env.ok(&args).stdout, format!("{name}\n"));
        // The monitor removes it right after: `ps` lists it until then, as Docker's may.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !env.ok(&["ps", "-a", "-q"]).stdout.is_empty() {
            assert!(std::time::Instant::now() < deadline, "{name} is still listed");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

#[test]
fn init_forwards_signals_and_reaps() {
    let env = env_with_busybox();
    // A bare `sleep` as PID 1 ignores SIGTERM; under --init, tini is PID 1 and forwards it.
    env.ok(&["run", "-d", "--init", "--name", "inited", "bb", "sleep", "1000"]);
    let comm = env.ok(&["exec", "inited", "cat", "/proc/1/comm"]).stdout;
    assert_eq!(comm, "docker-init\n");
    let started = Instant::now();
    env.ok(&["stop", "-t", "20", "inited"]);
    assert!(started.elapsed() < Duration::from_secs(10), "SIGTERM reached sleep through the init");
    assert_eq!(env.ok(&["inspect", "-f", "{{.State.ExitCode}}", "inited"]).stdout, "143\n");
    assert_eq!(env.run(&["run", "--rm", "--init", "bb", "sh", "-c", "exit 5"]).code, 5, "the status passes through");
}

#[test]
fn security_device_and_resource_flags_take_effect() {
    let env = env_with_busybox();
    let out = |args: &[&str]| {
        let mut all = vec!["run", "--rm"];
        all.extend_from_slice(args);
        env.ok(&all).stdout
    };
    // --privileged: every capability berth holds, and mounts are allowed.
    let caps = out(&[
        "--privileged",
        "bb",
        "sh",
        "-c",
        "grep CapEff /proc/1/status; mkdir /m; mount -t tmpfs none /m && echo mounted",
    ]);
    assert!(caps.contains("mounted"), "{caps}");
    // ... and the host's devices, as Docker gives a privileged container.
    let host_devices = crate::common::sh("find /dev -maxdepth 1 -type b | head -1");
    if let Some(device) = host_devices.lines().next() {
        let inside = out(&["--privileged", "bb", "sh", "-c", &format!("test -b {device} && echo present")]);
        assert_eq!(inside, "present\n", "{device}");
        assert_ne!(env.run(&["run", "--rm", "bb", "test", "-b", device]).code, 0, "not without --privileged");
    }
    assert_ne!(caps.lines().next().unwrap(), "CapEff:\t00000000a80425fb");
    // The default seccomp profile refuses unshare(2) even where a capability would not;
    // adding SYS_ADMIN lifts both, as Docker's profile does.
    assert_ne!(env.run(&["run", "--rm", "bb", "unshare", "-m", "true"]).code, 0);
    assert_eq!(env.run(&["run", "--rm", "--cap-add", "SYS_ADMIN", "bb", "unshare", "-m", "true"]).code, 0);
    // The monitor compiles the profile ahead (vendor/README.md); PID 1 is filtered all the same,
    // and without a profile it is not.
    assert_eq!(out(&["bb", "grep", "^Seccomp:", "/proc/1/status"]), "Seccomp:\t2\n");
    let unconfined = ["--security-opt", "seccomp=unconfined", "bb", "grep", "^Seccomp:", "/proc/1/status"];
    assert_eq!(out(&unconfined), "Seccomp:\t0\n");
    // Docker's profile denies unshare(2) without CAP_SYS_ADMIN, which a user namespace does
    // not need: each run, the first with a program compiled, the next with the one kept in
    // the run root (`container::seccomp`).
    for _ in 0..2 {
        let denied = env.run(&["run", "--rm", "bb", "unshare", "-U", "true"]);
        assert!(denied.code == 1 && denied.stderr.contains("Operation not permitted"), "{}", denied.stderr);
    }
    assert_eq!(
        env.run(&["run", "--rm", "--security-opt", "seccomp=unconfined", "bb", "unshare", "-U", "true"]).code,
        0
    );
    assert_eq!(
        out(&["--security-opt", "no-new-privileges", "bb", "grep", "NoNewPrivs", "/proc/1/status"]),
        "NoNewPrivs:\t1\n"
    );
    assert_eq!(out(&["bb", "grep", "NoNewPrivs", "/proc/1/status"]), "NoNewPrivs:\t0\n");
    let dev = out(&[
        "--device",
        "/dev/null:/dev/mynull",
        "bb",
        "sh",
        "-c",
        "ls -l /dev/mynull; echo x > /dev/mynull && echo writable",
    ]);
    assert!(dev.starts_with('c') && dev.contains("1,   3") && dev.contains("writable"), "{dev}");
    let err = env.fails(&["run", "--rm", "--device", "/nonexistent", "bb", "true"], 125);
    assert!(err.contains("/nonexistent"), "{err}");
    assert_eq!(out(&["--cpus", "0.5", "bb", "cat", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"]), "50000\n");
    assert_eq!(out(&["--memory", "32m", "bb", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]), "33554432\n");
    assert_eq!(out(&["-l", "a=b", "bb", "true"]), "");
}

#[test]
fn stop_signal_stop_timeout_logs_window_attach_and_prune() {
    let env = env_with_busybox();
    // --stop-signal: stop sends it instead of SIGTERM.
    let script = "trap 'echo got-usr1; exit 0' USR1; echo trapped; while true; do sleep 0.05; done";
    env.ok(&["run", "-d", "--name", "sig", "--stop-signal", "USR1", "bb", "sh", "-c", script]);
    // The signal must not come before the shell has set its trap (the default action ends it).
    wait_for(&env, &["logs", "sig"], "trapped");
    env.ok(&["stop", "sig"]);
    assert_eq!(env.ok(&["logs", "sig"]).stdout, "trapped\ngot-usr1\n");
    assert_eq!(env.ok(&["inspect", "-f", "{{.State.ExitCode}}", "sig"]).stdout, "0\n");
    // --stop-timeout: the grace period when stop gives none.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--stop-timeout",
        "1",
        "bb",
        "sh",
        "-c",
        "trap '' TERM; while true; do sleep 0.05; done",
    ]);
    let started = Instant::now();
    env.ok(&["stop", "slow"]);
    assert!(started.elapsed() < Duration::from_secs(6), "the container's 1 s, not Docker's default 10 s");
    assert_eq!(env.ok(&["inspect", "-f", "{{.State.ExitCode}}", "slow"]).stdout, "137\n");

    // logs --since / --until select by time.
    // "late" comes 3 s after "early"; checked within 2 s of it (wait_for polls every 50 ms).
    env.ok(&["run", "-d", "--name", "clock", "bb", "sh", "-c", "echo early; sleep 3; echo late; sleep 1000"]);
    wait_for(&env, &["logs", "clock"], "early\nlate");
    assert_eq!(env.ok(&["logs", "--since", "2s", "clock"]).stdout, "late\n");
    assert_eq!(env.ok(&["logs", "--until", "2s", "clock"]).stdout, "early\n");

    // attach: a second client sees the output that follows, and the exit status.
    env.ok(&["run", "-d", "--name", "later", "bb", "sh", "-c", "sleep 0.5; echo from-attach; exit 3"]);
    let attached = env.run(&["attach", "later"]);
    assert_eq!((attached.code, attached.stdout.as_str()), (3, "from-attach\n"));

    // container prune removes stopped containers only.
    let pruned = env.ok(&["container", "prune", "-f"]).stdout;
    assert!(pruned.contains("Deleted Containers:") && pruned.contains("Total reclaimed space"), "{pruned}");
    assert_eq!(env.ok(&["ps", "-a", "--format", "{{.Names}}"]).stdout, "clock\n");
    env.ok(&["rm", "-f", "clock"]);
}

#[test]
fn volume_commands() {
    let env = env_with_busybox();
    assert_eq!(env.ok(&["volume", "create", "--label", "team=web", "named"]).stdout, "named\n");
    let anon = env.ok(&["volume", "create"]).stdout.trim().to_string();
    assert_eq!(anon.len(), 64, "anonymous volumes get a 64-hex name");
    let ls = env.ok(&["volume", "ls"]).stdout;
    assert!(ls.starts_with("DRIVER") && ls.contains("local     named"), "{ls}");
    assert_eq!(env.ok(&["volume", "ls", "-q", "-f", "label=team=web"]).stdout, "named\n");
    let inspect = env.ok(&["volume", "inspect", "named"]).stdout;
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(v[0]["Name"], "named");
    assert_eq!(v[0]["Driver"], "local");
    assert_eq!(v[0]["Labels"]["team"], "web");
    assert!(v[0]["Mountpoint"].as_str().unwrap().ends_with("/volumes/named/_data"));
    env.ok(&["run", "--rm", "-v", "named:/data", "bb", "sh", "-c", "echo kept > /data/f"]);
    assert_eq!(env.ok(&["run", "--rm", "-v", "named:/data:ro", "bb", "cat", "/data/f"]).stdout, "kept\n");
    assert_ne!(env.run(&["run", "--rm", "-v", "named:/data:ro", "bb", "touch", "/data/g"]).code, 0, ":ro");
    let pruned = env.ok(&["volume", "prune", "-f"]).stdout;
    assert!(pruned.contains(&anon), "unused anonymous volumes go: {pruned}");
    assert_eq!(env.ok(&["volume", "ls", "-q"]).stdout, "named\n", "named ones stay (Docker 23+)");
    let err = env.fails(&["volume", "inspect", "ghost"], 1);
    assert!(err.contains("no such volume"), "{err}");
}

#[test]
fn a_resized_terminal_resizes_the_containers_tty() {
    let env = Env::new();
    env.busybox("bb");
    // The terminal is resized while attached (stty on script's pty sends SIGWINCH to berth).
    let line = format!(
        "sh -c 'BERTH_ROOT={} BERTH_RUNROOT={} BERTH_CONFIG={} {} run -t --rm bb sh -c \"sleep 1.5; stty size\" & sleep 0.7; stty rows 33 cols 77; wait'",
        env.root().display(),
        env.path("run").display(),
        env.path("daemon.json").display(),
        crate::common::berth_bin()
    );
    let out = Command::new("timeout").args(["30", "script", "-qec", &line, "/dev/null"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(text.contains("33 77"), "{text}");
}
