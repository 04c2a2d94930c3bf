//! Bridge networks through the binary, as root: network create/ls/inspect/rm/prune, containers
//! on a network reaching each other by address (a busybox httpd and wget), `--internal`
//! without a route out, and nothing of berth's left in the kernel afterwards.

use std::time::{Duration, Instant};

use crate::common::{sh, Env};

fn env_with_busybox() -> Env {
    let env = Env::new();
    env.busybox("bb");
    env
}

/// The kernel objects a network or container of this test would leave: its bridge, veths,
/// network namespaces, and berth's rules.
fn leftovers(network_id: &str, container_ids: &[&str]) -> Vec<String> {
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
    let outside = env.run(&["run", "--rm", "bb", "wget", "-q", "-T", "1", "-O", "-", &format!("http://{ip}/")]);
    assert_ne!(outside.code, 0);

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
    assert_eq!(env.ok(&["network", "ls", "-q"]).stdout, "");
    assert_eq!(leftovers(&id, &[&c]), Vec::<String>::new());
}
