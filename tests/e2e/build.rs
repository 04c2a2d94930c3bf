//! `build` through the binary, on the busybox image: every instruction, the compose
//! getting-started Dockerfile, stages, build args, .dockerignore, ONBUILD, heredocs, the cache,
//! context safety, failures, stdin contexts, and the result running under docker (or podman).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::{sh, Env};

/// Writes files (path, content) under a fresh context directory and returns it.
fn context(env: &Env, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = env.path(name);
    for (path, content) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    dir
}

fn build(env: &Env, dir: &Path, extra: &[&str]) -> crate::common::Run {
    let mut args = vec!["build"];
    args.extend_from_slice(extra);
    args.push(dir.to_str().unwrap());
    env.run(&args)
}

fn build_ok(env: &Env, dir: &Path, extra: &[&str]) -> String {
    let run = build(env, dir, extra);
    assert_eq!(run.code, 0, "build failed:\nstdout: {}\nstderr: {}", run.stdout, run.stderr);
    run.stdout
}

fn inspect(env: &Env, image: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["image", "inspect", image]).stdout).unwrap();
    v[0].clone()
}

/// A one-shot HTTP server on 127.0.0.1: answers each request with the next canned response.
fn http_server(responses: Vec<Vec<u8>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for response in responses {
            let Ok((mut stream, _)) = listener.accept() else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let _ = stream.write_all(&response);
        }
    });
    port
}

fn http_ok(body: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

#[test]
fn build_every_instruction_and_run_the_result() {
    let env = Env::new();
    env.busybox("busybox");
    let port = http_server(vec![http_ok("fetched over http\n")]);
    let dir = context(&env, "ctx", &[("hello.txt", "hello from the context\n"), ("tree/a/b.txt", "nested\n")]);
    // A gzipped tarball that ADD unpacks.
    sh(&format!(
        "mkdir -p {d}/arch/pkg && echo packed > {d}/arch/pkg/inside.txt && tar -C {d}/arch -czf {d}/ctx/pkg.tar.gz pkg",
        d = env.dir.path().display()
    ));
    let dockerfile = format!(
        r#"# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM ${{BASE}} AS base
LABEL org.example.team="core team" version=1
MAINTAINER Jane <jane@example.com>
ENV GREETING=hello NAME="the world"
ENV LEGACY legacy value
ARG FLAVOR=plain
ENV FLAVOR_USED=${{FLAVOR}}-${{UNSET:-dflt}}${{GREETING:+-set}}
WORKDIR /app/sub
WORKDIR ..
COPY hello.txt ./
COPY --chown=nobody:nogroup --chmod=600 hello.txt /owned.txt
COPY tree /tree/
COPY h*.txt /globbed/
ADD pkg.tar.gz /unpacked/
ADD --chmod=644 http://127.0.0.1:{port}/remote.txt /remote/
RUN ["sh", "-c", "echo exec-form > /app/exec.txt"]
RUN echo "$GREETING $FLAVOR" > /app/run.txt && \
    chown nobody /app/run.txt
SHELL ["/bin/sh", "-c", "-e"]
RUN test -f /app/hello.txt
EXPOSE 8080 9090-9091/udp
VOLUME ["/data"]
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=1s --timeout=3s --retries=2 CMD test -f /app/hello.txt
ONBUILD RUN echo child-trigger
USER nobody
ENTRYPOINT ["sh", "-c", "echo \"$GREETING $NAME $LEGACY $FLAVOR_USED\"; pwd; id -u; cat hello.txt /app/run.txt /app/exec.txt /unpacked/pkg/inside.txt /remote/remote.txt /tree/a/b.txt /globbed/hello.txt; echo \"args: $0 $@\"", "ep"]
CMD ["one", "two"]
"#
    );
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    let out = build_ok(&env, &dir, &["-t", "every:1", "--build-arg", "FLAVOR=spicy"]);
    assert!(out.starts_with("Step 1/27 : FROM ${BASE} AS base\n"), "{out}");
    assert!(
        out.contains("Step 16/27 : RUN [\"sh\", \"-c\", \"echo exec-form > /app/exec.txt\"]\n ---> Running in "),
        "{out}"
    );
    assert!(out.contains("Removing intermediate container "), "{out}");
    let short = out.lines().find_map(|l| l.strip_prefix("Successfully built ")).expect("built").to_string();
    assert!(out.ends_with("Successfully tagged every:1\n"), "{out}");
    assert_eq!(env.ok(&["images", "-q", "every:1"]).stdout.trim(), short);

    let run = env.ok(&["run", "--rm", "every:1"]);
    assert_eq!(
        run.stdout,
        "hello the world legacy value spicy-dflt-set\n/app\n65534\nhello from the context\nhello spicy\nexec-form\npacked\nfetched over http\nnested\nhello from the context\nargs: ep one two\n"
    );
    // Ownership and mode from --chown/--chmod, seen as root in a container.
    let owned =
        env.ok(&["run", "--rm", "--user", "0", "--entrypoint", "stat", "every:1", "-c", "%U:%G %a", "/owned.txt"]);
    assert_eq!(owned.stdout, "nobody:nogroup 600\n");

    let image = inspect(&env, "every:1");
    let c = &image["Config"];
    assert_eq!(c["User"], "nobody");
    assert_eq!(c["WorkingDir"], "/app");
    assert_eq!(c["Labels"]["org.example.team"], "core team");
    assert_eq!(c["Labels"]["version"], "1");
    assert!(c["ExposedPorts"]["8080/tcp"].is_object() && c["ExposedPorts"]["9091/udp"].is_object(), "{c}");
    assert!(c["Volumes"]["/data"].is_object(), "{c}");
    assert_eq!(c["StopSignal"], "SIGUSR1");
    assert_eq!(c["Healthcheck"]["Test"], serde_json::json!(["CMD-SHELL", "test -f /app/hello.txt"]));
    assert_eq!(c["Healthcheck"]["Interval"], 1_000_000_000i64);
    assert_eq!(c["Healthcheck"]["Retries"], 2);
    assert_eq!(c["OnBuild"], serde_json::json!(["RUN echo child-trigger"]));
    assert_eq!(c["Shell"], serde_json::json!(["/bin/sh", "-c", "-e"]));
    assert_eq!(image["Author"], "Jane <jane@example.com>");
    assert!(c["Env"].as_array().unwrap().iter().any(|e| e == "NAME=the world"), "{c}");

    // The healthcheck runs in a container of the image.
    let id = env.ok(&["run", "-d", "--entrypoint", "sleep", "every:1", "30"]).stdout.trim().to_string();
    let mut health = String::new();
    for _ in 0..100 {
        health = env.ok(&["inspect", "-f", "{{.State.Health.Status}}", &id]).stdout.trim().to_string();
        if health == "healthy" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(health, "healthy");
    env.ok(&["rm", "-f", &id]);

    // History: one entry per instruction, metadata-only steps marked as empty layers (0B).
    let history = env.ok(&["history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}", "every:1"]).stdout;
    let lines: Vec<&str> = history.lines().collect();
    assert!(lines[0].starts_with("/bin/sh -c #(nop)  CMD [\"one\" \"two\"]|0B"), "{history}");
    assert!(lines.iter().any(|l| l.starts_with("/bin/sh -c #(nop)  USER nobody|0B")), "{history}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("|1 FLAVOR=spicy /bin/sh -c echo \"$GREETING $FLAVOR\"") && !l.ends_with("|0B")),
        "{history}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("/bin/sh -c #(nop) COPY file:") && l.contains(" in /owned.txt")),
        "{history}"
    );
    assert_eq!(lines.len(), 26 + 1, "26 instructions after FROM plus the base's one: {history}");
    env.assert_store_clean();
}

#[test]
fn build_compose_getting_started_with_busybox_for_python() {
    let env = Env::new();
    env.busybox("python:3.10-alpine");
    let dir = context(
        &env,
        "composetest",
        &[
            ("requirements.txt", "flask\nredis\n"),
            ("app.py", "print('Hello World!')\n"),
            (
                "Dockerfile",
                "# syntax=docker/dockerfile:1\nFROM python:3.10-alpine\nWORKDIR /code\nENV FLASK_APP=app.py\nENV FLASK_RUN_HOST=0.0.0.0\nRUN echo apk add --no-cache gcc musl-dev linux-headers > /apk.log\nCOPY requirements.txt requirements.txt\nRUN sed 's/^/installed /' requirements.txt > /pip.log\nEXPOSE 5000\nCOPY . .\nCMD [\"sh\", \"-c\", \"cat /pip.log; ls; echo $FLASK_APP $FLASK_RUN_HOST\"]\n",
            ),
        ],
    );
    let bad = env.fails(&["build", "-t", "Bad:Tag", dir.to_str().unwrap()], 125);
    assert!(bad.contains("invalid argument \"Bad:Tag\" for \"-t, --tag\" flag"), "{bad}");
    let out = build_ok(&env, &dir, &["-t", "composetest-web", "--label", "com.example.built-by=berth"]);
    assert!(out.contains("Step 10/10 : CMD"), "{out}");
    assert!(out.contains("Successfully tagged composetest-web:latest"), "{out}");
    let run = env.ok(&["run", "--rm", "composetest-web"]);
    assert_eq!(run.stdout, "installed flask\ninstalled redis\nDockerfile\napp.py\nrequirements.txt\napp.py 0.0.0.0\n");
    let config = &inspect(&env, "composetest-web")["Config"];
    assert!(config["ExposedPorts"]["5000/tcp"].is_object(), "{config}");
    assert_eq!(config["Labels"]["com.example.built-by"], "berth");
    // Intermediate images are hidden, as Docker hides them; -a shows them.
    let images = env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout;
    assert_eq!(images, "composetest-web:latest\npython:3.10-alpine\n");
    let all = env.ok(&["images", "-a", "--format", "{{.Repository}}"]).stdout;
    // One per step after FROM; the last one's child carries the --label.
    assert_eq!(all.lines().filter(|l| *l == "<none>").count(), 9, "{all}");
    // rmi takes them along; the base image stays.
    env.ok(&["rmi", "composetest-web"]);
    assert_eq!(env.ok(&["images", "-a", "--format", "{{.Repository}}"]).stdout, "python\n");
    env.assert_store_clean();
}

#[test]
fn build_cache_hits_then_rebuilds_from_the_changed_copy() {
    let env = Env::new();
    env.busybox("busybox");
    let dir = context(
        &env,
        "ctx",
        &[
            ("a.txt", "a1\n"),
            ("b.txt", "b1\n"),
            ("Dockerfile", "FROM busybox\nENV X=1\nCOPY a.txt /a.txt\nRUN cat /a.txt > /seen-a\nCOPY b.txt /b.txt\nRUN cat /a.txt /b.txt > /seen\nCMD [\"cat\", \"/seen\"]\n"),
        ],
    );
    let first = build_ok(&env, &dir, &["-t", "c:1"]);
    assert!(!first.contains("CACHED"), "{first}");
    let layers_dir = env.root().join("layers");
    let layers = std::fs::read_dir(&layers_dir).unwrap().count();
    let images = env.ok(&["images", "-a", "-q"]).stdout;

    // Nothing changed: every step cached, the same image, no new layer or image.
    let second = build_ok(&env, &dir, &["-t", "c:1"]);
    assert_eq!(second.matches(" ---> CACHED").count(), 6, "{second}");
    assert!(!second.contains("Running in"), "{second}");
    let id = |out: &str| out.lines().find_map(|l| l.strip_prefix("Successfully built ")).unwrap().to_string();
    assert_eq!(id(&first), id(&second));
    assert_eq!(std::fs::read_dir(&layers_dir).unwrap().count(), layers);
    assert_eq!(env.ok(&["images", "-a", "-q"]).stdout, images);

    // `image prune` keeps the intermediate images: they are the cache.
    env.ok(&["image", "prune", "-f"]);
    assert_eq!(env.ok(&["images", "-a", "-q"]).stdout, images);

    // A touched but unchanged file still hits the cache.
    sh(&format!("touch -d '2001-01-01' {}", dir.join("b.txt").display()));
    assert_eq!(build_ok(&env, &dir, &[]).matches(" ---> CACHED").count(), 6);

    // b.txt changes: the steps before its COPY are cached, that COPY and what follows run.
    std::fs::write(dir.join("b.txt"), "b2\n").unwrap();
    let third = build_ok(&env, &dir, &["-t", "c:2"]);
    let steps: Vec<&str> = third.split("Step ").skip(1).collect();
    for s in &steps[1..4] {
        assert!(s.contains(" ---> CACHED"), "cached: {s}");
    }
    for s in &steps[4..] {
        assert!(!s.contains(" ---> CACHED"), "rebuilt: {s}");
    }
    assert!(steps[5].contains("Running in"), "{third}");
    assert_eq!(env.ok(&["run", "--rm", "c:2"]).stdout, "a1\nb2\n");
    assert_eq!(env.ok(&["run", "--rm", "c:1"]).stdout, "a1\nb1\n");

    // --no-cache ignores the cache.
    let fresh = build_ok(&env, &dir, &["--no-cache"]);
    assert!(!fresh.contains("CACHED") && fresh.matches("Running in").count() == 2, "{fresh}");
}

#[test]
fn build_target_stages_and_build_args() {
    let env = Env::new();
    env.busybox("busybox");
    let dir = context(
        &env,
        "ctx",
        &[(
            "Dockerfile",
            "ARG VERSION=1.0\nFROM busybox AS builder\nARG VERSION\nRUN echo \"built $VERSION\" > /artifact\n\nFROM busybox AS broken\nRUN echo this stage must be skipped; exit 3\n\nFROM scratch AS files\nCOPY --from=builder /artifact /from-builder\n\nFROM builder AS final\nARG SUFFIX=none\nCOPY --from=files /from-builder /artifact\nCOPY --from=0 /artifact /artifact0\nCOPY --from=busybox /etc/group /group-from-image\nRUN echo \"suffix $SUFFIX\" >> /artifact\nCMD [\"cat\", \"/artifact\", \"/artifact0\"]\n\nFROM busybox AS other\nRUN echo \"proxy=$HTTP_PROXY\"\nCMD [\"echo\", \"other\"]\n",
        )],
    );
    // The default target is the last stage; --target picks another; unneeded stages are skipped.
    let out = build_ok(
        &env,
        &dir,
        &["-t", "staged", "--target", "final", "--build-arg", "VERSION=2.5", "--build-arg", "SUFFIX=x"],
    );
    assert!(!out.contains("must be skipped"), "{out}");
    assert!(!out.contains("CMD [\"echo\", \"other\"]"), "{out}");
    assert!(out.contains("Step 1/12 : FROM busybox AS builder"), "{out}");
    assert!(out.contains("Step 6/12 : FROM builder AS final"), "{out}");
    assert_eq!(env.ok(&["run", "--rm", "staged"]).stdout, "built 2.5\nsuffix x\nbuilt 2.5\n");
    assert_eq!(env.ok(&["run", "--rm", "staged", "head", "-1", "/group-from-image"]).stdout, "root:x:0:\n");

    // A proxy build arg reaches RUN undeclared, and stays out of the history.
    let last = build_ok(
        &env,
        &dir,
        &["-t", "other", "--build-arg", "UNUSED=1", "--build-arg", "HTTP_PROXY=http://proxy.example:3128"],
    );
    assert!(last.contains("Step 3/3 : CMD [\"echo\", \"other\"]"), "{last}");
    assert!(last.contains("\nproxy=http://proxy.example:3128\n"), "{last}");
    assert!(last.contains("[Warning] One or more build-args [UNUSED] were not consumed"), "{last}");
    let history = env.ok(&["history", "--no-trunc", "other"]).stdout;
    assert!(!history.contains("proxy.example"), "{history}");
    assert_eq!(env.ok(&["run", "--rm", "other"]).stdout, "other\n");

    let missing = build(&env, &dir, &["--target", "nope"]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("target stage \"nope\" could not be found"), "{}", missing.stderr);

    // The skipped stage really fails when it is the target.
    let broken = build(&env, &dir, &["--target", "broken", "-t", "broken:1"]);
    assert_eq!(broken.code, 1, "{}", broken.stderr);
    assert!(broken.stdout.contains("this stage must be skipped"), "{}", broken.stdout);
}

#[test]
fn build_dockerignore_with_exceptions() {
    let env = Env::new();
    env.busybox("busybox");
    let dir = context(
        &env,
        "ctx",
        &[
            (".dockerignore", "# comment\n*.log\n!keep.log\nsecrets\n**/cache\nDockerfile\n"),
            ("app.txt", "app\n"),
            ("debug.log", "x\n"),
            ("keep.log", "kept\n"),
            ("secrets/key", "k\n"),
            ("src/cache/blob", "c\n"),
            ("src/main.txt", "main\n"),
            ("Dockerfile", "FROM busybox\nCOPY . /ctx/\nCMD [\"find\", \"/ctx\", \"-type\", \"f\"]\n"),
        ],
    );
    build_ok(&env, &dir, &["-t", "ignored"]);
    let mut files: Vec<String> = env.ok(&["run", "--rm", "ignored"]).stdout.lines().map(str::to_string).collect();
    files.sort();
    assert_eq!(files, ["/ctx/.dockerignore", "/ctx/app.txt", "/ctx/keep.log", "/ctx/src/main.txt"]);
    // An ignored file cannot be copied by name either.
    std::fs::write(dir.join("Dockerfile"), "FROM busybox\nCOPY debug.log /\n").unwrap();
    let run = build(&env, &dir, &[]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("Dockerfile line 2: COPY failed: file not found in build context or excluded by .dockerignore: stat debug.log"), "{}", run.stderr);
}

#[test]
fn build_onbuild_triggers_run_in_the_child() {
    let env = Env::new();
    env.busybox("busybox");
    let parent = context(
        &env,
        "parent",
        &[("Dockerfile", "FROM busybox\nONBUILD COPY marker.txt /marker.txt\nONBUILD RUN echo \"trigger saw $(cat /marker.txt)\" > /trigger.out\n")],
    );
    build_ok(&env, &parent, &["-t", "onbuild-base"]);
    // The parent itself ran no trigger.
    assert_eq!(env.run(&["run", "--rm", "onbuild-base", "cat", "/trigger.out"]).code, 1);
    let child = context(
        &env,
        "child",
        &[
            ("marker.txt", "child marker"),
            ("Dockerfile", "FROM onbuild-base\nHEALTHCHECK NONE\nCMD [\"cat\", \"/trigger.out\"]\n"),
        ],
    );
    let out = build_ok(&env, &child, &["-t", "onbuild-child"]);
    assert!(out.contains("# Executing 2 build triggers"), "{out}");
    assert_eq!(env.ok(&["run", "--rm", "onbuild-child"]).stdout, "trigger saw child marker\n");
    // The child does not pass the triggers on.
    let config = &inspect(&env, "onbuild-child")["Config"];
    assert!(config["OnBuild"].as_array().is_none_or(|a| a.is_empty()), "{config}");
    assert_eq!(config["Healthcheck"]["Test"], serde_json::json!(["NONE"]));
}

#[test]
fn build_heredocs_and_escape_directive() {
    let env = Env::new();
    env.busybox("busybox");
    let dir = context(
        &env,
        "ctx",
        &[(
            "Dockerfile",
            "# escape=`\nFROM busybox\nARG WHO=heredoc\nRUN <<EOF\nset -e\necho \"line one $WHO\" > /h.txt\necho line two >> /h.txt\nEOF\nRUN cat <<-END > /tabs.txt\n\tindented\n\tEND\nCOPY <<EOF /etc/config.ini\n[main]\nkey=\"$WHO\"\nEOF\nCOPY <<'RAW' /raw.txt\nkept $WHO\nRAW\nRUN <<EOF\n#!/bin/sh -e\necho \"from a script file: $0\" > /script.txt\nEOF\nRUN echo `\n  continued > /cont.txt\nCMD cat /h.txt /tabs.txt /etc/config.ini /raw.txt /script.txt /cont.txt; ls -a / | grep -c heredoc; true\n",
        )],
    );
    build_ok(&env, &dir, &["-t", "heredoc"]);
    assert_eq!(
        env.ok(&["run", "--rm", "heredoc"]).stdout,
        "line one heredoc\nline two\nindented\n[main]\nkey=\"heredoc\"\nkept $WHO\nfrom a script file: /.berth-heredoc-1\ncontinued\n0\n"
    );
}

#[test]
fn build_refuses_to_leave_the_context() {
    let env = Env::new();
    env.busybox("busybox");
    std::fs::write(env.path("outside.txt"), "secret\n").unwrap();
    let dir = context(&env, "ctx", &[("ok.txt", "ok\n")]);
    std::os::unix::fs::symlink("/etc/passwd", dir.join("abs-link")).unwrap();
    std::os::unix::fs::symlink("../outside.txt", dir.join("rel-link")).unwrap();
    std::os::unix::fs::symlink("../", dir.join("up")).unwrap();
    let cases: &[(&str, &str)] = &[
        ("COPY ../outside.txt /x", "forbidden path outside the build context: ../outside.txt"),
        ("COPY abs-link /x", "forbidden path outside the build context: abs-link"),
        ("COPY rel-link /x", "forbidden path outside the build context: rel-link"),
        ("COPY up/outside.txt /x", "forbidden path outside the build context: up/outside.txt"),
        ("ADD ok.txt/../../outside.txt /x", "forbidden path outside the build context"),
        // An absolute source is inside the context, which has no /etc/passwd.
        ("COPY /etc/passwd /x", "file not found in build context"),
    ];
    for (line, want) in cases {
        std::fs::write(dir.join("Dockerfile"), format!("FROM busybox\n{line}\n")).unwrap();
        let run = build(&env, &dir, &["-t", "escape"]);
        assert_eq!(run.code, 1, "{line}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(want) && run.stderr.contains("line 2"), "{line}: {}", run.stderr);
    }
    // A redirect to file:// is not followed.
    let port =
        http_server(vec![b"HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\n\r\n".to_vec()]);
    std::fs::write(dir.join("Dockerfile"), format!("FROM busybox\nADD http://127.0.0.1:{port}/x /x\n")).unwrap();
    let run = build(&env, &dir, &["-t", "escape"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("refusing to follow a redirect to file:///etc/passwd"), "{}", run.stderr);
    assert_eq!(env.run(&["image", "inspect", "escape"]).code, 1, "no image was tagged");
}

#[test]
fn build_failures_exit_1_and_tag_nothing() {
    let env = Env::new();
    env.busybox("busybox");
    let dir = context(&env, "ctx", &[("Dockerfile", "FROM busybox\nRUN echo before\nRUN false\nCMD [\"sh\"]\n")]);
    let run = build(&env, &dir, &["-t", "broken:1"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("Step 3/4 : RUN false\n ---> Running in "), "{}", run.stdout);
    assert_eq!(run.stderr, "The command '/bin/sh -c false' returned a non-zero code: 1\n");
    assert_eq!(env.run(&["image", "inspect", "broken:1"]).code, 1);
    assert_eq!(env.ok(&["ps", "-aq"]).stdout, "", "the failed step's container is removed");

    let exit7 = context(&env, "ctx7", &[("Dockerfile", "FROM busybox\nRUN [\"sh\", \"-c\", \"exit 7\"]\n")]);
    let run = build(&env, &exit7, &[]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("returned a non-zero code: 7"), "{}", run.stderr);

    for (text, want) in [
        ("FROM busybox\n\nBOGUS x\n", "Error: dockerfile parse error line 3: unknown instruction: BOGUS\n"),
        (
            "FROM busybox\nRUN <<EOF\necho never closed\n",
            "Error: dockerfile parse error line 2: unterminated heredoc EOF\n",
        ),
        ("FROM busybox\nENV A=${B:?must be set}\n", "Error: Dockerfile line 2: ENV: B: must be set\n"),
        ("FROM missing-image\n", "Error: Dockerfile line 1: FROM: No such image: missing-image:latest\n"),
        (
            "FROM busybox\nSHELL sh -c\n",
            "Error: Dockerfile line 2: SHELL: SHELL requires the arguments to be in JSON form\n",
        ),
        (
            "FROM --platform=linux/s390x busybox\n",
            "Error: Dockerfile line 1: FROM: berth builds for its host platform (linux/amd64) only: linux/s390x is not supported\n",
        ),
    ] {
        std::fs::write(dir.join("Dockerfile"), text).unwrap();
        let run = build(&env, &dir, &["-t", "broken:1"]);
        // A missing base image is looked for in its registry first (unreachable here).
        let last = run.stderr.lines().last().map(|l| format!("{l}\n")).unwrap_or_default();
        assert_eq!((run.code, last.as_str()), (1, want), "{text}: {}", run.stderr);
    }
    assert_eq!(env.run(&["image", "inspect", "broken:1"]).code, 1);
    // The host's platform is fine, named or through $BUILDPLATFORM.
    std::fs::write(dir.join("Dockerfile"), "FROM --platform=$BUILDPLATFORM busybox\nCMD [\"true\"]\n").unwrap();
    build_ok(&env, &dir, &["--platform", "linux/amd64"]);
    env.assert_store_clean();
}

#[test]
fn build_context_from_stdin_and_quiet() {
    let env = Env::new();
    env.busybox("busybox");
    let dir = context(
        &env,
        "ctx",
        &[("f.txt", "from the tar\n"), ("Dockerfile", "FROM busybox\nCOPY f.txt /\nCMD [\"cat\", \"/f.txt\"]\n")],
    );
    let tgz = env.path("ctx.tgz");
    sh(&format!("tar -C {} -czf {} .", dir.display(), tgz.display()));
    let mut child =
        env.cmd(&["build", "-q", "-t", "fromtar", "-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    std::io::copy(&mut std::fs::File::open(&tgz).unwrap(), child.stdin.as_mut().unwrap()).unwrap();
    drop(child.stdin.take());
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(
        out.starts_with("sha256:") && out.trim().len() == 71 && out.lines().count() == 1,
        "-q prints the ID only: {out}"
    );
    assert_eq!(env.ok(&["run", "--rm", "fromtar"]).stdout, "from the tar\n");
    assert_eq!(env.ok(&["images", "-q", "--no-trunc", "fromtar"]).stdout, out);

    // A Dockerfile on stdin: no context.
    let mut child =
        env.cmd(&["build", "-t", "nocontext", "-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"FROM busybox\nCMD [\"echo\", \"no context\"]\n").unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(env.ok(&["run", "--rm", "nocontext"]).stdout, "no context\n");
}

#[test]
fn build_result_runs_under_docker() {
    let env = Env::new();
    env.busybox("busybox");
    let dir = context(
        &env,
        "ctx",
        &[
            ("msg.txt", "built by berth\n"),
            (
                "Dockerfile",
                "FROM busybox\nCOPY msg.txt /msg.txt\nRUN echo ran >> /msg.txt\nCMD [\"cat\", \"/msg.txt\"]\n",
            ),
        ],
    );
    let tag = format!("berth-build-e2e-{}:1", std::process::id());
    build_ok(&env, &dir, &["-t", &tag]);
    let saved = env.path("built.tar");
    env.ok(&["save", "-o", saved.to_str().unwrap(), &tag]);
    let docker_up = Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if docker_up {
        let out = sh(&format!("docker load -i {}", saved.display()));
        assert!(out.contains(&format!("Loaded image: {tag}")), "{out}");
        let ran = sh(&format!("docker run --rm {tag}; docker rmi {tag} >/dev/null"));
        assert_eq!(ran, "built by berth\nran\n");
    } else {
        eprintln!("docker is not running here: checking with podman load instead");
        let podman = format!(
            "podman --root {d}/podman --runroot {d}/podman-run --storage-driver vfs --cgroup-manager cgroupfs --events-backend none",
            d = env.dir.path().display()
        );
        let out = sh(&format!("{podman} load -i {}", saved.display()));
        assert!(out.contains("Loaded image"), "{out}");
        let ran = sh(&format!("{podman} run --rm --runtime runc {tag}; {podman} rmi -a -f >/dev/null 2>&1; true"));
        assert_eq!(ran, "built by berth\nran\n");
    }
}

#[test]
fn build_run_cache_mount_persists_outside_the_image() {
    let env = Env::new();
    env.busybox("busybox");
    let dir = context(
        &env,
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\nARG N\nRUN --mount=type=cache,target=/var/cache/app echo \"run $N\" >> /var/cache/app/log && cp /var/cache/app/log /seen\nCMD [\"sh\", \"-c\", \"cat /seen; ls /var/cache/app | wc -l\"]\n",
        )],
    );
    build_ok(&env, &dir, &["-t", "m:1", "--build-arg", "N=1"]);
    build_ok(&env, &dir, &["-t", "m:2", "--build-arg", "N=2"]);
    // The second build saw what the first left in the cache; neither image holds it.
    assert_eq!(env.ok(&["run", "--rm", "m:2"]).stdout, "run 1\nrun 2\n0\n");
    assert_eq!(env.ok(&["run", "--rm", "m:1"]).stdout, "run 1\n0\n");
    std::fs::write(dir.join("Dockerfile"), "FROM busybox\nRUN --mount=type=secret,id=x true\n").unwrap();
    let run = build(&env, &dir, &[]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("RUN --mount=type=secret is not supported"), "{}", run.stderr);
}

#[test]
fn build_run_network_bridge_by_default_none_or_host() {
    let env = Env::new();
    env.busybox("busybox");
    let dir = context(
        &env,
        "ctx",
        &[("Dockerfile", "FROM busybox\nRUN ip -o link | wc -l > /links\nCMD [\"cat\", \"/links\"]\n")],
    );
    build_ok(&env, &dir, &["-t", "net:bridge"]);
    assert_eq!(env.ok(&["run", "--rm", "net:bridge"]).stdout, "2\n", "lo and eth0 on the default bridge");
    build_ok(&env, &dir, &["-t", "net:none", "--network", "none"]);
    assert_eq!(env.ok(&["run", "--rm", "net:none"]).stdout, "1\n", "only lo without a network");
    build_ok(&env, &dir, &["-t", "net:host", "--network", "host"]);
    // The host's links (lo and at least one more; other tests add and remove veths meanwhile).
    let links: u32 = env.ok(&["run", "--rm", "net:host"]).stdout.trim().parse().unwrap();
    assert!(links > 1, "{links}");
    let bad = env.fails(&["build", "--network", "bridge0", dir.to_str().unwrap()], 125);
    assert!(bad.contains("--network bridge0: build supports bridge (default), none and host"), "{bad}");
}

#[test]
fn build_add_unpacks_local_archives_of_every_compression() {
    let env = Env::new();
    env.busybox("busybox");
    let dir = context(&env, "ctx", &[("plain.gz", "")]);
    let d = env.dir.path().display();
    sh(&format!(
        "mkdir -p {d}/a/t && echo tar > {d}/a/t/f && tar -C {d}/a -cf {d}/ctx/p.tar t \
         && rm -r {d}/a/t && mkdir {d}/a/g && echo gz > {d}/a/g/f && tar -C {d}/a -czf {d}/ctx/p.tgz g \
         && rm -r {d}/a/g && mkdir {d}/a/b && echo bz2 > {d}/a/b/f && tar -C {d}/a -cjf {d}/ctx/p.tar.bz2 b \
         && rm -r {d}/a/b && mkdir {d}/a/x && echo xz > {d}/a/x/f && tar -C {d}/a -cJf {d}/ctx/p.tar.xz x \
         && echo not an archive | gzip > {d}/ctx/plain.gz"
    ));
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nADD p.tar p.tgz p.tar.bz2 p.tar.xz /u/\nADD plain.gz /kept/\nCOPY p.tgz /copied/\nCMD [\"sh\", \"-c\", \"cat /u/t/f /u/g/f /u/b/f /u/x/f; ls /kept; ls /copied\"]\n",
    )
    .unwrap();
    build_ok(&env, &dir, &["-t", "added"]);
    // Archives are unpacked by ADD (not COPY); a compressed file that is no tar is copied as is.
    assert_eq!(env.ok(&["run", "--rm", "added"]).stdout, "tar\ngz\nbz2\nxz\nplain.gz\np.tgz\n");
}
