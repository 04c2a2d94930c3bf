//! The loader on fixture projects: golden `config` output and exact error messages.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use compose::{emit, load, LoadError, LoadOptions, Project};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Options as if `berth compose` ran in `dir` with only `env` in the shell.
fn opts(dir: &Path, env: &[(&str, &str)]) -> LoadOptions {
    let mut environment: BTreeMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    environment.insert("HOME".into(), "/home/test".into());
    LoadOptions { working_dir: dir.to_path_buf(), environment, interpolate: true, ..LoadOptions::default() }
}

fn load_in(name: &str, env: &[(&str, &str)]) -> Result<Project, LoadError> {
    load(&opts(&fixture(name), env))
}

/// Compares with `<fixture>/<file>`, paths shown as `{{DIR}}`; `UPDATE_GOLDEN=1` rewrites it.
fn golden(name: &str, file: &str, actual: &str) {
    let dir = fixture(name);
    let actual = actual.replace(dir.to_str().unwrap(), "{{DIR}}");
    let path = dir.join(file);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(actual, expected, "golden {}", path.display());
}

fn write_project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("proj").tempdir().unwrap();
    for (name, text) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn error_in(files: &[(&str, &str)]) -> String {
    let dir = write_project(files);
    let err = load(&opts(dir.path(), &[])).expect_err("should fail");
    err.to_string().replace(dir.path().to_str().unwrap(), "{{DIR}}")
}

#[test]
fn full_project_matches_golden() {
    let p = load_in("full", &[("FROM_SHELL", "shell"), ("TAG", "2.0")]).unwrap();
    assert_eq!(p.name, "full");
    golden("full", "expected.yaml", &emit::yaml(&p, true));
    golden("full", "expected.json", &emit::json(&p, true));
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn full_project_typed_model() {
    let p = load_in("full", &[("FROM_SHELL", "shell")]).unwrap();
    let web = &p.services["web"];
    // The override's `!reset` removed the ports; its command replaced the base one.
    assert!(web.ports.is_empty());
    assert_eq!(web.command.as_deref().unwrap(), ["flask", "run"]);
    assert_eq!(web.image.as_deref(), Some("shop/web:1.2"));
    assert_eq!(web.environment["PRICE"].as_deref(), Some("$5"));
    assert_eq!(web.environment["DEBUG"].as_deref(), Some("1"));
    assert_eq!(web.environment["WORKERS"].as_deref(), Some("4"));
    assert_eq!(web.environment["FROM_SHELL"].as_deref(), Some("shell"));
    assert_eq!(web.stop_grace_period.unwrap().as_std().as_secs(), 90);
    assert_eq!(web.mem_limit.unwrap().0, 512 << 20);
    assert_eq!(p.services["db"].ports[0].published.as_deref(), Some("5432"));
    assert_eq!(p.networks["outside"].name.as_deref(), Some("outside"));
    assert_eq!(p.volumes["db-data"].name.as_deref(), Some("full_db-data"));
    let pos = &p.spans["services.web.image"];
    assert_eq!((pos.line, pos.col), (10, 12));
}

#[test]
fn wordpress_sample_matches_golden() {
    let p = load_in("wordpress", &[]).unwrap();
    golden("wordpress", "expected.yaml", &emit::yaml(&p, true));
}

#[test]
fn webapp_sample_matches_golden() {
    let p = load_in("webapp", &[]).unwrap();
    golden("webapp", "expected.yaml", &emit::yaml(&p, true));
}

#[test]
fn extends_same_file_and_other_file() {
    let p = load_in("extends", &[]).unwrap();
    golden("extends", "expected.yaml", &emit::yaml(&p, true));
    let worker = &p.services["worker"];
    assert_eq!(worker.image.as_deref(), Some("busybox"));
    assert_eq!(worker.environment["LEVEL"].as_deref(), Some("app"));
    assert_eq!(worker.environment["ROLE"].as_deref(), Some("worker"));
    // Paths from common.yaml resolve against common.yaml's directory.
    assert_eq!(worker.volumes[0].source.as_deref(), Some(fixture("extends").join("data").to_str().unwrap()));
}

#[test]
fn include_loads_its_own_env() {
    let p = load_in("include", &[]).unwrap();
    golden("include", "expected.yaml", &emit::yaml(&p, true));
    assert_eq!(p.services["redis"].image.as_deref(), Some("redis:7"));
}

#[test]
fn include_cycle_is_an_error() {
    let dir = fixture("include-cycle");
    let mut o = opts(&dir, &[]);
    o.files = vec![PathBuf::from("a.yaml")];
    let err = load(&o).unwrap_err().to_string();
    assert_eq!(err, "a.yaml: include cycle detected: a.yaml -> b.yaml -> a.yaml");
}

#[test]
fn profiles_select_services() {
    let names = |p: &Project| p.services.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&load_in("profiles", &[]).unwrap()), ["app"]);
    let mut o = opts(&fixture("profiles"), &[]);
    o.profiles = vec!["debug".into()];
    assert_eq!(names(&load(&o).unwrap()), ["app", "debug", "tools"]);
    assert_eq!(names(&load_in("profiles", &[("COMPOSE_PROFILES", "docs,tools")]).unwrap()), ["app", "docs", "tools"]);
    assert_eq!(names(&load_in("profiles", &[("COMPOSE_PROFILES", "*")]).unwrap()), ["app", "debug", "docs", "tools"]);
    // Naming a service enables it and its profiles.
    let mut o = opts(&fixture("profiles"), &[]);
    o.services = vec!["tools".into()];
    assert_eq!(names(&load(&o).unwrap()), ["app", "debug", "tools"]);
}

#[test]
fn env_files_raw_and_dotenv() {
    let p = load_in("envfiles", &[]).unwrap();
    let env = &p.services["app"].environment;
    assert_eq!(env["RAW"].as_deref(), Some("$NOT_EXPANDED \"quoted\""));
    assert_eq!(env["A"].as_deref(), Some("x\ny"));
    assert_eq!(env["B"].as_deref(), Some("x\ny-b"));
}

#[test]
fn compose_file_variable_and_separator() {
    let dir = write_project(&[
        ("one.yaml", "services:\n  a:\n    image: a\n"),
        ("two.yaml", "services:\n  a:\n    image: b\n"),
    ]);
    let o = opts(dir.path(), &[("COMPOSE_FILE", "one.yaml;two.yaml"), ("COMPOSE_PATH_SEPARATOR", ";")]);
    assert_eq!(load(&o).unwrap().services["a"].image.as_deref(), Some("b"));
}

#[test]
fn finds_files_in_parent_directories() {
    let dir = write_project(&[
        ("docker-compose.yml", "services:\n  a:\n    image: a\n"),
        ("docker-compose.override.yml", "services:\n  a:\n    image: over\n"),
        ("deep/er/keep", ""),
    ]);
    let o = opts(&dir.path().join("deep/er"), &[]);
    let p = load(&o).unwrap();
    assert_eq!(p.services["a"].image.as_deref(), Some("over"));
    assert_eq!(p.working_dir, dir.path());
}

#[test]
fn project_name_precedence() {
    let dir = write_project(&[("compose.yaml", "name: fromfile\nservices:\n  a:\n    image: a\n")]);
    assert_eq!(load(&opts(dir.path(), &[])).unwrap().name, "fromfile");
    assert_eq!(load(&opts(dir.path(), &[("COMPOSE_PROJECT_NAME", "fromenv")])).unwrap().name, "fromenv");
    let mut o = opts(dir.path(), &[("COMPOSE_PROJECT_NAME", "fromenv")]);
    o.project_name = Some("Bad Name".into());
    assert_eq!(
        load(&o).unwrap_err().to_string(),
        "\"Bad Name\" is not a valid project name: it must contain only characters from [a-z0-9_-] and start with [a-z0-9]"
    );
}

#[test]
fn stdin_file() {
    let dir = write_project(&[]);
    let mut o = opts(dir.path(), &[]);
    o.files = vec![PathBuf::from("-")];
    o.stdin = Some("services:\n  s:\n    image: x\n".into());
    assert_eq!(load(&o).unwrap().services["s"].image.as_deref(), Some("x"));
}

#[test]
fn no_interpolate_keeps_variables() {
    let dir = write_project(&[("compose.yaml", "services:\n  a:\n    image: \"${IMG:?missing}\"\n")]);
    let mut o = opts(dir.path(), &[]);
    o.interpolate = false;
    let p = load(&o).unwrap();
    assert_eq!(p.services["a"].image.as_deref(), Some("${IMG:?missing}"));
    assert_eq!(emit::yaml(&p, false).lines().nth(3), Some("    image: ${IMG:?missing}"));
}

#[test]
fn interpolated_values_are_never_yaml_again() {
    let dir = write_project(&[("compose.yaml", "services:\n  a:\n    image: x\n    environment:\n      V: ${V}\n")]);
    let p = load(&opts(dir.path(), &[("V", "[1, 2]")])).unwrap();
    assert_eq!(p.services["a"].environment["V"].as_deref(), Some("[1, 2]"));
}

#[test]
fn unset_variable_warns() {
    let dir = write_project(&[("compose.yaml", "version: '3'\nservices:\n  a:\n    image: x:${NOPE}\n")]);
    let p = load(&opts(dir.path(), &[])).unwrap();
    assert_eq!(
        p.warnings,
        [
            "compose.yaml: the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion",
            "The \"NOPE\" variable is not set. Defaulting to a blank string."
        ]
    );
}

#[test]
fn error_messages() {
    let svc = |body: &str| format!("services:\n  web:\n    image: nginx\n{body}");
    let cases: Vec<(String, &str)> = vec![
        (svc("    foo: bar\n"), "compose.yaml:4:5: services.web: additional property \"foo\" is not allowed"),
        (svc("    privileged: maybe\n"), "compose.yaml:4:17: services.web.privileged: must be a boolean, not \"maybe\""),
        (svc("    ports:\n      - \"70000:80\"\n"), "compose.yaml:5:9: services.web.ports[0]: \"70000:80\" is not a valid port"),
        (svc("    healthcheck:\n      interval: 10x\n"), "compose.yaml:5:17: services.web.healthcheck.interval: \"10x\" is not a valid duration"),
        (
            svc("    environment:\n      A: ${REQ:?is required}\n"),
            "compose.yaml:5:10: services.web.environment.A: required variable REQ is missing a value: is required",
        ),
        (svc("    env_file: nope.env\n"), "compose.yaml:4:15: services.web.env_file[0]: env file {{DIR}}/nope.env not found"),
        (svc("    volumes: [\"data:/data\"]\n"), "compose.yaml:4:15: services.web.volumes[0]: service \"web\" refers to undefined volume data"),
        (svc("    depends_on: [db]\n"), "compose.yaml:4:18: services.web.depends_on.db: service \"web\" depends on undefined service \"db\""),
        (svc("    deploy:\n      replicas: two\n"), "compose.yaml:5:17: services.web.deploy.replicas: must be an integer, not \"two\""),
        (svc("    command: echo $1\n"), "compose.yaml:4:14: services.web.command: invalid interpolation format: \"echo $1\"; you may need to escape any $ with another $"),
        ("services:\n  web: nginx\n".into(), "compose.yaml:2:8: services.web: must be a mapping, not string"),
        ("servics: {}\n".into(), "compose.yaml:1:1: (root): additional property \"servics\" is not allowed"),
        (
            "services:\n  \"bad name\":\n    image: x\n".into(),
            "compose.yaml:2:3: services: \"bad name\" is not a valid service name: only [a-zA-Z0-9._-] are allowed",
        ),
        ("".into(), "compose.yaml:1:1: empty compose file"),
        (
            "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    links: [c]\n  c:\n    image: x\n    network_mode: service:a\n".into(),
            "dependency cycle detected: a -> b -> c -> a",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(error_in(&[("compose.yaml", &text)]), expected, "for:\n{text}");
    }
}

#[test]
fn keys_longer_than_yaml_allows_inline_are_written_explicitly_and_load_again() {
    let key = "k".repeat(1500);
    let text = format!("services:\n  web:\n    image: x\n    labels:\n      ? {key}\n      : v\n");
    let dir = write_project(&[("compose.yaml", &text)]);
    let p = load(&opts(dir.path(), &[])).unwrap();
    let yaml = emit::yaml(&p, true);
    assert!(yaml.contains(&format!("? {key}\n")), "{yaml}");
    let again = write_project(&[("compose.yaml", &yaml)]);
    let p2 = load(&opts(again.path(), &[])).unwrap();
    assert_eq!(
        emit::yaml(&p2, true).replace(again.path().to_str().unwrap(), ""),
        yaml.replace(dir.path().to_str().unwrap(), "")
    );
}

#[test]
fn alias_bomb_and_deep_nesting_are_rejected_fast() {
    let mut bomb = String::from("x-a0: &a0 [l, l, l, l, l, l, l, l, l, l]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!(
            "x-a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    bomb.push_str("services: {}\n");
    let deep = format!("services:\n  a:\n    x-deep: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    for text in [bomb, deep] {
        let start = std::time::Instant::now();
        let err = error_in(&[("compose.yaml", &text)]);
        assert!(err.starts_with("compose.yaml:"), "{err}");
        assert!(start.elapsed().as_secs_f64() < 1.0, "took {:?}", start.elapsed());
    }
}
