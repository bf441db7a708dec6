//! `global_defs { … }`.

use super::*;
use std::net::IpAddr;

/// `notify_fifo`, `vrrp_notify_fifo`, `lvs_notify_fifo`: `FIFO [USER [GROUP]]`, with
/// the matching `*_fifo_script` (run by keepalived to read the FIFO).
#[derive(Debug, Clone, Default, Serialize)]
pub struct NotifyFifo {
    /// The FIFO's path (empty if only the script was given).
    pub path: String,
    pub user: Option<String>,
    pub group: Option<String>,
    /// The `*_notify_fifo_script` line, if any.
    pub script: Option<String>,
}

fn fifo(f: &mut Option<NotifyFifo>, k: &Node, script: bool) {
    let f = f.get_or_insert_with(NotifyFifo::default);
    if script {
        f.script = line(k);
    } else {
        let w = words(k);
        f.path = w.first().cloned().unwrap_or_default();
        f.user = w.get(1).cloned();
        f.group = w.get(2).cloned();
    }
}

/// `lvs_timeouts [tcp SECS] [tcpfin SECS] [udp SECS]` (unset: left as the kernel has them).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct LvsTimeouts {
    pub tcp: Option<u32>,
    pub tcpfin: Option<u32>,
    pub udp: Option<u32>,
}

pub(crate) fn lvs_timeouts(k: &Node) -> Option<LvsTimeouts> {
    let w = words(k);
    Some(LvsTimeouts {
        tcp: after(&w, "tcp"),
        tcpfin: after(&w, "tcpfin"),
        udp: after(&w, "udp"),
    })
}

/// `lvs_sync_daemon IF [[inst] VRRP_INSTANCE] [id N] [maxlen LEN] [port P] [ttl T] [group IP]`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LvsSyncDaemon {
    pub interface: String,
    /// The VRRP instance whose state drives master/backup sync.
    pub instance: Option<String>,
    /// Sync id (keepalived default 0 … the instance's virtual_router_id).
    pub id: Option<u32>,
    pub maxlen: Option<u32>,
    /// UDP port (kernel default 8848).
    pub port: Option<u16>,
    /// Multicast TTL (kernel default 1).
    pub ttl: Option<u8>,
    /// Multicast group (kernel default 224.0.0.81 / ff02::8148).
    pub group: Option<IpAddr>,
}

fn lvs_sync_daemon(k: &Node) -> Option<LvsSyncDaemon> {
    let w = words(k);
    let opts = ["inst", "id", "maxlen", "port", "ttl", "group"];
    let instance = match w.get(1) {
        Some(s) if s == "inst" => w.get(2).cloned(),
        Some(s) if !opts.contains(&s.as_str()) => Some(s.clone()),
        _ => None,
    };
    Some(LvsSyncDaemon {
        interface: w.first()?.clone(),
        instance,
        id: after(&w, "id"),
        maxlen: after(&w, "maxlen"),
        port: after(&w, "port"),
        ttl: after(&w, "ttl"),
        group: after(&w, "group"),
    })
}

/// `smtp_server HOST [PORT]` (port default 25).
fn smtp_server(k: &Node) -> Option<SmtpServer> {
    arg(k).map(|host| SmtpServer {
        host,
        port: k
            .args
            .get(1)
            .and_then(|p| p.text.parse().ok())
            .unwrap_or(25),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
}

keyword_struct! {
    #[derive(Debug, Clone, Default, Serialize)]
    pub struct GlobalDefs {
        ;
        /// Default: the host name.
        router_id: Option<String> = "router_id" => arg,
        notification_email: Vec<String> = "notification_email" => names,
        /// Default: `keepalived@<hostname>`.
        notification_email_from: Option<String> = "notification_email_from" => arg,
        smtp_server: Option<SmtpServer> = "smtp_server" => smtp_server,
        /// Default: the host name.
        smtp_helo_name: Option<String> = "smtp_helo_name" => arg,
        /// Seconds (default 30).
        smtp_connect_timeout: Option<u32> = "smtp_connect_timeout" => num,
        /// Default for every alert (keepalived: on if an smtp_server and email are set).
        smtp_alert: Option<bool> = "smtp_alert" => opt_bool,
        smtp_alert_vrrp: Option<bool> = "smtp_alert_vrrp" => opt_bool,
        smtp_alert_checker: Option<bool> = "smtp_alert_checker" => opt_bool,
        vrrp_skip_check_adv_addr: bool = "vrrp_skip_check_adv_addr" => flag,
        vrrp_strict: bool = "vrrp_strict" => flag,
        /// Seconds between gratuitous ARPs (default 0: none).
        vrrp_garp_interval: Option<f64> = "vrrp_garp_interval" => num,
        /// Seconds between unsolicited NAs (default 0: none).
        vrrp_gna_interval: Option<f64> = "vrrp_gna_interval" => num,
        /// `USER [GROUP]` as written (default keepalived_script, else root).
        script_user: Option<String> = "script_user" => line,
        enable_script_security: bool = "enable_script_security" => flag,
        /// keepalived-rs: `auto|ipvs|nftables` (default auto).
        lvs_backend: Option<String> = "lvs_backend" => arg,
        /// keepalived-rs: TCP_CHECK completes each handshake with connect(2), as
        /// keepalived does, instead of a half-open probe from a raw socket.
        tcp_check_full_connect: bool = "tcp_check_full_connect" => flag,
        /// keepalived-rs: where the metrics/status endpoint listens (`ADDR:PORT …`).
        metrics_listen: Vec<String> = "metrics_listen" => words,
        /// Default 224.0.0.18.
        vrrp_mcast_group4: Option<IpAddr> = "vrrp_mcast_group4" => ip,
        /// Default ff02::12.
        vrrp_mcast_group6: Option<IpAddr> = "vrrp_mcast_group6" => ip,
        /// Seconds after becoming master before the second GARP burst (default 5).
        vrrp_garp_master_delay: Option<f64> = "vrrp_garp_master_delay" => num,
        /// GARPs per burst (default 5).
        vrrp_garp_master_repeat: Option<u32> = "vrrp_garp_master_repeat" => num,
        /// Seconds between periodic GARPs as master (default 0: none).
        vrrp_garp_master_refresh: Option<f64> = "vrrp_garp_master_refresh" => num,
        /// GARPs per refresh (default 1).
        vrrp_garp_master_refresh_repeat: Option<u32> = "vrrp_garp_master_refresh_repeat" => num,
        /// Default: vrrp_garp_master_delay.
        vrrp_garp_lower_prio_delay: Option<f64> = "vrrp_garp_lower_prio_delay" => num,
        /// Default: vrrp_garp_master_repeat.
        vrrp_garp_lower_prio_repeat: Option<u32> = "vrrp_garp_lower_prio_repeat" => num,
        /// Default false.
        vrrp_lower_prio_no_advert: Option<bool> = "vrrp_lower_prio_no_advert" => opt_bool,
        /// Default false.
        vrrp_higher_prio_send_advert: Option<bool> = "vrrp_higher_prio_send_advert" => opt_bool,
        /// Default 2.
        vrrp_version: Option<u8> = "vrrp_version" => num,
        vrrp_check_unicast_src: bool = "vrrp_check_unicast_src" => flag,
        /// `[IN_CHAIN [OUT_CHAIN]]` (default INPUT, none).
        vrrp_iptables: Option<Vec<String>> = "vrrp_iptables" => some_words,
        vrrp_ipsets: Option<Vec<String>> = "vrrp_ipsets" => some_words,
        vrrp_no_swap: bool = "vrrp_no_swap" => flag,
        /// Nice value -20..19 (default 0).
        vrrp_priority: Option<i32> = "vrrp_priority" => num,
        checker_no_swap: bool = "checker_no_swap" => flag,
        checker_priority: Option<i32> = "checker_priority" => num,
        vrrp_rt_priority: Option<u32> = "vrrp_rt_priority" => num,
        checker_rt_priority: Option<u32> = "checker_rt_priority" => num,
        notify_fifo: Option<NotifyFifo>,
        vrrp_notify_fifo: Option<NotifyFifo>,
        lvs_notify_fifo: Option<NotifyFifo>,
        lvs_timeouts: Option<LvsTimeouts> = "lvs_timeouts" => lvs_timeouts,
        lvs_sync_daemon: Option<LvsSyncDaemon> = "lvs_sync_daemon" => lvs_sync_daemon,
        /// Flush the LVS table at startup (default off).
        lvs_flush: bool = "lvs_flush" => flag,
        /// `lvs_flush_onstop [VS]`: `""` flushes everything, `VS` only keepalived's.
        lvs_flush_onstop: Option<String> = "lvs_flush_onstop" | "lvs_flush_on_stop" => opt_word,
        /// `dynamic_interfaces [allow_if_changes]` (`""` when bare).
        dynamic_interfaces: Option<String> = "dynamic_interfaces" => opt_word,
        /// `max_auto_priority [PRIO]` (`""` when bare: the maximum, 99).
        max_auto_priority: Option<String> = "max_auto_priority" => opt_word,
        min_auto_priority_delay: Option<u32> = "min_auto_priority_delay" => num,
        /// Default eth0.
        default_interface: Option<String> = "default_interface" => arg,
        /// Seconds (default 0).
        vrrp_startup_delay: Option<f64> = "vrrp_startup_delay" => num,
        vrrp_min_garp: Option<bool> = "vrrp_min_garp" => opt_bool,
        vrrp_netlink_cmd_rcv_bufs: Option<u32> = "vrrp_netlink_cmd_rcv_bufs" => num,
        vrrp_netlink_cmd_rcv_bufs_force: Option<bool> = "vrrp_netlink_cmd_rcv_bufs_force" => opt_bool,
        vrrp_netlink_monitor_rcv_bufs: Option<u32> = "vrrp_netlink_monitor_rcv_bufs" => num,
        vrrp_netlink_monitor_rcv_bufs_force: Option<bool> = "vrrp_netlink_monitor_rcv_bufs_force" => opt_bool,
        lvs_netlink_cmd_rcv_bufs: Option<u32> = "lvs_netlink_cmd_rcv_bufs" => num,
        lvs_netlink_cmd_rcv_bufs_force: Option<bool> = "lvs_netlink_cmd_rcv_bufs_force" => opt_bool,
        lvs_netlink_monitor_rcv_bufs: Option<u32> = "lvs_netlink_monitor_rcv_bufs" => num,
        lvs_netlink_monitor_rcv_bufs_force: Option<bool> = "lvs_netlink_monitor_rcv_bufs_force" => opt_bool,
        process_monitor_rcv_bufs: Option<u32> = "process_monitor_rcv_bufs" => num,
        process_monitor_rcv_bufs_force: Option<bool> = "process_monitor_rcv_bufs_force" => opt_bool,
        /// `MTU|ADVERT|SIZE`.
        vrrp_rx_bufs_policy: Option<Vec<String>> = "vrrp_rx_bufs_policy" => some_words,
        vrrp_rx_bufs_multiplier: Option<u32> = "vrrp_rx_bufs_multiplier" => num,
        notify_fifo_user: Option<Vec<String>> = "notify_fifo_user" => some_words,
        checker_log_all_failures: Option<bool> = "checker_log_all_failures" => opt_bool,
        /// `[all] SECS`.
        vrrp_garp_extra_if: Option<Vec<String>> = "vrrp_garp_extra_if" => some_words,
        vrrp_garp_extra_if_vmac: Option<Vec<String>> = "vrrp_garp_extra_if_vmac" => some_words,
        vrrp_symlink: Option<Vec<String>> = "vrrp_symlink" => some_words,
        /// `nftables [TABLE]` (`""` when bare: table keepalived).
        nftables: Option<String> = "nftables" => opt_word,
        nftables_priority: Option<i32> = "nftables_priority" => num,
        nftables_ifindex: Option<bool> = "nftables_ifindex" => opt_bool,
        nftables_counters: bool = "nftables_counters" => flag,
        nftables_ipvs: Option<String> = "nftables_ipvs" => opt_word,
        nftables_ipvs_priority: Option<Vec<String>> = "nftables_ipvs_priority" => some_words,
        nftables_ipvs_start_fwmark: Option<Vec<String>> = "nftables_ipvs_start_fwmark" => some_words,
        random_seed: Option<u64> = "random_seed" => num,
        data_use_instance: Option<bool> = "data_use_instance" => opt_bool,
        tmp_config_directory: Option<String> = "tmp_config_directory" => arg,
        umask: Option<String> = "umask" => arg,
        instance: Option<String> = "instance" => arg,
        net_namespace: Option<String> = "net_namespace" => arg,
        namespace_with_ipsets: bool = "namespace_with_ipsets" => flag,
        use_pid_dir: bool = "use_pid_dir" => flag,
        linkbeat_use_polling: bool = "linkbeat_use_polling" => flag,
        snmp_socket: Option<String> = "snmp_socket" => arg,
        enable_traps: bool = "enable_traps" => flag,
        enable_snmp_vrrp: bool = "enable_snmp_vrrp" => flag,
        enable_snmp_checker: bool = "enable_snmp_checker" => flag,
        enable_snmp_rfc: bool = "enable_snmp_rfc" => flag,
        enable_snmp_rfcv2: bool = "enable_snmp_rfcv2" => flag,
        enable_snmp_rfcv3: bool = "enable_snmp_rfcv3" => flag,
        enable_dbus: bool = "enable_dbus" => flag,
        dbus_service_name: Option<String> = "dbus_service_name" => arg,
        dbus_no_interface_name: Option<Vec<String>> = "dbus_no_interface_name" => some_words,
        /// CPU numbers.
        vrrp_cpu_affinity: Option<Vec<String>> = "vrrp_cpu_affinity" => some_words,
        checker_cpu_affinity: Option<Vec<String>> = "checker_cpu_affinity" => some_words,
        bfd_cpu_affinity: Option<Vec<String>> = "bfd_cpu_affinity" => some_words,
        bfd_priority: Option<i32> = "bfd_priority" => num,
        bfd_rt_priority: Option<u32> = "bfd_rt_priority" => num,
        bfd_no_swap: bool = "bfd_no_swap" => flag,
        bfd_rlimit_rttime: Option<u32> = "bfd_rlimit_rttime" => num,
        vrrp_rlimit_rttime: Option<u32> = "vrrp_rlimit_rttime" => num,
        checker_rlimit_rttime: Option<u32> = "checker_rlimit_rttime" => num,
        /// Enables process tracking (implied by any vrrp_track_process).
        vrrp_track_process: bool = "vrrp_track_process" => flag,
        fifo_write_vrrp_states_on_reload: bool = "fifo_write_vrrp_states_on_reload" => flag,
        reload_time_file: Option<String> = "reload_time_file" => arg,
        reload_repeat: bool = "reload_repeat" => flag,
        reload_file: Option<String> = "reload_file" => opt_word,
        config_save_dir: Option<String> = "config_save_dir" => arg,
        include_check: Option<Vec<String>> = "include_check" => some_words,
        vrrp_owner_ignore_adverts: bool = "vrrp_owner_ignore_adverts" => flag,
        vrrp_log_unknown_vrids: bool = "vrrp_log_unknown_vrids" | "log_unknown_vrids" => flag,
        vrrp_notify_priority_changes: Option<bool> = "vrrp_notify_priority_changes" => opt_bool,
        script_security: bool = "script_security" => flag,
        no_checker_emails: bool = "no_checker_emails" => flag,
        disable_local_igmp: bool = "disable_local_igmp" => flag,
        use_symlink_paths: Option<bool> = "use_symlink_paths" => opt_bool,
        /// Deprecated synonym of router_id.
        lvs_id: Option<String> = "lvs_id" => arg,
        /// Deprecated: `IF [VRRP_INSTANCE [SYNC_ID]]`.
        lvs_sync_daemon_interface: Option<Vec<String>> = "lvs_sync_daemon_interface" => some_words,
        checker_process_name: Option<String> = "checker_process_name" => arg,
        vrrp_process_name: Option<String> = "vrrp_process_name" => arg,
        bfd_process_name: Option<String> = "bfd_process_name" => arg,
        process_names: bool = "process_names" => flag,
        process_name: Option<String> = "process_name" => arg,
        startup_script: Option<String> = "startup_script" => line,
        /// Seconds (default 10).
        startup_script_timeout: Option<f64> = "startup_script_timeout" => num,
        shutdown_script: Option<String> = "shutdown_script" => line,
        /// Seconds (default 10).
        shutdown_script_timeout: Option<f64> = "shutdown_script_timeout" => num,
        json_version: Option<u8> = "json_version" => num,
        set_supplementary_groups: Option<bool> = "set_supplementary_groups" => opt_bool,
        no_email_faults: bool = "no_email_faults" => flag,
        /// `[MIN:]MAX` advert intervals.
        vrrp_down_timer_adverts: Option<Vec<String>> = "vrrp_down_timer_adverts" => some_words,
        v3_checksum_as_v2: Option<bool> = "v3_checksum_as_v2" => opt_bool,
        snmp_vs_stats_update_interval: Option<Vec<String>> = "snmp_vs_stats_update_interval" => some_words,
        snmp_rs_stats_update_interval: Option<Vec<String>> = "snmp_rs_stats_update_interval" => some_words,
        rs_init_notifies: bool = "rs_init_notifies" => flag,
        vrrp_delay_after_boot: Option<Vec<String>> = "vrrp_delay_after_boot" => some_words,
        vmac_prefix: Option<Vec<String>> = "vmac_prefix" => some_words,
        vmac_addr_prefix: Option<Vec<String>> = "vmac_addr_prefix" => some_words,
        reload_check_config: Option<String> = "reload_check_config" => opt_word,
        state_file_location: Option<Vec<String>> = "state_file_location" => some_words,
        stats_file_location: Option<Vec<String>> = "stats_file_location" => some_words,
        json_file_location: Option<Vec<String>> = "json_file_location" => some_words,
        iproute_usr_dir: Option<Vec<String>> = "iproute_usr_dir" => some_words,
        iproute_etc_dir: Option<Vec<String>> = "iproute_etc_dir" => some_words,
        other: Other,
    }
}

pub(crate) fn global(g: &mut GlobalDefs, n: &Node) {
    for k in n.children() {
        match k.name() {
            "notify_fifo" => fifo(&mut g.notify_fifo, k, false),
            "notify_fifo_script" => fifo(&mut g.notify_fifo, k, true),
            "vrrp_notify_fifo" => fifo(&mut g.vrrp_notify_fifo, k, false),
            "vrrp_notify_fifo_script" => fifo(&mut g.vrrp_notify_fifo, k, true),
            "lvs_notify_fifo" => fifo(&mut g.lvs_notify_fifo, k, false),
            "lvs_notify_fifo_script" => fifo(&mut g.lvs_notify_fifo, k, true),
            _ => {
                if !g.set(k) {
                    keep(&mut g.other, k)
                }
            }
        }
    }
}
