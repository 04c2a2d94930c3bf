//! End-to-end tests of `berth compose config` (owned by the compose loader work).

use std::process::Stdio;

use crate::common::{Env, Run};

/// Runs `berth compose ARGS` in the test's directory, where `files` were written.
fn compose(env: &Env, files: &[(&str, &str)], args: &[&str]) -> Run {
    let dir = env.path("proj");
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let mut full = vec!["compose"];
    full.extend_from_slice(args);
    let out = env
        .cmd(&full)
        .current_dir(&dir)
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_PROFILES")
        .output()
        .expect("run berth");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const APP: &str = "\
services:
  web:
    image: nginx:${TAG:-1.25}
    ports: [\"8080:80\"]
    depends_on:
      db:
        condition: service_healthy
        required: false
    environment:
      - GREETING=hello $$USER
  db:
    image: postgres
    volumes: [data:/var/lib/postgresql/data]
    profiles: [db]
volumes:
  data:
";

#[test]
fn config_prints_the_normalized_project() {
    let env = Env::new();
    let run = compose(&env, &[("compose.yaml", APP)], &["-p", "shop", "--profile", "db", "config"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let expected = "\
name: shop
services:
  db:
    profiles:
      - db
    image: postgres
    networks:
      default: null
    volumes:
      - type: volume
        source: data
        target: /var/lib/postgresql/data
        volume: {}
  web:
    depends_on:
      db:
        condition: service_healthy
        required: false
    environment:
      GREETING: hello $$USER
    image: nginx:1.25
    networks:
      default: null
    ports:
      - mode: ingress
        target: 80
        published: \"8080\"
        protocol: tcp
networks:
  default:
    name: shop_default
volumes:
  data:
    name: shop_data
";
    assert_eq!(run.stdout, expected);
}

#[test]
fn config_json_and_listings() {
    let env = Env::new();
    let files = [("compose.yaml", APP)];
    let run = compose(&env, &files, &["--profile", "db", "config", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(v["name"], "proj");
    assert_eq!(v["services"]["web"]["ports"][0]["published"], "8080");
    assert_eq!(compose(&env, &files, &["--profile", "db", "config", "--services"]).stdout, "db\nweb\n");
    assert_eq!(compose(&env, &files, &["config", "--services"]).stdout, "web\n");
    assert_eq!(compose(&env, &files, &["config", "--volumes"]).stdout, "data\n");
    assert_eq!(compose(&env, &files, &["config", "--profiles"]).stdout, "db\n");
    assert_eq!(compose(&env, &files, &["config", "--images"]).stdout, "nginx:1.25\n");
    let hash = compose(&env, &files, &["config", "--hash", "*"]).stdout;
    assert!(hash.starts_with("web ") && hash.trim_end().len() == 4 + 64, "{hash}");
    // Naming a service enables it whatever its profile.
    assert_eq!(compose(&env, &files, &["config", "--services", "db"]).stdout, "db\n");
}

#[test]
fn config_quiet_and_errors() {
    let env = Env::new();
    let run = compose(&env, &[("compose.yaml", APP)], &["config", "-q"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, ""));
    let bad = "services:\n  web:\n    image: nginx\n    ports:\n      - \"70000:80\"\n";
    let run = compose(&env, &[("compose.yaml", bad)], &["config", "-q"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr, "compose.yaml:5:9: services.web.ports[0]: \"70000:80\" is not a valid port\n");
    // A required dependency left out by the profiles is an error.
    let text = APP.replace("required: false", "required: true");
    let run = compose(&env, &[("compose.yaml", text.as_str())], &["config", "-q"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "compose.yaml:7:9: services.web.depends_on.db: service \"web\" depends on service \"db\", which is disabled by its profiles\n"
    );
    let run = compose(&env, &[("other.yaml", "services: {}\n")], &["-f", "missing.yaml", "config"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("missing.yaml"), "{}", run.stderr);
}

#[test]
fn config_reads_stdin_and_env_files() {
    let env = Env::new();
    let dir = env.path("proj");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("vars.env"), "TAG=from-env-file\n").unwrap();
    let mut child = env
        .cmd(&["compose", "--env-file", "vars.env", "-p", "x", "-f", "-", "config", "--images"])
        .current_dir(&dir)
        .env_remove("TAG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"services:\n  a:\n    image: busybox:${TAG}\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "busybox:from-env-file\n");
}
