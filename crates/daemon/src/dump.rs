//! keepalived's on-signal dumps: SIGUSR1 (data, readable text), SIGUSR2
//! (stats) and SIGRTMIN+2 (`keepalived --signum=JSON`: /tmp/keepalived.json in
//! keepalived's layout, which monitoring plugins parse).

use crate::state::{self, InstanceStatus, Status};
use keepalived_config::model::{Config, VrrpInstance};
use serde_json::{json, Value};

/// keepalived's signal names for `--signum`, and their numbers here.
pub fn signum(name: &str) -> Option<i32> {
    Some(match name {
        "RELOAD" => libc_sig(nix::sys::signal::Signal::SIGHUP),
        "STOP" => libc_sig(nix::sys::signal::Signal::SIGTERM),
        "DATA" => libc_sig(nix::sys::signal::Signal::SIGUSR1),
        "STATS" => libc_sig(nix::sys::signal::Signal::SIGUSR2),
        "JSON" => json_signal(),
        _ => return None,
    })
}

fn libc_sig(s: nix::sys::signal::Signal) -> i32 {
    s as i32
}

/// keepalived's JSON dump signal: SIGRTMIN+2.
pub fn json_signal() -> i32 {
    nix::libc::SIGRTMIN() + 2
}

/// Writes a dump; `what` picks the layout.
pub fn write(status: &state::Shared, cfg: &Config, path: &str, what: Kind) {
    let snap = state::snapshot(status);
    let text = match what {
        Kind::Data => crate::status::render(
            &serde_json::to_value(&snap).unwrap_or_default(),
            state::now(),
        ),
        Kind::Stats => serde_json::to_string_pretty(&snap).unwrap_or_default(),
        Kind::Json => keepalived_json(cfg, &snap).to_string(),
    };
    match std::fs::write(path, text) {
        Ok(()) => tracing::info!("status written to {path}"),
        Err(e) => tracing::warn!("{path}: {e}"),
    }
}

/// The dump layouts.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Data,
    Stats,
    Json,
}

/// keepalived's numeric states.
fn state_number(s: &str) -> u8 {
    match s {
        "BACKUP" => 1,
        "MASTER" => 2,
        "FAULT" => 3,
        "STOP" => 98,
        _ => 0,
    }
}

/// Seconds as keepalived prints them: whole numbers as integers.
fn secs(v: f64) -> Value {
    if v.fract() == 0.0 && v >= 0.0 {
        json!(v as u64)
    } else {
        json!(v)
    }
}

/// One array element per VRRP instance, `{"data": {...}, "stats": {...}}`,
/// with keepalived's field names and meanings.
pub fn keepalived_json(cfg: &Config, st: &Status) -> Value {
    let g = &cfg.global_defs;
    let list = st
        .instances
        .iter()
        .map(|s| {
            let c = cfg.vrrp_instances.iter().find(|c| c.name == s.name);
            json!({ "data": data(cfg, c, s), "stats": stats(s) })
        })
        .collect::<Vec<_>>();
    let _ = g;
    Value::Array(list)
}

fn data(cfg: &Config, c: Option<&VrrpInstance>, s: &InstanceStatus) -> Value {
    let g = &cfg.global_defs;
    let garp_delay = c
        .and_then(|c| c.garp_master_delay)
        .or(g.vrrp_garp_master_delay)
        .unwrap_or(5.0);
    let garp_rep = c
        .and_then(|c| c.garp_master_repeat)
        .or(g.vrrp_garp_master_repeat)
        .unwrap_or(5);
    let strict = c.and_then(|c| c.strict_mode).unwrap_or(g.vrrp_strict);
    let owned = s.state == "MASTER";
    let vip = |v: &keepalived_config::model::VirtualAddress| {
        let dev = v.dev.clone().unwrap_or_else(|| s.interface.clone());
        let prefix = v
            .prefix
            .unwrap_or(if v.address.is_ipv4() { 32 } else { 128 });
        let scope = v.scope.clone().unwrap_or_else(|| "global".into());
        format!(
            "{}/{prefix} dev {dev} scope {scope}{}",
            v.address,
            if owned { " set" } else { "" }
        )
    };
    let mut d = json!({
        "iname": s.name,
        "dont_track_primary": u8::from(c.is_some_and(|c| c.dont_track_primary)),
        "skip_check_adv_addr": u8::from(
            c.and_then(|c| c.skip_check_adv_addr).unwrap_or(g.vrrp_skip_check_adv_addr)
        ),
        "strict_mode": u8::from(strict),
        "vmac_ifname": c
            .and_then(|c| c.use_vmac.as_ref())
            .map(|v| if v.is_empty() { format!("vrrp.{}", s.vrid) } else { v.clone() })
            .unwrap_or_default(),
        "ifp_ifname": c.and_then(|c| c.interface.clone()).unwrap_or_else(|| s.interface.clone()),
        "master_priority": if owned { s.effective_priority } else { 0 },
        "last_transition": s.transitions.last().map(|t| t.at).unwrap_or(0.0),
        "garp_delay": secs(garp_delay),
        "garp_refresh": secs(
            c.and_then(|c| c.garp_master_refresh)
                .or(g.vrrp_garp_master_refresh)
                .unwrap_or(0.0)
        ),
        "garp_rep": garp_rep,
        "garp_refresh_rep": c
            .and_then(|c| c.garp_master_refresh_repeat)
            .or(g.vrrp_garp_master_refresh_repeat)
            .unwrap_or(1),
        "garp_lower_prio_delay": secs(
            c.and_then(|c| c.garp_lower_prio_delay)
                .or(g.vrrp_garp_lower_prio_delay)
                .unwrap_or(garp_delay)
        ),
        "garp_lower_prio_rep": c
            .and_then(|c| c.garp_lower_prio_repeat)
            .or(g.vrrp_garp_lower_prio_repeat)
            .unwrap_or(garp_rep),
        "lower_prio_no_advert": u8::from(
            c.and_then(|c| c.lower_prio_no_advert)
                .or(g.vrrp_lower_prio_no_advert)
                .unwrap_or(false)
        ),
        "higher_prio_send_advert": u8::from(
            c.and_then(|c| c.higher_prio_send_advert)
                .or(g.vrrp_higher_prio_send_advert)
                .unwrap_or(false)
        ),
        "vrid": s.vrid,
        "base_priority": s.priority,
        "effective_priority": s.effective_priority,
        "vipset": owned,
        "promote_secondaries": c.is_some_and(|c| c.promote_secondaries),
        "adver_int": secs(c.and_then(|c| c.advert_int).unwrap_or(1.0)),
        "master_adver_int": secs(s.master_adver_int),
        "accept": u8::from(c.and_then(|c| c.accept).unwrap_or(!strict)),
        "nopreempt": c.is_some_and(|c| c.nopreempt),
        "preempt_delay": secs(c.and_then(|c| c.preempt_delay).unwrap_or(0.0)),
        "state": state_number(&s.state),
        "wantstate": state_number(&s.state),
        "version": c.and_then(|c| c.version).or(g.vrrp_version).unwrap_or(2),
        "smtp_alert": c.and_then(|c| c.smtp_alert).unwrap_or(false),
        "notify_deleted": c.is_some_and(|c| c.notify_deleted.is_some()),
        "vips": c.map(|c| c.virtual_ipaddress.iter().map(vip).collect::<Vec<_>>()).unwrap_or_default(),
    });
    let Some(c) = c else { return d };
    let m = d.as_object_mut().expect("object");
    if !c.virtual_ipaddress_excluded.is_empty() {
        m.insert(
            "evips".into(),
            json!(c
                .virtual_ipaddress_excluded
                .iter()
                .map(vip)
                .collect::<Vec<_>>()),
        );
    }
    if !c.track_interface.is_empty() {
        m.insert(
            "track_ifp".into(),
            json!(c
                .track_interface
                .iter()
                .map(|t| t.name.clone())
                .collect::<Vec<_>>()),
        );
    }
    if !c.track_script.is_empty() {
        let scripts = c
            .track_script
            .iter()
            .map(|t| {
                let cmd = cfg
                    .vrrp_scripts
                    .iter()
                    .find(|s| s.name == t.name)
                    .and_then(|s| s.script.clone())
                    .unwrap_or_else(|| t.name.clone());
                shell_words::split(&cmd)
                    .unwrap_or_else(|_| vec![cmd.clone()])
                    .iter()
                    .map(|w| format!("'{w}'"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>();
        m.insert("track_script".into(), json!(scripts));
    }
    let auth = match c.authentication.as_ref().map(|a| a.auth_type.as_str()) {
        Some("PASS") => 1,
        Some("AH") => 2,
        _ => 0,
    };
    m.insert("auth_type".into(), json!(auth));
    if auth != 0 {
        if let Some(p) = c.authentication.as_ref().and_then(|a| a.auth_pass.clone()) {
            m.insert("auth_data".into(), json!(p));
        }
    }
    d
}

fn stats(s: &InstanceStatus) -> Value {
    let drop = |keys: &[&str]| -> u64 { keys.iter().filter_map(|k| s.drops.get(*k)).sum() };
    json!({
        "advert_rcvd": s.adverts_rx,
        "advert_sent": s.adverts_tx,
        "become_master": s.became_master,
        "release_master": s.released_master,
        "packet_len_err": drop(&["too_short", "length_mismatch"]),
        "advert_interval_err": drop(&["interval_mismatch"]),
        "ip_ttl_err": drop(&["bad_ttl"]),
        "invalid_type_rcvd": drop(&["bad_type"]),
        "addr_list_err": drop(&["address_mismatch"]),
        "invalid_authtype": drop(&["bad_auth_type"]),
        "authtype_mismatch": drop(&["auth_type_mismatch"]),
        "auth_failure": drop(&["auth_mismatch"]),
        "pri_zero_rcvd": s.priority_zero_rx,
        "pri_zero_sent": s.priority_zero_tx,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_signal_numbers() {
        // What Debian's keepalived 2.2.7 prints for `--signum=NAME`.
        assert_eq!(signum("JSON"), Some(36));
        assert_eq!(signum("DATA"), Some(10));
        assert_eq!(signum("STATS"), Some(12));
        assert_eq!(signum("RELOAD"), Some(1));
        assert_eq!(signum("STOP"), Some(15));
        assert_eq!(signum("NOPE"), None);
    }

    #[test]
    fn json_has_keepalived_fields() {
        let text = "global_defs { router_id R1 }\n\
            vrrp_script chk {\n script \"/bin/true\"\n interval 1\n}\n\
            vrrp_instance VI_1 {\n interface lo\n virtual_router_id 51\n priority 100\n\
            authentication {\n auth_type PASS\n auth_pass secret\n}\n\
            virtual_ipaddress {\n 10.77.0.100/24\n}\n track_script {\n chk\n}\n}\n";
        let loaded = keepalived_config::load_str("t.conf", text, &Default::default());
        let cfg = keepalived_config::model::build(&loaded.tree);
        let st = Status {
            instances: vec![InstanceStatus {
                name: "VI_1".into(),
                interface: "lo".into(),
                vrid: 51,
                state: "MASTER".into(),
                priority: 100,
                effective_priority: 100,
                adverts_tx: 2,
                became_master: 1,
                master_adver_int: 1.0,
                ..Default::default()
            }],
            ..Default::default()
        };
        let v = keepalived_json(&cfg, &st);
        let d = &v[0]["data"];
        assert_eq!(d["iname"], "VI_1");
        assert_eq!(d["state"], 2);
        assert_eq!(d["vrid"], 51);
        assert_eq!(d["adver_int"], 1);
        assert_eq!(d["garp_delay"], 5);
        assert_eq!(d["auth_type"], 1);
        assert_eq!(d["vips"][0], "10.77.0.100/24 dev lo scope global set");
        assert_eq!(d["track_script"][0], "'/bin/true'");
        assert_eq!(v[0]["stats"]["advert_sent"], 2);
        assert_eq!(v[0]["stats"]["become_master"], 1);
    }
}
