//! The typed configuration model that the rest of keepalived-rs reads. Built from a
//! checked tree; keywords not yet typed here are kept, by name, in `other`, so
//! `config dump` loses nothing.

use crate::parser::Node;
use crate::schema::check::parse_bool;
use crate::values::parse_prefix;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Keywords (with their argument lists, one per occurrence) not typed yet.
pub type Other = BTreeMap<String, Vec<Vec<String>>>;

#[derive(Debug, Default, Serialize)]
pub struct Config {
    pub global_defs: GlobalDefs,
    pub vrrp_scripts: Vec<VrrpScript>,
    pub sync_groups: Vec<SyncGroup>,
    pub vrrp_instances: Vec<VrrpInstance>,
    pub virtual_server_groups: Vec<VirtualServerGroup>,
    pub virtual_servers: Vec<VirtualServer>,
    /// Other top-level blocks (static_ipaddress, track files, bfd, …) as trees.
    pub other: BTreeMap<String, Vec<serde_json::Value>>,
}

#[derive(Debug, Default, Serialize)]
pub struct GlobalDefs {
    pub router_id: Option<String>,
    pub notification_email: Vec<String>,
    pub notification_email_from: Option<String>,
    pub smtp_server: Option<SmtpServer>,
    pub smtp_helo_name: Option<String>,
    pub smtp_connect_timeout: Option<u32>,
    pub vrrp_skip_check_adv_addr: bool,
    pub vrrp_strict: bool,
    pub vrrp_garp_interval: Option<f64>,
    pub vrrp_gna_interval: Option<f64>,
    pub script_user: Option<String>,
    pub enable_script_security: bool,
    pub lvs_backend: Option<String>,
    pub other: Other,
}

#[derive(Debug, Serialize)]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Default, Serialize)]
pub struct VrrpScript {
    pub name: String,
    pub script: Option<String>,
    pub interval: Option<f64>,
    pub timeout: Option<f64>,
    pub weight: Option<i32>,
    pub rise: Option<u32>,
    pub fall: Option<u32>,
    pub other: Other,
}

#[derive(Debug, Default, Serialize)]
pub struct SyncGroup {
    pub name: String,
    pub group: Vec<String>,
    pub other: Other,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub enum State {
    #[serde(rename = "MASTER")]
    Master,
    #[serde(rename = "BACKUP")]
    Backup,
}

#[derive(Debug, Serialize)]
pub struct Authentication {
    pub auth_type: String,
    pub auth_pass: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct VirtualAddress {
    pub address: IpAddr,
    pub prefix: Option<u8>,
    /// `dev`, `scope`, `label`, `brd`, … as written.
    pub options: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Track {
    pub name: String,
    pub weight: Option<i32>,
}

#[derive(Debug, Default, Serialize)]
pub struct VrrpInstance {
    pub name: String,
    pub state: Option<State>,
    pub interface: Option<String>,
    pub virtual_router_id: Option<u8>,
    pub priority: Option<u8>,
    pub advert_int: Option<f64>,
    pub version: Option<u8>,
    pub nopreempt: bool,
    pub preempt_delay: Option<f64>,
    pub authentication: Option<Authentication>,
    pub virtual_ipaddress: Vec<VirtualAddress>,
    pub virtual_ipaddress_excluded: Vec<VirtualAddress>,
    pub track_interface: Vec<Track>,
    pub track_script: Vec<Track>,
    pub track_file: Vec<Track>,
    pub unicast_src_ip: Option<IpAddr>,
    pub unicast_peer: Vec<IpAddr>,
    pub notify_master: Option<String>,
    pub notify_backup: Option<String>,
    pub notify_fault: Option<String>,
    pub notify_stop: Option<String>,
    pub notify: Option<String>,
    pub other: Other,
}

#[derive(Debug, Default, Serialize)]
pub struct VirtualServerGroup {
    pub name: String,
    pub members: Vec<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceAddress {
    Ip { address: IpAddr, port: u16 },
    Fwmark(u32),
    Group(String),
}

#[derive(Debug, Serialize)]
pub struct VirtualServer {
    pub service: ServiceAddress,
    pub delay_loop: Option<f64>,
    pub lb_algo: Option<String>,
    pub lb_kind: Option<String>,
    pub protocol: Option<String>,
    pub persistence_timeout: Option<u32>,
    pub quorum: Option<u32>,
    pub sorry_server: Option<Vec<String>>,
    pub real_servers: Vec<RealServer>,
    pub other: Other,
}

#[derive(Debug, Serialize)]
pub struct RealServer {
    pub address: IpAddr,
    pub port: Option<u16>,
    pub weight: Option<u32>,
    pub checkers: Vec<Checker>,
    pub other: Other,
}

#[derive(Debug, Serialize)]
pub struct Checker {
    /// TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, …
    pub kind: String,
    pub urls: Vec<Url>,
    pub other: Other,
}

#[derive(Debug, Default, Serialize)]
pub struct Url {
    pub path: Option<String>,
    pub digest: Option<String>,
    pub status_code: Option<String>,
    pub other: Other,
}

fn words(n: &Node) -> Vec<String> {
    n.args.iter().map(|a| a.text.clone()).collect()
}

fn arg(n: &Node) -> Option<String> {
    n.args.first().map(|a| a.text.clone())
}

fn num<T: std::str::FromStr>(n: &Node) -> Option<T> {
    n.args.first().and_then(|a| a.text.parse().ok())
}

fn flag(n: &Node) -> bool {
    n.args
        .first()
        .is_none_or(|a| parse_bool(&a.text).unwrap_or(true))
}

fn keep(other: &mut Other, n: &Node) {
    other
        .entry(n.name().to_string())
        .or_default()
        .push(words(n));
}

fn tracks(n: &Node) -> Vec<Track> {
    n.children()
        .iter()
        .map(|c| Track {
            name: c.name().to_string(),
            weight: c
                .args
                .iter()
                .position(|a| a.text == "weight")
                .and_then(|i| c.args.get(i + 1))
                .and_then(|w| w.text.parse().ok()),
        })
        .collect()
}

fn addresses(n: &Node) -> Vec<VirtualAddress> {
    n.children()
        .iter()
        .filter_map(|c| {
            let (address, prefix) = parse_prefix(c.name()).ok()?;
            Some(VirtualAddress {
                address,
                prefix,
                options: words(c),
            })
        })
        .collect()
}

/// Builds the model from a checked tree (invalid entries were reported and are skipped).
pub fn build(tree: &[Node]) -> Config {
    let mut c = Config::default();
    for n in tree {
        match n.name() {
            "global_defs" => global(&mut c.global_defs, n),
            "vrrp_script" => c.vrrp_scripts.push(script(n)),
            "vrrp_sync_group" => {
                let mut g = SyncGroup {
                    name: arg(n).unwrap_or_default(),
                    ..Default::default()
                };
                for k in n.children() {
                    match k.name() {
                        "group" => {
                            g.group = k.children().iter().map(|m| m.name().to_string()).collect()
                        }
                        _ => keep(&mut g.other, k),
                    }
                }
                c.sync_groups.push(g);
            }
            "vrrp_instance" => c.vrrp_instances.push(instance(n)),
            "virtual_server_group" => c.virtual_server_groups.push(VirtualServerGroup {
                name: arg(n).unwrap_or_default(),
                members: n
                    .children()
                    .iter()
                    .map(|m| {
                        std::iter::once(m.name().to_string())
                            .chain(words(m))
                            .collect()
                    })
                    .collect(),
            }),
            "virtual_server" => {
                if let Some(vs) = virtual_server(n) {
                    c.virtual_servers.push(vs);
                }
            }
            other => c
                .other
                .entry(other.to_string())
                .or_default()
                .push(crate::tree_json(std::slice::from_ref(n))[0].clone()),
        }
    }
    c
}

fn global(g: &mut GlobalDefs, n: &Node) {
    for k in n.children() {
        match k.name() {
            "router_id" => g.router_id = arg(k),
            "notification_email" => {
                g.notification_email = k.children().iter().map(|e| e.name().to_string()).collect()
            }
            "notification_email_from" => g.notification_email_from = arg(k),
            "smtp_server" => {
                g.smtp_server = arg(k).map(|host| SmtpServer {
                    host,
                    port: k
                        .args
                        .get(1)
                        .and_then(|p| p.text.parse().ok())
                        .unwrap_or(25),
                })
            }
            "smtp_helo_name" => g.smtp_helo_name = arg(k),
            "smtp_connect_timeout" => g.smtp_connect_timeout = num(k),
            "vrrp_skip_check_adv_addr" => g.vrrp_skip_check_adv_addr = flag(k),
            "vrrp_strict" => g.vrrp_strict = true,
            "vrrp_garp_interval" => g.vrrp_garp_interval = num(k),
            "vrrp_gna_interval" => g.vrrp_gna_interval = num(k),
            "script_user" => g.script_user = Some(words(k).join(" ")),
            "enable_script_security" => g.enable_script_security = true,
            "lvs_backend" => g.lvs_backend = arg(k),
            _ => keep(&mut g.other, k),
        }
    }
}

fn script(n: &Node) -> VrrpScript {
    let mut s = VrrpScript {
        name: arg(n).unwrap_or_default(),
        ..Default::default()
    };
    for k in n.children() {
        match k.name() {
            "script" => s.script = Some(words(k).join(" ")),
            "interval" => s.interval = num(k),
            "timeout" => s.timeout = num(k),
            "weight" => s.weight = num(k),
            "rise" => s.rise = num(k),
            "fall" => s.fall = num(k),
            _ => keep(&mut s.other, k),
        }
    }
    s
}

fn instance(n: &Node) -> VrrpInstance {
    let mut i = VrrpInstance {
        name: arg(n).unwrap_or_default(),
        ..Default::default()
    };
    for k in n.children() {
        match k.name() {
            "state" => {
                i.state = match arg(k).as_deref() {
                    Some("MASTER") => Some(State::Master),
                    Some("BACKUP") => Some(State::Backup),
                    _ => None,
                }
            }
            "interface" => i.interface = arg(k),
            "virtual_router_id" => i.virtual_router_id = num(k),
            "priority" => i.priority = num(k),
            "advert_int" => i.advert_int = num(k),
            "version" => i.version = num(k),
            "nopreempt" => i.nopreempt = true,
            "preempt_delay" => i.preempt_delay = num(k),
            "authentication" => {
                let get = |name: &str| k.children().iter().find(|c| c.name() == name).and_then(arg);
                i.authentication = Some(Authentication {
                    auth_type: get("auth_type").unwrap_or_else(|| "PASS".into()),
                    // keepalived uses only the first 8 characters.
                    auth_pass: get("auth_pass").map(|p| p.chars().take(8).collect()),
                });
            }
            "virtual_ipaddress" => i.virtual_ipaddress = addresses(k),
            "virtual_ipaddress_excluded" => i.virtual_ipaddress_excluded = addresses(k),
            "track_interface" => i.track_interface = tracks(k),
            "track_script" => i.track_script = tracks(k),
            "track_file" => i.track_file = tracks(k),
            "unicast_src_ip" => i.unicast_src_ip = num(k),
            "unicast_peer" => {
                i.unicast_peer = k
                    .children()
                    .iter()
                    .filter_map(|p| p.name().parse().ok())
                    .collect()
            }
            "notify_master" => i.notify_master = Some(words(k).join(" ")),
            "notify_backup" => i.notify_backup = Some(words(k).join(" ")),
            "notify_fault" => i.notify_fault = Some(words(k).join(" ")),
            "notify_stop" => i.notify_stop = Some(words(k).join(" ")),
            "notify" => i.notify = Some(words(k).join(" ")),
            _ => keep(&mut i.other, k),
        }
    }
    i
}

fn virtual_server(n: &Node) -> Option<VirtualServer> {
    let a = &n.args;
    let service = match a.first().map(|t| t.text.as_str()) {
        Some("fwmark") => ServiceAddress::Fwmark(a.get(1)?.text.parse().ok()?),
        Some("group") => ServiceAddress::Group(a.get(1)?.text.clone()),
        _ => ServiceAddress::Ip {
            address: a.first()?.text.parse().ok()?,
            port: a.get(1).and_then(|p| p.text.parse().ok()).unwrap_or(0),
        },
    };
    let mut vs = VirtualServer {
        service,
        delay_loop: None,
        lb_algo: None,
        lb_kind: None,
        protocol: None,
        persistence_timeout: None,
        quorum: None,
        sorry_server: None,
        real_servers: Vec::new(),
        other: Other::new(),
    };
    for k in n.children() {
        match k.name() {
            "delay_loop" => vs.delay_loop = num(k),
            "lb_algo" | "lvs_sched" => vs.lb_algo = arg(k),
            "lb_kind" | "lvs_method" => vs.lb_kind = arg(k),
            "protocol" => vs.protocol = arg(k).map(|p| p.to_ascii_uppercase()),
            "persistence_timeout" => vs.persistence_timeout = num(k),
            "quorum" => vs.quorum = num(k),
            "sorry_server" => vs.sorry_server = Some(words(k)),
            "real_server" => {
                if let Some(rs) = real_server(k) {
                    vs.real_servers.push(rs);
                }
            }
            _ => keep(&mut vs.other, k),
        }
    }
    Some(vs)
}

fn real_server(n: &Node) -> Option<RealServer> {
    let mut rs = RealServer {
        address: n.args.first()?.text.parse().ok()?,
        port: n.args.get(1).and_then(|p| p.text.parse().ok()),
        weight: None,
        checkers: Vec::new(),
        other: Other::new(),
    };
    for k in n.children() {
        match k.name() {
            "weight" => rs.weight = num(k),
            name if name.ends_with("_CHECK") || name == "HTTP_GET" || name == "SSL_GET" => {
                let mut c = Checker {
                    kind: name.to_string(),
                    urls: Vec::new(),
                    other: Other::new(),
                };
                for p in k.children() {
                    if p.name() == "url" {
                        let mut u = Url::default();
                        for f in p.children() {
                            match f.name() {
                                "path" => u.path = arg(f),
                                "digest" => u.digest = arg(f),
                                "status_code" => u.status_code = Some(words(f).join(" ")),
                                _ => keep(&mut u.other, f),
                            }
                        }
                        c.urls.push(u);
                    } else {
                        keep(&mut c.other, p);
                    }
                }
                rs.checkers.push(c);
            }
            _ => keep(&mut rs.other, k),
        }
    }
    Some(rs)
}
