//! `berth compose up` and the commands around it, through the binary, as root: a project
//! up, reachable, down with nothing left; dependency conditions in order; a second `up`
//! touching nothing; recreation of exactly what changed; scale with service-name DNS;
//! one-offs, exec, logs, abort-on-exit, volumes, and failures that leave nothing half-made.

use std::path::PathBuf;

use crate::common::{free_port, http_get, leftovers, sh, Env};

/// A project directory `proj` holding `compose.yaml`, with the busybox image as `bb`.
fn project(env: &Env, yaml: &str) -> PathBuf {
    if !env.root().join("berth.db").exists() {
        env.busybox("bb");
    }
    let dir = env.path("proj");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("compose.yaml"), yaml).unwrap();
    dir
}

/// Container IDs of the project, by `compose ps -aq`.
fn ids(env: &Env, dir: &std::path::Path) -> Vec<String> {
    let mut ids: Vec<String> =
        env.compose_ok(dir, &["ps", "-aq", "--no-trunc"]).stdout.split_whitespace().map(str::to_string).collect();
    ids.sort();
    ids
}

fn inspect(env: &Env, name: &str, format: &str) -> String {
    env.ok(&["inspect", "--format", format, name]).stdout.trim().to_string()
}

/// The README's demo: examples/compose-demo, whose web image `up` builds from its Dockerfile.
#[test]
fn the_demo_project_builds_comes_up_serves_and_goes_down_leaving_nothing() {
    let env = Env::new();
    let tar = crate::common::busybox_tar().to_str().unwrap().to_string();
    env.ok(&["import", "-c", "CMD [\"sh\"]", &tar, "demo/busybox"]);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/compose-demo");
    let port = free_port().to_string();
    let compose = |args: &[&str]| {
        let mut full = vec!["compose", "-p", "demo"];
        full.extend_from_slice(args);
        let out = env.cmd(&full).current_dir(&dir).env("WEB_PORT", &port).output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "compose {args:?}:\n{stdout}{stderr}");
        (stdout.into_owned(), stderr.into_owned())
    };
    let (build_log, events) = compose(&["up", "-d"]);
    assert!(build_log.contains("Successfully tagged demo-web:latest"), "{build_log}");
    for line in [" Container demo-counter-1  Healthy", " Container demo-web-1  Started"] {
        assert!(events.contains(line), "missing {line:?} in:\n{events}");
    }
    let addr = format!("127.0.0.1:{port}");
    assert_eq!(http_get(&addr), "Hello from berth! I have been seen 1 times.\n");
    assert_eq!(http_get(&addr), "Hello from berth! I have been seen 2 times.\n");
    // A second up, even with --build, makes nothing new: every step cached, every container kept.
    let before = ids_of(&env, &dir, "demo");
    let (again, _) = compose(&["up", "-d", "--build"]);
    assert!(again.contains("CACHED") && !again.contains("Running in"), "{again}");
    assert_eq!(ids_of(&env, &dir, "demo"), before);

    let network = env.ok(&["network", "inspect", "--format", "{{.Id}}", "demo_default"]).stdout.trim().to_string();
    let (_, down) = compose(&["down", "-v", "-t", "1"]);
    assert!(
        down.contains(" Network demo_default  Removed") && down.contains(" Volume demo_counter-data  Removed"),
        "{down}"
    );
    assert_eq!(env.ok(&["ps", "-aq"]).stdout, "");
    let refs: Vec<&str> = before.iter().map(String::as_str).collect();
    assert_eq!(leftovers(&network, &refs), Vec::<String>::new());
    // The DNS server goes a moment after the last container on a network.
    let root = env.root().display().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while sh("ps -eo args").contains(&root) {
        assert!(std::time::Instant::now() < deadline, "a berth process of this test is left:\n{}", sh("ps -eo args"));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn ids_of(env: &Env, dir: &std::path::Path, project: &str) -> Vec<String> {
    let out = env.cmd(&["compose", "-p", project, "ps", "-aq", "--no-trunc"]).current_dir(dir).output().unwrap();
    let mut ids: Vec<String> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect();
    ids.sort();
    ids
}

#[test]
fn dependency_conditions_hold_the_start_order() {
    let env = Env::new();
    let dir = project(
        &env,
        r#"
services:
  db:
    image: bb
    init: true
    command: ["sh", "-c", "sleep 0.5; touch /ready; echo db ready; exec sleep 60"]
    healthcheck:
      test: ["CMD", "test", "-f", "/ready"]
      interval: 200ms
      retries: 20
  migrate:
    image: bb
    command: ["sh", "-c", "echo migrated"]
    depends_on:
      db: {condition: service_healthy}
  web:
    image: bb
    init: true
    command: ["sh", "-c", "echo web started; exec sleep 60"]
    depends_on:
      migrate: {condition: service_completed_successfully}
"#,
    );
    env.compose_ok(&dir, &["up", "-d"]);
    // The containers' own log lines, with their times: db ready < migrated < web started.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut logs = String::new();
    while !logs.contains("web started") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        logs = env.compose_ok(&dir, &["logs", "-t", "--no-log-prefix"]).stdout;
    }
    let time_of = |text: &str| -> String {
        logs.lines()
            .find(|l| l.ends_with(text))
            .unwrap_or_else(|| panic!("no {text:?} in:\n{logs}"))
            .split(' ')
            .next()
            .unwrap()
            .to_string()
    };
    let (db, migrate, web) = (time_of("db ready"), time_of("migrated"), time_of("web started"));
    assert!(db < migrate && migrate < web, "out of order: {db} {migrate} {web}");
    assert_eq!(inspect(&env, "proj-db-1", "{{.State.Health.Status}}"), "healthy");
    env.compose_ok(&dir, &["down", "-t", "0"]);
}

#[test]
fn a_second_up_touches_nothing_and_a_change_recreates_only_its_service() {
    let env = Env::new();
    let yaml = r#"
services:
  a:
    image: bb
    init: true
    command: ["sleep", "60"]
    environment: {LEVEL: "1"}
  b:
    image: bb
    init: true
    command: ["sleep", "60"]
    depends_on:
      a: {condition: service_started, restart: true}
  c:
    image: bb
    init: true
    command: ["sleep", "60"]
"#;
    let dir = project(&env, yaml);
    env.compose_ok(&dir, &["up", "-d"]);
    let first = ids(&env, &dir);
    assert_eq!(first.len(), 3);
    let started = |name: &str| inspect(&env, name, "{{.State.StartedAt}}");
    let (b_started, c_started) = (started("proj-b-1"), started("proj-c-1"));

    let again = env.compose_ok(&dir, &["up", "-d"]);
    assert_eq!(ids(&env, &dir), first, "a second up replaced containers:\n{}", again.stderr);
    assert!(!again.stderr.contains("Recreate"), "{}", again.stderr);
    assert_eq!(started("proj-c-1"), c_started);

    std::fs::write(dir.join("compose.yaml"), yaml.replace("LEVEL: \"1\"", "LEVEL: \"2\"")).unwrap();
    let changed = env.compose_ok(&dir, &["up", "-d"]);
    assert!(changed.stderr.contains(" Container proj-a-1  Recreated"), "{}", changed.stderr);
    let after = ids(&env, &dir);
    let a_id = inspect(&env, "proj-a-1", "{{.Id}}");
    assert!(!first.contains(&a_id), "a was not recreated");
    assert_eq!(after.len(), 3);
    assert!(
        after.contains(&inspect(&env, "proj-b-1", "{{.Id}}")) && first.contains(&inspect(&env, "proj-b-1", "{{.Id}}"))
    );
    assert_ne!(started("proj-b-1"), b_started, "b (restart: true on a) was not restarted");
    assert_eq!(started("proj-c-1"), c_started, "c was touched");
    assert_eq!(env.compose_ok(&dir, &["exec", "-T", "a", "sh", "-c", "echo $LEVEL"]).stdout, "2\n");
    env.compose_ok(&dir, &["down", "-t", "0"]);
}

#[test]
fn scale_gives_replicas_that_the_service_name_resolves_to() {
    let env = Env::new();
    let dir = project(
        &env,
        r#"
services:
  web:
    image: bb
    init: true
    command: ["sleep", "60"]
  client:
    image: bb
    init: true
    command: ["sleep", "60"]
"#,
    );
    env.compose_ok(&dir, &["up", "-d", "--scale", "web=3"]);
    let names = env.compose_ok(&dir, &["ps", "--format", "{{.Name}}", "web"]).stdout;
    assert_eq!(names, "proj-web-1\nproj-web-2\nproj-web-3\n");
    let answer = env.compose_ok(&dir, &["exec", "-T", "client", "nslookup", "web"]).stdout;
    let addresses: Vec<String> = (1..=3)
        .map(|n| {
            let json: serde_json::Value =
                serde_json::from_str(&inspect(&env, &format!("proj-web-{n}"), "{{json .NetworkSettings.Networks}}"))
                    .unwrap();
            json["proj_default"]["IPAddress"].as_str().unwrap().to_string()
        })
        .collect();
    for a in &addresses {
        assert!(answer.contains(a.as_str()), "{a} missing from:\n{answer}");
    }
    // Scaling down keeps the lowest numbers.
    env.compose_ok(&dir, &["up", "-d", "--scale", "web=1"]);
    assert_eq!(env.compose_ok(&dir, &["ps", "--format", "{{.Name}}", "web"]).stdout, "proj-web-1\n");
    env.compose_ok(&dir, &["down", "-t", "0"]);
}

#[test]
fn run_and_exec_pass_output_and_exit_codes_through() {
    let env = Env::new();
    let dir = project(
        &env,
        r#"
services:
  db:
    image: bb
    init: true
    command: ["sleep", "60"]
  tool:
    image: bb
    command: ["echo", "default"]
    environment: {GREETING: hello}
    depends_on: [db]
"#,
    );
    let run = env.compose_ok(&dir, &["run", "--rm", "tool", "sh", "-c", "echo $GREETING from run"]);
    assert_eq!(run.stdout, "hello from run\n");
    assert!(run.stderr.contains(" Container proj-db-1  Started"), "dependencies start first:\n{}", run.stderr);
    assert_eq!(env.compose(&dir, &["run", "--rm", "-e", "CODE=7", "tool", "sh", "-c", "exit $CODE"]).code, 7);
    assert_eq!(env.ok(&["ps", "-a", "--format", "{{.Names}}"]).stdout, "proj-db-1\n", "--rm left a one-off");
    let kept = env.compose_ok(&dir, &["run", "-d", "tool", "true"]).stdout;
    assert!(kept.trim().starts_with("proj-tool-run-"), "{kept}");

    assert_eq!(env.compose_ok(&dir, &["exec", "-T", "db", "cat", "/etc/hostname"]).stdout.len(), 13);
    assert_eq!(env.compose(&dir, &["exec", "-T", "db", "sh", "-c", "exit 3"]).code, 3);
    let missing = env.compose(&dir, &["exec", "-T", "tool", "true"]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("service \"tool\" is not running"), "{}", missing.stderr);
    env.compose_ok(&dir, &["down", "-t", "0"]);
    assert_eq!(env.ok(&["ps", "-aq"]).stdout, "", "down leaves the one-offs too");
}

#[test]
fn logs_follow_with_prefixes_and_abort_on_exit_returns_the_chosen_code() {
    let env = Env::new();
    let dir = project(
        &env,
        r#"
services:
  talker:
    image: bb
    command: ["sh", "-c", "for i in 1 2 3; do echo line $$i; sleep 0.1; done; exit 4"]
  server:
    image: bb
    init: true
    command: ["sh", "-c", "echo serving; exec sleep 60"]
"#,
    );
    let up = env.compose(&dir, &["up", "--exit-code-from", "talker"]);
    assert_eq!(up.code, 4, "{}{}", up.stdout, up.stderr);
    for line in ["talker-1  | line 1", "talker-1  | line 3", "server-1  | serving", "talker-1 exited with code 4"] {
        assert!(up.stdout.contains(line), "missing {line:?} in:\n{}", up.stdout);
    }
    assert!(up.stderr.contains("Aborting on container exit..."), "{}", up.stderr);
    assert_eq!(env.compose_ok(&dir, &["ps", "-q"]).stdout, "", "abort stops every container");

    // `logs -f` returns once the containers have stopped, every line prefixed.
    env.compose_ok(&dir, &["up", "-d", "talker"]);
    let logs = env.compose_ok(&dir, &["logs", "-f", "talker"]).stdout;
    assert_eq!(logs.matches("talker-1  | line 3").count(), 2, "{logs}");
    env.compose_ok(&dir, &["down", "-t", "0"]);
}

#[test]
fn down_v_removes_the_project_volumes_and_plain_down_keeps_them() {
    let env = Env::new();
    let dir = project(
        &env,
        r#"
services:
  app:
    image: bb
    command: ["sh", "-c", "cat /data/note 2>/dev/null; echo kept > /data/note"]
    volumes: ["data:/data"]
volumes:
  data: {}
"#,
    );
    env.compose_ok(&dir, &["up"]);
    env.compose_ok(&dir, &["down"]);
    assert_eq!(env.ok(&["volume", "ls", "-q"]).stdout, "proj_data\n");
    let second = env.compose_ok(&dir, &["up"]).stdout;
    assert!(second.contains("app-1  | kept"), "the volume's content survived down:\n{second}");
    let down = env.compose_ok(&dir, &["down", "-v"]);
    assert!(down.stderr.contains(" Volume proj_data  Removed"), "{}", down.stderr);
    assert_eq!(env.ok(&["volume", "ls", "-q"]).stdout, "");
}

#[test]
fn a_bad_file_or_a_failed_condition_exits_non_zero_and_says_why() {
    let env = Env::new();
    let dir = project(&env, "services:\n  web:\n    image: bb\n    ports: [\"not-a-port\"]\n");
    let bad = env.compose(&dir, &["up", "-d"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("compose.yaml") && bad.stderr.contains("ports"), "{}", bad.stderr);
    assert_eq!(env.ok(&["network", "ls", "--format", "{{.Name}}"]).stdout, "bridge\n", "a bad file made a network");

    std::fs::write(
        dir.join("compose.yaml"),
        r#"
services:
  setup:
    image: bb
    command: ["sh", "-c", "exit 2"]
  app:
    image: bb
    command: ["true"]
    depends_on:
      setup: {condition: service_completed_successfully}
"#,
    )
    .unwrap();
    let failed = env.compose(&dir, &["up", "-d"]);
    assert_eq!(failed.code, 1);
    assert!(failed.stderr.contains("service \"setup\" didn't complete successfully: exit 2"), "{}", failed.stderr);
    let names = env.ok(&["ps", "-a", "--format", "{{.Names}}"]).stdout;
    assert_eq!(names, "proj-setup-1\n", "the dependent was made anyway");

    let missing = env.compose(&dir, &["up", "-d", "nosuch"]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("no such service: nosuch"), "{}", missing.stderr);
    env.compose_ok(&dir, &["down"]);
}

/// Podman's compose scenarios, in spirit: port maps, two networks, environment and a bind
/// volume, a fixed address from `ipam`, `extra_hosts`, and `up` twice being idempotent.
#[test]
fn ports_networks_env_volume_ipam_and_extra_hosts() {
    let env = Env::new();
    let port = free_port();
    std::fs::create_dir_all(env.path("proj/site")).unwrap();
    std::fs::write(env.path("proj/site/index.html"), "from a bind mount\n").unwrap();
    let dir = project(
        &env,
        &format!(
            r#"
services:
  web:
    image: bb
    init: true
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    ports: ["127.0.0.1:{port}:80"]
    volumes: ["./site:/www:ro"]
    networks: [front]
  api:
    image: bb
    init: true
    command: ["sleep", "60"]
    environment:
      MODE: test
    extra_hosts: ["db.example=10.1.2.3"]
    networks:
      back:
        ipv4_address: 10.231.7.50
networks:
  front: {{}}
  back:
    ipam:
      config:
        - subnet: 10.231.7.0/24
"#
        ),
    );
    env.compose_ok(&dir, &["up", "-d"]);
    assert_eq!(http_get(&format!("127.0.0.1:{port}")), "from a bind mount\n");
    let nets = env.ok(&["network", "ls", "--format", "{{.Name}}"]).stdout;
    assert!(nets.contains("proj_front") && nets.contains("proj_back"), "{nets}");
    assert_eq!(
        env.compose_ok(
            &dir,
            &[
                "exec",
                "-T",
                "api",
                "sh",
                "-c",
                "echo $MODE; ip -4 addr show eth0 | grep -o '10.231.7.50'; grep db.example /etc/hosts"
            ]
        )
        .stdout,
        "test\n10.231.7.50\n10.1.2.3\tdb.example\n"
    );
    let first = ids(&env, &dir);
    env.compose_ok(&dir, &["up", "-d"]);
    assert_eq!(ids(&env, &dir), first);
    env.compose_ok(&dir, &["down", "-t", "0"]);
    assert_eq!(env.ok(&["network", "ls", "--format", "{{.Name}}"]).stdout, "bridge\n");
}

#[test]
fn project_commands_act_on_the_projects_containers() {
    let env = Env::new();
    let port = free_port();
    let dir = project(
        &env,
        &format!(
            r#"
services:
  web:
    image: bb
    init: true
    command: ["sh", "-c", "mkdir -p /www /tmp && echo up > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports: ["{port}:80"]
  job:
    image: bb
    command: ["sh", "-c", "sleep 0.3; exit 5"]
"#
        ),
    );
    env.compose_ok(&dir, &["create"]);
    assert_eq!(
        env.compose_ok(&dir, &["ps", "-a", "--format", "{{.Name}} {{.State}}"]).stdout,
        "proj-job-1 created\nproj-web-1 created\n"
    );
    env.compose_ok(&dir, &["start"]);
    let wait = env.compose(&dir, &["wait", "job"]);
    assert_eq!((wait.code, wait.stdout.as_str()), (5, "5\n"), "wait returns the container's code");
    assert_eq!(env.compose_ok(&dir, &["port", "web", "80"]).stdout, format!("0.0.0.0:{port}\n"));
    let ls = env.compose_ok(&dir, &["ls"]).stdout;
    assert!(ls.contains("proj") && ls.contains("running(1)") && ls.contains("exited(1)"), "{ls}");
    let images = env.compose_ok(&dir, &["images"]).stdout;
    assert!(images.lines().any(|l| l.starts_with("proj-web-1") && l.contains(" bb ")), "{images}");
    assert!(env.compose_ok(&dir, &["top", "web"]).stdout.contains("httpd -f -p 80"));

    std::fs::write(env.path("note.txt"), "copied\n").unwrap();
    let note = env.path("note.txt").display().to_string();
    env.compose_ok(&dir, &["cp", &note, "web:/tmp/note.txt"]);
    assert_eq!(env.compose_ok(&dir, &["exec", "-T", "web", "cat", "/tmp/note.txt"]).stdout, "copied\n");

    let state = |name: &str| inspect(&env, name, "{{.State.Status}}");
    env.compose_ok(&dir, &["pause", "web"]);
    assert_eq!(state("proj-web-1"), "paused");
    env.compose_ok(&dir, &["unpause", "web"]);
    assert_eq!(state("proj-web-1"), "running");
    env.compose_ok(&dir, &["stop", "-t", "1", "web"]);
    assert_eq!(state("proj-web-1"), "exited");
    env.compose_ok(&dir, &["restart", "web"]);
    assert_eq!(http_get(&format!("127.0.0.1:{port}")), "up\n");
    env.compose_ok(&dir, &["kill", "web"]);
    assert_eq!(inspect(&env, "proj-web-1", "{{.State.ExitCode}}"), "137");
    let rm = env.compose_ok(&dir, &["rm", "-f"]);
    assert!(rm.stderr.contains(" Container proj-web-1  Removed"), "{}", rm.stderr);
    assert_eq!(env.ok(&["ps", "-aq"]).stdout, "");
    env.compose_ok(&dir, &["down"]);
}

#[test]
fn hooks_secrets_and_configs_and_ctrl_c_stops_the_project() {
    let env = Env::new();
    std::fs::write(env.path("token.txt"), "s3cret\n").unwrap();
    let dir = project(
        &env,
        &format!(
            r#"
services:
  app:
    image: bb
    init: true
    command: ["sh", "-c", "echo app up; exec sleep 60"]
    secrets: [token]
    configs:
      - source: greeting
        target: /etc/greeting
    post_start:
      - command: ["sh", "-c", "echo started > /hooked"]
    pre_stop:
      - command: ["sh", "-c", "echo pre-stop ran"]
secrets:
  token:
    file: {}
configs:
  greeting:
    content: "hello ${{USER_NAME:-there}}"
"#,
            env.path("token.txt").display()
        ),
    );
    let up = env
        .cmd(&["compose", "up"])
        .current_dir(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while env.compose(&dir, &["exec", "-T", "app", "cat", "/hooked"]).stdout != "started\n" {
        assert!(std::time::Instant::now() < deadline, "post_start hook did not run");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(env.compose_ok(&dir, &["exec", "-T", "app", "cat", "/run/secrets/token"]).stdout, "s3cret\n");
    assert_eq!(env.compose_ok(&dir, &["exec", "-T", "app", "cat", "/etc/greeting"]).stdout, "hello there");
    sh(&format!("kill -INT {}", up.id()));
    let out = up.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(130), "{stdout}{stderr}");
    assert!(stderr.contains("Gracefully stopping...") && stderr.contains(" Container proj-app-1  Stopped"), "{stderr}");
    assert!(stdout.contains("app-1  | app up") && stdout.contains("pre-stop ran"), "{stdout}");
    assert_eq!(inspect(&env, "proj-app-1", "{{.State.Status}}"), "exited");
    env.compose_ok(&dir, &["down"]);
}

#[test]
fn recreate_flags_orphans_and_wait_with_a_one_shot() {
    let env = Env::new();
    let yaml = r#"
services:
  init:
    image: bb
    command: ["true"]
  app:
    image: bb
    init: true
    command: ["sleep", "60"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 200ms
    depends_on:
      init: {condition: service_completed_successfully}
  extra:
    image: bb
    init: true
    command: ["sleep", "60"]
"#;
    let dir = project(&env, yaml);
    // --wait: the one-shot that app needs to complete counts as done (docker/compose#10596).
    let up = env.compose(&dir, &["up", "-d", "--wait"]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    assert!(up.stderr.contains(" Container proj-app-1  Healthy"), "{}", up.stderr);
    let app = inspect(&env, "proj-app-1", "{{.Id}}");

    let forced = env.compose_ok(&dir, &["up", "-d", "--force-recreate", "app"]);
    assert!(forced.stderr.contains(" Container proj-app-1  Recreated"), "{}", forced.stderr);
    let app2 = inspect(&env, "proj-app-1", "{{.Id}}");
    assert_ne!(app, app2);

    std::fs::write(
        dir.join("compose.yaml"),
        yaml.replace("[\"sleep\", \"60\"]\n    healthcheck", "[\"sleep\", \"61\"]\n    healthcheck"),
    )
    .unwrap();
    env.compose_ok(&dir, &["up", "-d", "--no-recreate", "app"]);
    assert_eq!(inspect(&env, "proj-app-1", "{{.Id}}"), app2, "--no-recreate replaced a changed container");

    // A service gone from the file leaves an orphan: warned about, removed on request.
    let without_extra = yaml.split("  extra:").next().unwrap().to_string();
    std::fs::write(dir.join("compose.yaml"), &without_extra).unwrap();
    let warned = env.compose_ok(&dir, &["up", "-d", "--no-recreate"]);
    assert!(warned.stderr.contains("Found orphan containers ([proj-extra-1])"), "{}", warned.stderr);
    let removed = env.compose_ok(&dir, &["up", "-d", "--no-recreate", "--remove-orphans"]);
    assert!(removed.stderr.contains(" Container proj-extra-1  Removed"), "{}", removed.stderr);
    assert!(env.run(&["inspect", "proj-extra-1"]).code != 0);

    // --no-start creates without starting; --no-deps leaves the dependencies alone.
    env.compose_ok(&dir, &["down", "-t", "0"]);
    env.compose_ok(&dir, &["up", "--no-start"]);
    assert_eq!(
        env.compose_ok(&dir, &["ps", "-a", "--format", "{{.Name}} {{.State}}"]).stdout,
        "proj-app-1 created\nproj-init-1 created\n"
    );
    env.compose_ok(&dir, &["down"]);
    env.compose_ok(&dir, &["up", "-d", "--no-deps", "app"]);
    assert_eq!(env.compose_ok(&dir, &["ps", "-a", "--format", "{{.Name}}"]).stdout, "proj-app-1\n");
    env.compose_ok(&dir, &["down", "-t", "0"]);
}

#[test]
fn network_mode_service_and_volumes_from_share_with_the_parent() {
    let env = Env::new();
    let yaml = r#"
services:
  web:
    image: bb
    init: true
    command: ["sh", "-c", "mkdir -p /www && echo shared > /www/index.html && exec httpd -f -p 8080 -h /www"]
    volumes: ["data:/data"]
    environment: {V: "1"}
  sidecar:
    image: bb
    init: true
    command: ["sleep", "60"]
    network_mode: "service:web"
    volumes_from: ["web:ro"]
volumes:
  data: {}
"#;
    let dir = project(&env, yaml);
    env.compose_ok(&dir, &["up", "-d"]);
    env.compose_ok(&dir, &["exec", "-T", "web", "sh", "-c", "echo from-web > /data/f"]);
    let through_lo =
        env.compose_ok(&dir, &["exec", "-T", "sidecar", "wget", "-q", "-O", "-", "http://127.0.0.1:8080/"]);
    assert_eq!(through_lo.stdout, "shared\n");
    assert_eq!(env.compose_ok(&dir, &["exec", "-T", "sidecar", "cat", "/data/f"]).stdout, "from-web\n");
    assert_ne!(
        env.compose(&dir, &["exec", "-T", "sidecar", "touch", "/data/g"]).code,
        0,
        "volumes_from :ro is writable"
    );
    let sidecar = inspect(&env, "proj-sidecar-1", "{{.Id}}");
    // Recreating the parent recreates what shares its network namespace.
    std::fs::write(dir.join("compose.yaml"), yaml.replace("V: \"1\"", "V: \"2\"")).unwrap();
    let up = env.compose_ok(&dir, &["up", "-d"]);
    assert_ne!(inspect(&env, "proj-sidecar-1", "{{.Id}}"), sidecar, "{}", up.stderr);
    assert_eq!(
        env.compose_ok(&dir, &["exec", "-T", "sidecar", "wget", "-q", "-O", "-", "http://127.0.0.1:8080/"]).stdout,
        "shared\n"
    );
    env.compose_ok(&dir, &["down", "-t", "0"]);
}
