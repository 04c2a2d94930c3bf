//! Bridge networks through the binary, as root: network create/ls/inspect/rm/prune, containers
//! on a network reaching each other by address (a busybox httpd and wget), `--internal`
//! without a route out, and nothing of berth's left in the kernel afterwards.

use std::time::{Duration, Instant};

use crate::common::{free_port, http_get, leftovers, sh, Env};

/// The body of `GET path` from `addr` (retried for up to 10 s, as `http_get`).
fn http_get_path(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = std::net::TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            // A CGI script's own headers end with a bare "\n\n".
            Ok(out.replace("\r\n", "\n").split_once("\n\n").map(|(_, body)| body.to_string()).unwrap_or_default())
        })();
        match attempt {
            Ok(body) if !body.is_empty() => return body,
            other => assert!(Instant::now() < deadline, "GET {addr}{path}: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn env_with_busybox() -> Env {
    let env = Env::new();
    env.busybox("bb");
    env
}

#[test]
fn containers_on_a_network_reach_each_other() {
    let env = env_with_busybox();
    let name = format!("net{}", std::process::id());
    let id = env.ok(&["network", "create", "--label", "tier=test", &name]).stdout.trim().to_string();
    assert_eq!(id.len(), 64);
    let ls = env.ok(&["network", "ls"]).stdout;
    assert!(ls.starts_with("NETWORK ID") && ls.contains(&id[..12]) && ls.contains(&name), "{ls}");
    assert_eq!(env.ok(&["network", "ls", "-q", "-f", "label=tier=test"]).stdout.trim(), &id[..12]);
    let err = env.fails(&["network", "create", &name], 125);
    assert!(err.contains(&format!("network with name {name} already exists")), "{err}");

    // A web server on the network, and a client that fetches from it by address.
    std::fs::create_dir(env.path("www")).unwrap();
    std::fs::write(env.path("www/index.html"), "hello over the bridge\n").unwrap();
    let www = format!("{}:/www:ro", env.path("www").display());
    let web = env.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        &name,
        "-v",
        &www,
        "bb",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    let web_id = web.stdout.trim().to_string();
    let ip = env.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"]).stdout.trim().to_string();
    let ipam = env.ok(&["network", "inspect", "-f", "{{json .IPAM.Config}}", &name]).stdout;
    let ipam: serde_json::Value = serde_json::from_str(&ipam).unwrap();
    let subnet = ipam[0]["Subnet"].as_str().unwrap();
    assert!(ip.starts_with(subnet.trim_end_matches("0/24")) && ipam[0]["Gateway"].is_string(), "{ip} in {ipam}");
    let fetch =
        format!("for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://{ip}/ && exit 0; sleep 0.2; done; exit 1");
    let got = env.ok(&["run", "--rm", "--network", &name, "bb", "sh", "-c", &fetch]).stdout;
    assert_eq!(got, "hello over the bridge\n");
    // By name, through berth's DNS server on the gateway; the short ID and name.network too.
    let by_name = fetch.replace(&ip, "web");
    let got = env.ok(&["run", "--rm", "--network", &name, "bb", "sh", "-c", &by_name]).stdout;
    assert_eq!(got, "hello over the bridge\n");
    let lookup = env.ok(&["run", "--rm", "--network", &name, "bb", "nslookup", &format!("web.{name}")]).stdout;
    assert!(lookup.contains(&format!("Address: {ip}")), "{lookup}");
    let lookup = env.ok(&["run", "--rm", "--network", &name, "bb", "nslookup", &web_id[..12]]).stdout;
    assert!(lookup.contains(&format!("Address: {ip}")), "{lookup}");
    // Another network's containers do not see it by name.
    let other = format!("other{}", std::process::id());
    env.ok(&["network", "create", &other]);
    let elsewhere = env.run(&["run", "--rm", "--network", &other, "bb", "nslookup", "web"]);
    assert!(!elsewhere.stdout.contains(&ip), "{}", elsewhere.stdout);
    env.ok(&["network", "rm", &other]);
    let routes = env.ok(&["run", "--rm", "--network", &name, "bb", "ip", "route"]).stdout;
    assert!(routes.starts_with("default via "), "{routes}");

    // network inspect lists the endpoint; rm refuses while it is in use.
    let containers = env.ok(&["network", "inspect", "-f", "{{json .Containers}}", &name]).stdout;
    assert!(containers.contains(&web_id) && containers.contains(&format!("{ip}/24")), "{containers}");
    let err = env.run(&["network", "rm", &name]);
    assert_eq!(err.code, 1);
    assert!(err.stderr.contains("has active endpoints"), "{}", err.stderr);

    // A container that is not on the network cannot reach it.
    // (Not busybox's `wget -T`: it segfaults, in or out of a container.)
    let outside =
        env.run(&["run", "--rm", "--init", "bb", "timeout", "2", "wget", "-q", "-O", "-", &format!("http://{ip}/")]);
    assert_ne!(outside.code, 0);

    // A stopped container's namespace is gone by the time `stop` returns, and its veth soon
    // after (the kernel takes it with the namespace, in the background).
    env.ok(&["stop", "-t", "0", "web"]);
    assert!(!sh("ip netns list").contains(&format!("berth-{}", &web_id[..12])));
    let left = leftovers(&id, &[&web_id]);
    assert!(!left.iter().any(|l| l.contains(&web_id)), "{left:?}");
    env.ok(&["rm", "-f", "web"]);
    assert_eq!(env.ok(&["network", "rm", &name]).stdout, format!("{name}\n"));
    assert_eq!(leftovers(&id, &[&web_id]), Vec::<String>::new());
    let err = env.fails(&["run", "--rm", "--network", &name, "bb", "true"], 125);
    assert!(err.contains(&format!("network {name} not found")), "{err}");
}

#[test]
fn internal_networks_have_no_route_out_and_prune_removes_unused_ones() {
    let env = env_with_busybox();
    let name = format!("int{}", std::process::id());
    let id = env.ok(&["network", "create", "--internal", "--subnet", "10.97.3.0/24", &name]).stdout.trim().to_string();
    let run =
        env.ok(&["run", "--rm", "--network", &name, "bb", "sh", "-c", "ip -4 addr show eth0 | grep inet; ip route"]);
    assert!(run.stdout.contains("inet 10.97.3.2/24"), "{}", run.stdout);
    assert!(!run.stdout.contains("default"), "no default route on --internal: {}", run.stdout);
    let err = env.fails(&["network", "create", "--subnet", "10.97.3.0/25", "overlapping"], 125);
    assert!(err.contains("overlaps"), "{err}");
    let err = env.fails(&["network", "create", "--subnet", "10.97.4.1/24", "hostbits"], 125);
    assert!(err.contains("did you mean 10.97.4.0/24"), "{err}");

    // --ip and --network-alias: the address asked for, and a second name for DNS.
    let run = env.ok(&[
        "run",
        "--rm",
        "--network",
        &name,
        "--ip",
        "10.97.3.50",
        "--network-alias",
        "db",
        "bb",
        "sh",
        "-c",
        "ip -4 addr show eth0 | grep -o 'inet [0-9.]*'; nslookup db | grep -A1 '^Name:'",
    ]);
    assert!(
        run.stdout.starts_with("inet 10.97.3.50\n") && run.stdout.contains("Address: 10.97.3.50"),
        "{}",
        run.stdout
    );
    let err = env.fails(&["run", "--rm", "--network", &name, "--ip", "10.99.0.5", "bb", "true"], 125);
    assert!(err.contains("no configured subnet or ip-range contain the IP address 10.99.0.5"), "{err}");
    let err = env.fails(&["run", "--rm", "--ip", "10.97.3.9", "bb", "true"], 125);
    assert!(err.contains("user specified IP address is supported on user defined networks only"), "{err}");
    // A start that fails before the process runs leaves no endpoint behind.
    env.fails(&["run", "--rm", "--network", &name, "bb", "no-such-command"], 127);
    assert!(env.ok(&["network", "inspect", "-f", "{{json .Containers}}", &name]).stdout.starts_with("{}"));

    // Detached, then stopped: the address goes back when the container stops.
    let c = env.ok(&["run", "-d", "--network", &name, "bb", "sleep", "1000"]).stdout.trim().to_string();
    env.ok(&["stop", "-t", "0", &c]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !env.ok(&["network", "inspect", "-f", "{{json .Containers}}", &name]).stdout.starts_with("{}") {
        assert!(Instant::now() < deadline, "endpoint still there after stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    env.ok(&["rm", &c]);
    assert_eq!(env.ok(&["network", "prune", "-f"]).stdout, format!("Deleted Networks:\n{name}\n"));
    assert_eq!(env.ok(&["network", "ls", "--format", "{{.Name}}"]).stdout, "bridge\n", "prune keeps only the default");
    assert_eq!(leftovers(&id, &[&c]), Vec::<String>::new());
}

/// The container's interfaces are made while the runtime sets it up; when that fails (here the
/// network's bridge was deleted behind berth's back), the start fails as any other: exit 125,
/// the kernel's reason, the container left `Created`, and nothing of it in the kernel.
#[test]
fn a_start_whose_interface_cannot_be_made_fails_and_leaves_nothing() {
    let env = env_with_busybox();
    let name = format!("gone{}", std::process::id());
    let id = env.ok(&["network", "create", "--subnet", "10.97.9.0/24", &name]).stdout.trim().to_string();
    let bridge = format!("br-{}", &id[..12]);
    sh(&format!("ip link del {bridge}"));
    let err = env.fails(&["run", "-d", "--name", "unplugged", "--network", &name, "bb", "sleep", "4321"], 125);
    assert!(err.contains(&bridge) && err.contains("No such device"), "{err}");
    let c = env.ok(&["inspect", "-f", "{{.Id}}", "unplugged"]).stdout.trim().to_string();
    assert_eq!(env.ok(&["inspect", "-f", "{{.State.Status}}", &c]).stdout, "created\n");
    assert!(env.ok(&["network", "inspect", "-f", "{{json .Containers}}", &name]).stdout.starts_with("{}"));
    assert!(!sh("cat /proc/mounts").contains(&c), "a mount of the container is left");
    assert!(!sh("find /sys/fs/cgroup -maxdepth 3 -path '*/berth/*'").contains(&c), "a cgroup is left");
    assert!(!sh("ps -eo args").contains("sleep 4321"), "a process is left");
    env.fails(&["run", "--rm", "--network", &name, "bb", "true"], 125);
    assert_eq!(env.ok(&["ps", "-aq"]).stdout, format!("{}\n", &c[..12]));
    env.ok(&["rm", &c]);
    env.ok(&["network", "rm", &name]);
    assert_eq!(leftovers(&id, &[&c]), Vec::<String>::new());
}

#[test]
fn an_address_stays_taken_while_the_namespace_of_its_stopped_container_lives() {
    let env = env_with_busybox();
    let name = format!("drn{}", std::process::id());
    let id = env.ok(&["network", "create", "--subnet", "10.97.7.0/24", &name]).stdout.trim().to_string();
    let eth0 = "ip -4 addr show eth0 | grep -o 'inet [0-9.]*'";
    let a =
        env.ok(&["run", "-d", "--name", "owner", "--network", &name, "bb", "sleep", "1000"]).stdout.trim().to_string();
    assert_eq!(env.ok(&["exec", "owner", "sh", "-c", eth0]).stdout, "inet 10.97.7.2\n");
    // guest lives in owner's network namespace: the namespace and owner's veth outlive owner.
    env.ok(&["run", "-d", "--name", "guest", "--network", "container:owner", "bb", "sleep", "1000"]);
    env.ok(&["stop", "-t", "0", "owner"]);
    assert!(env.ok(&["network", "inspect", "-f", "{{json .Containers}}", &name]).stdout.starts_with("{}"));
    // A new container does not get the address that is still up in that namespace.
    assert_eq!(env.ok(&["run", "--rm", "--network", &name, "bb", "sh", "-c", eth0]).stdout, "inet 10.97.7.3\n");
    assert_eq!(env.ok(&["exec", "guest", "sh", "-c", eth0]).stdout, "inet 10.97.7.2\n");
    // Once the namespace is gone with guest, the address is free again.
    env.ok(&["rm", "-f", "guest"]);
    env.ok(&["rm", "owner"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = env.ok(&["run", "--rm", "--network", &name, "bb", "sh", "-c", eth0]).stdout;
        if got == "inet 10.97.7.2\n" {
            break;
        }
        assert!(Instant::now() < deadline, "the address did not come back: {got}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // `run --rm` returned once its container and endpoint were gone.
    assert_eq!(env.ok(&["ps", "-aq"]).stdout, "");
    env.ok(&["network", "rm", &name]);
    assert_eq!(leftovers(&id, &[&a]), Vec::<String>::new());
}

#[test]
fn published_ports_reach_the_container_from_the_host_and_other_containers() {
    let env = env_with_busybox();
    let name = format!("pub{}", std::process::id());
    let net_id = env.ok(&["network", "create", &name]).stdout.trim().to_string();
    std::fs::create_dir(env.path("www")).unwrap();
    std::fs::write(env.path("www/index.html"), "published\n").unwrap();
    // A CGI script that tells the client's address as the container sees it.
    std::fs::create_dir(env.path("www/cgi-bin")).unwrap();
    let peer = env.path("www/cgi-bin/peer");
    std::fs::write(&peer, "#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho \"$REMOTE_ADDR\"\n").unwrap();
    std::fs::set_permissions(&peer, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let www = format!("{}:/www:ro", env.path("www").display());
    let (any, local) = (free_port(), free_port());
    let (any_spec, local_spec) = (format!("{any}:80"), format!("127.0.0.1:{local}:80"));
    let web = env.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        &name,
        "-p",
        &any_spec,
        "-p",
        &local_spec,
        "-v",
        &www,
        "bb",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    let web_id = web.stdout.trim().to_string();

    // `port` and `ps` show them as Docker does.
    let port = env.ok(&["port", "web"]).stdout;
    assert_eq!(port, format!("80/tcp -> 0.0.0.0:{any}\n80/tcp -> 127.0.0.1:{local}\n"));
    assert_eq!(env.ok(&["port", "web", "80"]).stdout, format!("0.0.0.0:{any}\n127.0.0.1:{local}\n"));
    let ps = env.ok(&["ps", "--format", "{{.Ports}}"]).stdout;
    assert_eq!(ps.trim(), format!("0.0.0.0:{any}->80/tcp, 127.0.0.1:{local}->80/tcp"));
    let bindings = env.ok(&["inspect", "-f", "{{json .NetworkSettings.Ports}}", "web"]).stdout;
    assert!(bindings.contains(&format!("\"HostPort\":\"{any}\"")), "{bindings}");

    // From the host, through loopback and through the host's own address.
    assert_eq!(http_get(&format!("127.0.0.1:{any}")), "published\n");
    assert_eq!(http_get(&format!("127.0.0.1:{local}")), "published\n");
    let host_ip = sh("hostname -I").split_whitespace().next().expect("the host has an address").to_string();
    assert_eq!(http_get(&format!("{host_ip}:{any}")), "published\n");
    // From another container, and from the container itself, through the host.
    let url = format!("http://{host_ip}:{any}/");
    assert_eq!(env.ok(&["run", "--rm", "--network", &name, "bb", "wget", "-q", "-O", "-", &url]).stdout, "published\n");
    assert_eq!(env.ok(&["exec", "web", "wget", "-q", "-O", "-", &url]).stdout, "published\n");

    // Who the container sees: a loopback client as berth's own 169.254.7.1 (not the gateway,
    // whose ports the host's own connections share: see nat::LOOPBACK_SOURCE), the host's own
    // address as itself, the host's direct connections and other containers (hairpin) as the
    // gateway. Many short connections in a row through each keep being answered.
    let ip = env.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"]).stdout.trim().to_string();
    let gateway = env.ok(&["network", "inspect", "-f", "{{json .IPAM.Config}}", &name]).stdout;
    let gateway: serde_json::Value = serde_json::from_str(&gateway).unwrap();
    let gateway = gateway[0]["Gateway"].as_str().unwrap().to_string();
    let seen = |addr: &str| {
        http_get_path(addr, "/cgi-bin/peer").trim().trim_start_matches("[::ffff:").trim_end_matches(']').to_string()
    };
    for _ in 0..3 {
        assert_eq!(seen(&format!("127.0.0.1:{any}")), "169.254.7.1");
        assert_eq!(seen(&format!("127.0.0.1:{local}")), "169.254.7.1");
        assert_eq!(seen(&format!("{host_ip}:{any}")), host_ip);
        assert_eq!(seen(&format!("{ip}:80")), gateway);
    }
    for addr in [format!("127.0.0.1:{any}"), format!("{ip}:80"), format!("{host_ip}:{any}")] {
        for _ in 0..200 {
            assert_eq!(http_get(&addr), "published\n");
        }
    }
    let peer_url = format!("http://{host_ip}:{any}/cgi-bin/peer");
    let from_container = env.ok(&["run", "--rm", "--network", &name, "bb", "wget", "-q", "-O", "-", &peer_url]).stdout;
    assert_eq!(from_container.trim(), format!("[::ffff:{gateway}]"));

    // A taken host port fails the start with Docker's message, and leaves no network behind.
    let err =
        env.fails(&["run", "-d", "--name", "clash", "--network", &name, "-p", &any_spec, "bb", "sleep", "100"], 125);
    assert!(err.contains(&format!("Bind for 0.0.0.0:{any} failed: port is already allocated")), "{err}");
    let clash_id = env.ok(&["inspect", "-f", "{{.Id}}", "clash"]).stdout.trim().to_string();
    assert_eq!(env.ok(&["inspect", "-f", "{{.State.Status}}", "clash"]).stdout, "created\n");

    // UDP: a static echo server (busybox's nc here has no -u), built by the test.
    let echo = env.path("udp_echo");
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/fixtures/udp_echo.c");
    sh(&format!("cc -static -O2 -o {} {source}", echo.display()));
    let udp = free_port();
    let (udp_spec, echo_mount) = (format!("{udp}:9999/udp"), format!("{}:/udp_echo:ro", echo.display()));
    env.ok(&[
        "run",
        "-d",
        "--name",
        "udp",
        "--network",
        &name,
        "-p",
        &udp_spec,
        "-v",
        &echo_mount,
        "bb",
        "/udp_echo",
        "9999",
    ]);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 64];
    loop {
        sock.send_to(b"datagram", ("127.0.0.1", udp)).unwrap();
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            assert_eq!(&buf[..n], b"datagram");
            break;
        }
        assert!(Instant::now() < deadline, "no echo through the published UDP port");
    }

    // -P publishes every exposed port on a random host port.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "all",
        "--network",
        &name,
        "-P",
        "--expose",
        "80",
        "-v",
        &www,
        "bb",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    let random = env.ok(&["port", "all", "80/tcp"]).stdout;
    let random = random.trim().rsplit(':').next().unwrap().to_string();
    assert_eq!(http_get(&format!("127.0.0.1:{random}")), "published\n");

    let ids: Vec<String> =
        ["udp", "all"].iter().map(|n| env.ok(&["inspect", "-f", "{{.Id}}", n]).stdout.trim().to_string()).collect();
    env.ok(&["rm", "-f", "web", "clash", "udp", "all"]);
    env.ok(&["network", "rm", &name]);
    let mut all_ids: Vec<&str> = vec![&web_id, &clash_id];
    all_ids.extend(ids.iter().map(String::as_str));
    assert_eq!(leftovers(&net_id, &all_ids), Vec::<String>::new());
    let rules = sh("nft list ruleset");
    for id in &all_ids {
        assert!(!rules.contains(&format!("berth:{id}")), "rules of {id} left");
    }
}

/// A stand-in for the host's resolver, on a loopback address: answers every A query with
/// 198.51.100.7 until the deadline (bounded: it stops by itself).
fn fake_resolver(ip: &str) -> std::thread::JoinHandle<()> {
    let sock = std::net::UdpSocket::bind((ip, 53)).expect("bind the test resolver");
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut buf = [0u8; 512];
        while Instant::now() < deadline {
            let Ok((n, from)) = sock.recv_from(&mut buf) else { continue };
            // Header, then the question: labels up to the zero byte, then type and class.
            let Some(end) = buf[12..n].iter().position(|b| *b == 0).map(|p| 12 + p + 5) else { continue };
            let mut reply = buf[..end].to_vec();
            reply[2..4].copy_from_slice(&[0x81, 0x80]); // a response, recursion available
            reply[4..12].copy_from_slice(&[0, 1, 0, 1, 0, 0, 0, 0]); // 1 question, 1 answer
            reply.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51, 100, 7]);
            let _ = sock.send_to(&reply, from);
        }
    })
}

#[test]
fn other_names_are_forwarded_to_the_configured_resolver() {
    let env = env_with_busybox();
    // daemon.json's `dns` servers are where the embedded DNS forwards, as Docker's does.
    let resolver = format!("127.0.{}.{}", 100 + std::process::id() % 100, 1 + std::process::id() % 250);
    std::fs::write(env.path("daemon.json"), format!("{{\"dns\": [\"{resolver}\"]}}")).unwrap();
    let _resolver = fake_resolver(&resolver);
    let name = format!("fwd{}", std::process::id());
    env.ok(&["network", "create", &name]);
    let out = env.ok(&["run", "--rm", "--network", &name, "bb", "nslookup", "outside.example"]).stdout;
    assert!(out.contains("Address: 198.51.100.7"), "{out}");
    env.ok(&["network", "rm", &name]);
}

#[test]
fn dns_options_add_host_and_the_engine_defaults_shape_resolv_conf_and_hosts() {
    let env = env_with_busybox();
    let out = env
        .ok(&[
            "run",
            "--rm",
            "--dns",
            "192.0.2.53",
            "--dns-search",
            "corp.example",
            "--dns-option",
            "ndots:2",
            "--add-host",
            "db.example:10.1.2.3",
            "bb",
            "sh",
            "-c",
            "cat /etc/resolv.conf; grep db.example /etc/hosts",
        ])
        .stdout;
    assert_eq!(out, "nameserver 192.0.2.53\nsearch corp.example\noptions ndots:2\n10.1.2.3\tdb.example\n");

    // daemon.json's dns, dns-search and dns-opts apply to a container that sets none.
    std::fs::write(
        env.path("daemon.json"),
        r#"{"dns": ["192.0.2.1"], "dns-search": ["lab.example"], "dns-opts": ["timeout:1"]}"#,
    )
    .unwrap();
    let defaults = env.ok(&["run", "--rm", "bb", "cat", "/etc/resolv.conf"]).stdout;
    assert_eq!(defaults, "nameserver 192.0.2.1\nsearch lab.example\noptions timeout:1\n");
    // On a user network the nameserver is berth's DNS server on the gateway; search and
    // options still apply.
    let name = format!("dnsopt{}", std::process::id());
    env.ok(&["network", "create", "--subnet", "10.232.9.0/24", &name]);
    let on_net = env.ok(&["run", "--rm", "--network", &name, "bb", "cat", "/etc/resolv.conf"]).stdout;
    assert_eq!(on_net, "nameserver 10.232.9.1\nsearch lab.example\noptions timeout:1\n");
}

#[test]
fn network_none_has_only_a_loopback_that_is_up() {
    let env = env_with_busybox();
    let links = env.ok(&["run", "--rm", "--network", "none", "bb", "ip", "-o", "link", "show"]).stdout;
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.starts_with("1: lo: <LOOPBACK,UP,LOWER_UP>"), "{links}");
    let ping = env.ok(&["run", "--rm", "--network", "none", "bb", "ping", "-c", "1", "-W", "1", "127.0.0.1"]).stdout;
    assert!(ping.contains("1 packets received"), "{ping}");
    // Each run of a restarted container has its own namespace with the loopback up: the
    // first one's is made before the runtime starts, the next ones' by the runtime.
    let id = env
        .ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--restart",
            "on-failure:2",
            "bb",
            "sh",
            "-c",
            "ip -o link show; exit 1",
        ])
        .stdout
        .trim()
        .to_string();
    assert_eq!(env.ok(&["wait", &id]).stdout, "1\n");
    let logs = env.ok(&["logs", &id]).stdout;
    assert_eq!(logs.matches("1: lo: <LOOPBACK,UP,LOWER_UP>").count(), 3, "{logs}");
    assert_eq!(logs.lines().count(), 3, "{logs}");
    env.ok(&["rm", &id]);
    // An exec joins PID 1's namespace (made before the runtime started, joined through the
    // monitor's fd, which is closed by now).
    let id = env.ok(&["run", "-d", "--network", "none", "bb", "sleep", "100"]).stdout.trim().to_string();
    let namespaces = env.ok(&["exec", &id, "sh", "-c", "readlink /proc/self/ns/net; readlink /proc/1/ns/net"]).stdout;
    let namespaces: Vec<&str> = namespaces.lines().collect();
    assert!(namespaces.len() == 2 && namespaces[0] == namespaces[1], "{namespaces:?}");
    env.ok(&["rm", "-f", &id]);
}

#[test]
fn the_default_bridge_network_comes_with_its_first_container_and_goes_with_prune() {
    let env = env_with_busybox();
    let port = free_port();
    std::fs::create_dir(env.path("www")).unwrap();
    std::fs::write(env.path("www/index.html"), "on the default bridge\n").unwrap();
    let www = format!("{}:/www:ro", env.path("www").display());
    let spec = format!("{port}:80");
    let web = env.ok(&["run", "-d", "-p", &spec, "-v", &www, "--init", "bb", "httpd", "-f", "-p", "80", "-h", "/www"]);
    let web = web.stdout.trim().to_string();
    assert_eq!(env.ok(&["inspect", "-f", "{{.HostConfig.NetworkMode}}", &web]).stdout, "bridge\n");
    assert_eq!(http_get(&format!("127.0.0.1:{port}")), "on the default bridge\n");
    let network = env.ok(&["network", "inspect", "-f", "{{.Id}}", "bridge"]).stdout.trim().to_string();
    let bridge = format!("br-{}", &network[..12]);
    assert!(sh("ip -o link show").contains(&bridge));
    // Another container reaches it by address, not by name (no DNS on the default bridge).
    let ip = env.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &web]).stdout.trim().to_string();
    let url = format!("http://{ip}/");
    assert_eq!(env.ok(&["run", "--rm", "bb", "wget", "-q", "-O", "-", &url]).stdout, "on the default bridge\n");
    let resolv = env.ok(&["run", "--rm", "bb", "cat", "/etc/resolv.conf"]).stdout;
    assert!(!resolv.contains(&format!("nameserver {}", ip.rsplit_once('.').unwrap().0)), "{resolv}");
    // An IPv4 network, so no IPv6 in the container, as Docker's: not on eth0, not on lo.
    let ipv6 = "cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6 /proc/sys/net/ipv6/conf/lo/disable_ipv6; ip -6 addr";
    assert_eq!(env.ok(&["run", "--rm", "bb", "sh", "-c", ipv6]).stdout, "1\n1\n");
    let err = env.fails(&["network", "rm", "bridge"], 1);
    assert!(err.contains("bridge is a pre-defined network and cannot be removed"), "{err}");
    // The bridge stays after the last container (as docker0 does); `network prune` takes it
    // and its rules down while unused, and the network itself stays.
    env.ok(&["rm", "-f", &web]);
    assert!(sh("ip -o link show").contains(&bridge));
    env.ok(&["network", "prune", "-f"]);
    assert_eq!(leftovers(&network, &[&web]), Vec::<String>::new());
    assert_eq!(env.ok(&["network", "ls", "--format", "{{.Name}}"]).stdout, "bridge\n");
}

#[test]
fn link_gives_the_other_container_an_alias() {
    let env = env_with_busybox();
    env.ok(&["run", "-d", "--init", "--name", "db", "bb", "sleep", "60"]);
    let hosts = env
        .ok(&[
            "run",
            "--rm",
            "--link",
            "db:database",
            "bb",
            "sh",
            "-c",
            "grep database /etc/hosts; ping -c 1 -W 2 database >/dev/null && echo reached",
        ])
        .stdout;
    let ip = env.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "db"]).stdout.trim().to_string();
    assert_eq!(hosts, format!("{ip}\tdatabase db\nreached\n"));
    let err = env.fails(&["run", "--rm", "--link", "nosuch:x", "bb", "true"], 125);
    assert!(err.contains("could not get container for nosuch"), "{err}");
    env.ok(&["rm", "-f", "db"]);
}

#[test]
fn connect_and_disconnect_a_running_container() {
    let env = env_with_busybox();
    let (a, b) = (format!("conna{}", std::process::id()), format!("connb{}", std::process::id()));
    env.ok(&["network", "create", "--subnet", "10.233.1.0/24", &a]);
    env.ok(&["network", "create", "--subnet", "10.233.2.0/24", &b]);
    env.ok(&["run", "-d", "--init", "--name", "web", "--network", &a, "bb", "httpd", "-f", "-p", "80", "-h", "/"]);
    env.ok(&["run", "-d", "--init", "--name", "client", "--network", &b, "bb", "sleep", "60"]);
    assert_ne!(
        env.run(&["exec", "client", "ping", "-c", "1", "-W", "1", "web"]).code,
        0,
        "web resolved across networks"
    );
    env.ok(&["network", "connect", "--alias", "site", &b, "web"]);
    let ips = env.ok(&["exec", "web", "ip", "-o", "-4", "addr", "show"]).stdout;
    assert!(
        ips.contains("eth0") && ips.contains("10.233.1.") && ips.contains("eth1") && ips.contains("10.233.2."),
        "{ips}"
    );
    for name in ["web", "site"] {
        let ping = env.run(&["exec", "client", "ping", "-c", "1", "-W", "2", name]);
        assert_eq!(ping.code, 0, "{name}: {}{}", ping.stdout, ping.stderr);
        assert!(ping.stdout.contains("10.233.2."), "{}", ping.stdout);
    }
    let nets = env.ok(&["inspect", "-f", "{{json .NetworkSettings.Networks}}", "web"]).stdout;
    assert!(nets.contains(&a) && nets.contains(&b), "{nets}");
    let again = env.fails(&["network", "connect", &b, "web"], 125);
    assert!(again.contains("already exists in network"), "{again}");
    env.ok(&["network", "disconnect", &b, "web"]);
    assert!(!env.ok(&["exec", "web", "ip", "-o", "link", "show"]).stdout.contains("eth1"));
    assert_ne!(env.run(&["exec", "client", "ping", "-c", "1", "-W", "1", "site"]).code, 0);
    // Joined again, it keeps the network across a restart (eth1 comes back).
    env.ok(&["network", "connect", &b, "web"]);
    env.ok(&["restart", "-t", "1", "web"]);
    assert!(env.ok(&["exec", "web", "ip", "-o", "link", "show"]).stdout.contains("eth1"));
    env.ok(&["rm", "-f", "web", "client"]);
    env.ok(&["network", "rm", &a, &b]);
}
