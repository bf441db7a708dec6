//! Cross-block checks after the schema pass: references, duplicates, address
//! families, and what keepalived checks against the host (interfaces, users, scripts).

use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::parser::Node;
use crate::values::parse_prefix;
use std::collections::HashMap;
use std::net::IpAddr;

/// What the host-dependent checks may consult (tests turn them off).
#[derive(Debug, Clone, Copy)]
pub struct HostChecks {
    pub interfaces: bool,
    pub users: bool,
    pub scripts: bool,
}

impl Default for HostChecks {
    fn default() -> Self {
        HostChecks {
            interfaces: true,
            users: true,
            scripts: true,
        }
    }
}

fn first_arg(n: &Node) -> Option<&str> {
    n.args.first().map(|t| t.text.as_str())
}

fn find<'a>(n: &'a Node, name: &str) -> Option<&'a Node> {
    n.children().iter().find(|c| c.name() == name)
}

/// Runs every cross-block check.
pub fn validate(nodes: &[Node], host: HostChecks, diags: &mut Diagnostics) {
    let defined = |kind: &[&str]| -> HashMap<String, &Node> {
        nodes
            .iter()
            .filter(|n| kind.contains(&n.name()))
            .filter_map(|n| first_arg(n).map(|a| (a.to_string(), n)))
            .collect()
    };
    let scripts = defined(&["vrrp_script"]);
    let files = defined(&["vrrp_track_file", "track_file"]);
    let procs = defined(&["vrrp_track_process"]);
    let instances = defined(&["vrrp_instance"]);

    let interface_exists =
        |name: &str| -> bool { !host.interfaces || nix::net::if_::if_nametoindex(name).is_ok() };
    let check_if = |tok: &crate::lexer::Token, what: &str, diags: &mut Diagnostics| {
        if !interface_exists(&tok.text) {
            diags.push(
                Diagnostic::error(tok.span, format!("interface {} for {what} does not exist", tok.text))
                    .label("no such interface on this host")
                    .hint("keepalived refuses it too; create the interface or fix the name (dynamic_interfaces is not supported yet)"),
            );
        }
    };

    // global_defs
    for g in nodes.iter().filter(|n| n.name() == "global_defs") {
        if let Some(u) = find(g, "script_user") {
            if host.users {
                if let Some(user) = u.args.first() {
                    if nix::unistd::User::from_name(&user.text)
                        .ok()
                        .flatten()
                        .is_none()
                    {
                        diags.push(
                            Diagnostic::error(
                                user.span,
                                format!("script_user {} does not exist", user.text),
                            )
                            .hint("create the user or name an existing one"),
                        );
                    }
                }
            }
        }
        if let Some(s) = find(g, "smtp_server") {
            if let Some(a) = s.args.first() {
                if a.text.parse::<IpAddr>().is_err() && !looks_like_host(&a.text) {
                    diags.push(
                        Diagnostic::error(a.span, format!("invalid smtp server '{}'", a.text))
                            .hint("write smtp_server ADDRESS [PORT]"),
                    );
                }
            }
        }
    }

    let global = |kw: &str| -> Option<&Node> {
        nodes
            .iter()
            .filter(|n| n.name() == "global_defs")
            .find_map(|g| find(g, kw))
    };
    let script_security = global("enable_script_security").is_some();
    let strict = global("vrrp_strict").is_some();
    let global_v3 = global("vrrp_version").is_some_and(|v| first_arg(v) == Some("3"));
    // vrrp_script: keepalived disables a script it cannot find or run.
    if host.scripts {
        for (name, n) in &scripts {
            let Some(s) = find(n, "script") else {
                diags.push(
                    Diagnostic::error(n.keyword.span, format!("vrrp_script {name} has no script"))
                        .hint("add: script \"/path/to/check args\""),
                );
                continue;
            };
            if let Some(cmd) = s.args.first() {
                let prog = cmd.text.split_whitespace().next().unwrap_or("");
                if prog.starts_with(['<', '>']) && !script_security {
                    diags.push(
                        Diagnostic::error(cmd.span, format!("script of vrrp_script {name} is a shell redirection, not a program"))
                            .class(crate::diag::Class::Security)
                            .hint("keepalived cannot check who may change it and reports a SECURITY VIOLATION; write e.g. script \"/bin/bash -c '</dev/tcp/127.0.0.1/80'\""),
                    );
                    continue;
                }
                if prog.starts_with('/') && !std::path::Path::new(prog).exists() {
                    diags.push(
                        Diagnostic::error(
                            cmd.span,
                            format!("script {prog} of vrrp_script {name} does not exist"),
                        )
                        .hint(
                            "keepalived disables the script and counts it as a configuration error",
                        ),
                    );
                }
            }
        }
    }

    if host.scripts {
        crate::security::check(nodes, diags);
    }

    // vrrp_instance
    let mut vrids: HashMap<(String, u8, bool), &Node> = HashMap::new();
    for inst in nodes.iter().filter(|n| n.name() == "vrrp_instance") {
        let name = first_arg(inst).unwrap_or("?");
        let iface = find(inst, "interface").and_then(|n| n.args.first());
        if let Some(t) = iface {
            if t.text == "lo" {
                diags.push(
                    Diagnostic::error(
                        t.span,
                        format!("vrrp_instance {name} cannot run on the loopback interface"),
                    )
                    .hint("VRRP needs a broadcast interface shared with the peer, e.g. eth0"),
                );
            } else {
                check_if(t, &format!("vrrp_instance {name}"), diags);
                let has_peers =
                    find(inst, "unicast_peer").is_some_and(|p| !p.children().is_empty());
                if host.interfaces && !has_peers && lacks_multicast(&t.text) {
                    diags.push(
                        Diagnostic::error(
                            t.span,
                            format!(
                                "interface {} of vrrp_instance {name} does not support multicast",
                                t.text
                            ),
                        )
                        .hint("keepalived disables the instance; add unicast_peer { … } or use another interface"),
                    );
                }
            }
        }
        let mut v6: Option<bool> = find(inst, "native_ipv6").map(|_| true);
        if let Some(vips) = find(inst, "virtual_ipaddress") {
            for item in vips.children() {
                match parse_prefix(item.name()) {
                    Err(e) => diags.push(
                        Diagnostic::error(
                            item.keyword.span,
                            format!("invalid virtual address: {e}"),
                        )
                        .hint("write ADDRESS[/PREFIX] [dev IF] [scope S] [label L] …"),
                    ),
                    Ok((ip, _)) => {
                        let fam6 = ip.is_ipv6();
                        match v6 {
                            None => v6 = Some(fam6),
                            Some(f) if f != fam6 => diags.push(
                                Diagnostic::error(
                                    item.keyword.span,
                                    format!("{ip} is not of the instance's address family"),
                                )
                                .hint("VRRP instances carry one family; put IPv4 and IPv6 VIPs in separate instances, or use virtual_ipaddress_excluded"),
                            ),
                            _ => {}
                        }
                    }
                }
                if let Some(pos) = item.args.iter().position(|a| a.text == "dev") {
                    if let Some(dev) = item.args.get(pos + 1) {
                        check_if(dev, &format!("ip address {}", item.name()), diags);
                    }
                }
            }
        }
        if let Some(peers) = find(inst, "unicast_peer") {
            for p in peers.children() {
                if p.name().parse::<IpAddr>().is_err() {
                    diags.push(
                        Diagnostic::error(
                            p.keyword.span,
                            format!("'{}' is not a unicast peer address", p.name()),
                        )
                        .hint("write one IP address per line"),
                    );
                }
            }
        }
        if let Some(ti) = find(inst, "track_interface") {
            for t in ti.children() {
                check_if(&t.keyword, &format!("track_interface of {name}"), diags);
            }
        }
        for (list, defs, what) in [
            ("track_script", &scripts, "vrrp_script"),
            ("track_file", &files, "vrrp_track_file"),
            ("track_process", &procs, "vrrp_track_process"),
        ] {
            if let Some(l) = find(inst, list) {
                for r in l.children() {
                    if !defs.contains_key(r.name()) {
                        let mut d = Diagnostic::error(
                            r.keyword.span,
                            format!(
                                "{list} '{}' of vrrp_instance {name} is not defined",
                                r.name()
                            ),
                        )
                        .label(format!("no {what} of this name"));
                        d = match did_you_mean(r.name(), defs.keys().map(String::as_str)) {
                            Some(m) => d.hint(format!("did you mean '{m}'?")),
                            None => d.hint(format!("define it with `{what} {} {{ … }}`", r.name())),
                        };
                        diags.push(d);
                    }
                }
            }
        }
        if let Some(auth) = find(inst, "authentication") {
            if let Some(p) = find(auth, "auth_pass").and_then(|n| n.args.first()) {
                if p.text.len() > 8 {
                    diags.push(
                        Diagnostic::fixup(
                            p.span,
                            "auth_pass is longer than 8 characters; only the first 8 are used",
                        )
                        .hint(format!(
                            "keepalived truncates it to '{}' as well",
                            &p.text[..8]
                        )),
                    );
                }
            }
        }
        if let (Some(ifn), Some(vrid)) = (
            iface.map(|t| t.text.clone()),
            find(inst, "virtual_router_id")
                .and_then(|n| n.args.first())
                .and_then(|t| t.text.parse::<u8>().ok()),
        ) {
            let key = (ifn, vrid, v6.unwrap_or(false));
            if let Some(prev) = vrids.get(&key) {
                diags.push(
                    Diagnostic::error(
                        find(inst, "virtual_router_id").map(|n| n.span()).unwrap_or(inst.keyword.span),
                        format!(
                            "virtual_router_id {vrid} is used twice on interface {} ({})",
                            key.0,
                            if key.2 { "IPv6" } else { "IPv4" }
                        ),
                    )
                    .related(find(prev, "virtual_router_id").map(|n| n.span()).unwrap_or(prev.keyword.span), "first used here")
                    .hint("each VRRP instance on one interface and family needs its own virtual_router_id"),
                );
            } else {
                vrids.insert(key, inst);
            }
        }
    }

    // Routes keepalived cannot track without an interface.
    for list in static_and_virtual(nodes, "static_routes", "virtual_routes") {
        for r in list.children() {
            let words: Vec<&str> = std::iter::once(r.name())
                .chain(r.args.iter().map(|a| a.text.as_str()))
                .collect();
            if !words.iter().any(|w| {
                *w == "dev"
                    || *w == "no_track"
                    || *w == "blackhole"
                    || *w == "unreachable"
                    || *w == "prohibit"
            }) {
                diags.push(
                    Diagnostic::fixup(r.keyword.span, format!("cannot track route {} with no interface; it is not tracked", r.name()))
                        .hint("add `dev IFNAME`, or `no_track` if the route should not be tracked (keepalived rejects it too)"),
                );
            }
            if let Some(pos) = r.args.iter().position(|a| a.text == "dev") {
                if let Some(dev) = r.args.get(pos + 1) {
                    check_if(dev, &format!("route {}", r.name()), diags);
                }
            }
        }
    }

    for list in static_and_virtual(nodes, "static_rules", "virtual_rules") {
        for r in list.children() {
            let toks: Vec<&crate::lexer::Token> =
                std::iter::once(&r.keyword).chain(r.args.iter()).collect();
            for w in toks.windows(2) {
                if (w[0].text == "from" || w[0].text == "to") && w[1].text != "all" {
                    if let Err(e) = parse_prefix(&w[1].text) {
                        diags.push(
                            Diagnostic::error(w[1].span, format!("invalid rule address: {e}"))
                                .hint("write ADDRESS[/PREFIX] or all"),
                        );
                    }
                }
            }
        }
    }

    for inst in nodes.iter().filter(|n| n.name() == "vrrp_instance") {
        let name = first_arg(inst).unwrap_or("?");
        let auth_ah = find(inst, "authentication")
            .and_then(|a| find(a, "auth_type"))
            .and_then(|t| first_arg(t))
            == Some("AH");
        if auth_ah {
            if let Some(st) = find(inst, "state").filter(|s| first_arg(s) == Some("MASTER")) {
                diags.push(
                    Diagnostic::fixup(st.span(), format!("vrrp_instance {name}: initial state MASTER is incompatible with AH authentication; starting as BACKUP"))
                        .hint("keepalived clears the MASTER state; write `state BACKUP`, or use PASS authentication"),
                );
            }
        }
        let v3 = find(inst, "version").map_or(global_v3, |v| first_arg(v) == Some("3"));
        if let Some(auth) = find(inst, "authentication") {
            if v3 {
                let why = if strict {
                    "strict mode"
                } else {
                    "VRRP version 3"
                };
                diags.push(
                    Diagnostic::fixup(auth.keyword.span, format!("vrrp_instance {name}: {why} does not support authentication; it is ignored"))
                        .hint("remove the authentication block (RFC 9568 dropped authentication)"),
                );
            }
        }
        if find(inst, "virtual_ipaddress").is_none_or(|v| v.children().is_empty()) {
            diags.push(
                Diagnostic::fixup(inst.keyword.span, format!("vrrp_instance {name} has no virtual_ipaddress"))
                    .hint("add a virtual_ipaddress { … } block: an instance without VIPs protects nothing"),
            );
        }
        if let Some(np) = find(inst, "nopreempt") {
            if find(inst, "priority").is_some_and(|p| first_arg(p) == Some("255")) {
                diags.push(
                    Diagnostic::fixup(np.keyword.span, format!("vrrp_instance {name}: nopreempt is incompatible with priority 255; it is ignored"))
                        .hint("the address owner (priority 255) always preempts; remove nopreempt or lower the priority"),
                );
            }
        }
        let has_peers = find(inst, "unicast_peer").is_some_and(|p| !p.children().is_empty());
        if !has_peers {
            for kw in ["unicast_ttl", "unicast_src_ip", "unicast_peer"] {
                if let Some(n) = find(inst, kw) {
                    diags.push(
                        Diagnostic::fixup(n.span(), format!("vrrp_instance {name}: {kw} without any unicast_peer; multicast is used"))
                            .hint("add a unicast_peer { … } block, or remove it to use multicast (keepalived rejects this too)"),
                    );
                }
            }
        }
    }
    for g in nodes.iter().filter(|n| n.name() == "global_defs") {
        for kw in ["vrrp_iptables", "vrrp_ipsets"] {
            if let Some(n) = find(g, kw) {
                diags.push(
                    Diagnostic::error(n.keyword.span, format!("{kw} is not supported"))
                        .hint("keepalived 2.2.7 as Debian builds it has no iptables either; use the nftables option"),
                );
            }
        }
    }
    for b in nodes.iter().filter(|n| n.name() == "bfd_instance") {
        if find(b, "neighbor_ip")
            .or_else(|| find(b, "neighbour_ip"))
            .is_none()
        {
            diags.push(
                Diagnostic::error(
                    b.span(),
                    format!(
                        "bfd_instance {} has no neighbor_ip",
                        first_arg(b).unwrap_or("?")
                    ),
                )
                .hint("add: neighbor_ip ADDRESS"),
            );
        }
    }

    // vrrp_sync_group members
    for g in nodes.iter().filter(|n| n.name() == "vrrp_sync_group") {
        if let Some(members) = find(g, "group") {
            if members.children().len() == 1 {
                diags.push(
                    Diagnostic::fixup(
                        members.keyword.span,
                        format!("vrrp_sync_group {} has only one member", first_arg(g).unwrap_or("?")),
                    )
                    .hint("a sync group moves several instances together; add the other instances, or remove the group (keepalived rejects this too)"),
                );
            }
            for m in members.children() {
                if !instances.contains_key(m.name()) {
                    let mut d = Diagnostic::error(
                        m.keyword.span,
                        format!(
                            "vrrp_sync_group member '{}' is not a vrrp_instance",
                            m.name()
                        ),
                    );
                    if let Some(s) = did_you_mean(m.name(), instances.keys().map(String::as_str)) {
                        d = d.hint(format!("did you mean '{s}'?"));
                    }
                    diags.push(d);
                }
            }
        }
    }

    // virtual_server addressing
    let groups = defined(&["virtual_server_group"]);
    for vs in nodes.iter().filter(|n| n.name() == "virtual_server") {
        let a = &vs.args;
        let span = vs.span();
        match a.first().map(|t| t.text.as_str()) {
            Some("fwmark") => {
                if a.len() != 2 || a[1].text.parse::<u32>().is_err() {
                    diags.push(
                        Diagnostic::error(span, "virtual_server fwmark needs one number")
                            .hint("write: virtual_server fwmark 1 {"),
                    );
                }
                if let Some(p) = find(vs, "protocol") {
                    diags.push(
                        Diagnostic::fixup(p.span(), "protocol given for a fwmark virtual server; it is ignored")
                            .hint("a fwmark service matches every protocol; remove `protocol` (keepalived ignores it and reports a configuration error)"),
                    );
                }
            }
            Some("group") => match a.get(1) {
                Some(g) if groups.contains_key(&g.text) => {}
                Some(g) => diags.push(Diagnostic::error(
                    g.span,
                    format!("virtual_server_group '{}' is not defined", g.text),
                )),
                None => diags.push(Diagnostic::error(span, "virtual_server group needs a name")),
            },
            _ => check_ip_port(vs, "virtual_server", diags),
        }
        check_protocol(vs, diags);
        // keepalived fills these in with a warning that `-t` counts as an error.
        let fwmark = a.first().is_some_and(|t| t.text == "fwmark");
        if !fwmark && find(vs, "protocol").is_none() {
            diags.push(
                Diagnostic::fixup(
                    span,
                    "virtual server without protocol: keepalived defaults to UDP",
                )
                .hint("write `protocol TCP` (or UDP, SCTP) in the block"),
            );
        }
        if find(vs, "lb_algo").or(find(vs, "lvs_sched")).is_none() {
            diags.push(
                Diagnostic::fixup(
                    span,
                    "virtual server without scheduler: keepalived uses wlc",
                )
                .hint("write `lb_algo wlc` (or rr, wrr, …) in the block"),
            );
        }
        if find(vs, "lb_kind").or(find(vs, "lvs_method")).is_none() {
            diags.push(
                Diagnostic::fixup(
                    span,
                    "virtual server without forwarding method: keepalived uses NAT",
                )
                .hint("write `lb_kind NAT` (or DR, TUN) in the block"),
            );
        }
        for rs in vs.children().iter().filter(|c| c.name() == "real_server") {
            check_ip_port(rs, "real_server", diags);
        }
    }
}

/// The top-level `static_*` lists and every instance's `virtual_*` lists.
fn static_and_virtual<'a>(
    nodes: &'a [Node],
    top: &'a str,
    in_instance: &'a str,
) -> impl Iterator<Item = &'a Node> {
    nodes.iter().filter(move |n| n.name() == top).chain(
        nodes
            .iter()
            .filter(|n| n.name() == "vrrp_instance")
            .filter_map(move |i| find(i, in_instance)),
    )
}

fn check_protocol(vs: &Node, diags: &mut Diagnostics) {
    if let Some(p) = find(vs, "protocol").and_then(|p| p.args.first()) {
        if !["TCP", "UDP", "SCTP"].contains(&p.text.to_ascii_uppercase().as_str()) {
            diags.push(
                Diagnostic::error(p.span, format!("'{}' is not a protocol", p.text))
                    .hint("protocol is TCP, UDP or SCTP"),
            );
        }
    }
}

fn check_ip_port(n: &Node, what: &str, diags: &mut Diagnostics) {
    let a = &n.args;
    if a.is_empty() || a.len() > 2 {
        diags.push(
            Diagnostic::error(n.span(), format!("{what} needs an address and a port"))
                .hint(format!("write: {what} 192.0.2.10 80 {{")),
        );
        return;
    }
    if a[0].text.parse::<IpAddr>().is_err() {
        diags.push(
            Diagnostic::error(a[0].span, format!("'{}' is not an IP address", a[0].text))
                .hint(format!("write: {what} ADDRESS PORT {{")),
        );
    }
    if let Some(p) = a.get(1) {
        if p.text.parse::<u16>().is_err() {
            diags.push(
                Diagnostic::error(p.span, format!("'{}' is not a port", p.text))
                    .label("must be 0..=65535")
                    .hint("write a port number from 0 to 65535"),
            );
        }
    }
}

/// Whether an existing interface lacks IFF_MULTICAST (VRRP adverts are multicast).
fn lacks_multicast(name: &str) -> bool {
    use nix::net::if_::InterfaceFlags;
    nix::ifaddrs::getifaddrs().is_ok_and(|mut l| {
        l.find(|a| a.interface_name == name)
            .is_some_and(|a| !a.flags.contains(InterfaceFlags::IFF_MULTICAST))
    })
}

fn looks_like_host(s: &str) -> bool {
    s.contains('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}
