//! Keyword tables, block by block, after keepalived.conf(5) and keepalived 2.2.7.

use super::{kw, Arg::*, BlockSchema, Keyword};

const STATES: &[&str] = &["MASTER", "BACKUP"];
const LB_ALGO: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf", "twos",
];
const LB_KIND: &[&str] = &["NAT", "DR", "TUN", "PMTUD"];

/// The top level of keepalived.conf.
pub static TOP: BlockSchema = BlockSchema {
    name: "",
    keywords: &[
        kw("global_defs", Flag).block(&GLOBAL_DEFS),
        kw("static_ipaddress", Flag).list(),
        kw("static_routes", Flag).list(),
        kw("static_rules", Flag).list(),
        kw("vrrp_script", Word).block(&VRRP_SCRIPT),
        kw("vrrp_track_file", Word).block(&VRRP_TRACK_FILE),
        kw("track_file", Word).block(&VRRP_TRACK_FILE),
        kw("vrrp_track_process", Word).block(&VRRP_TRACK_PROCESS),
        kw("vrrp_sync_group", Word).block(&VRRP_SYNC_GROUP),
        kw("vrrp_instance", Word).block(&VRRP_INSTANCE),
        kw("garp_group", Flag).block(&GARP_GROUP).not_yet(),
        kw("linkbeat_use_polling", Flag).not_yet(),
        kw("net_namespace", Word).not_yet(),
        kw("net_namespace_ipvs", OptWord).not_yet(),
        kw("instance", Word).not_yet(),
        kw("use_pid_dir", Flag).not_yet(),
        kw("child_wait_time", Int(0, 1 << 30)).not_yet(),
        kw("virtual_server_group", Word).list(),
        kw("virtual_server", Any).block(&VIRTUAL_SERVER),
        kw("bfd_instance", Word).block(&BFD_INSTANCE).not_yet(),
        kw("linkbeat_interfaces", Flag).list().not_yet(),
        kw("interface_up_down_delays", Flag).list().not_yet(),
        kw("track_group", Word).block(&TRACK_GROUP).not_yet(),
        kw("SSL", Flag).block(&SSL).not_yet(),
    ],
};

/// `global_defs { … }`.
pub static GLOBAL_DEFS: BlockSchema = BlockSchema {
    name: "global_defs",
    keywords: &[
        kw("notification_email", Flag).list(),
        kw("notification_email_from", Word),
        kw("smtp_server", Any),
        kw("smtp_helo_name", Word),
        kw("smtp_connect_timeout", Int(1, 1 << 30)),
        kw("smtp_alert", OptBool),
        kw("smtp_alert_vrrp", OptBool),
        kw("smtp_alert_checker", OptBool),
        kw("router_id", Word),
        kw("script_user", Any),
        kw("enable_script_security", Flag),
        kw("vrrp_skip_check_adv_addr", OptBool),
        kw("vrrp_strict", Flag),
        kw("vrrp_garp_interval", Timer(0.000001, 4294.967295)),
        kw("vrrp_gna_interval", Timer(0.000001, 4294.967295)),
        kw("vrrp_mcast_group4", Ip),
        kw("vrrp_mcast_group6", Ip),
        kw("vrrp_garp_master_delay", Int(0, 1 << 30)),
        kw("vrrp_garp_master_repeat", Int(0, 1 << 30)),
        kw("vrrp_garp_master_refresh", Int(0, 1 << 30)),
        kw("vrrp_garp_master_refresh_repeat", Int(0, 1 << 30)),
        kw("vrrp_garp_lower_prio_delay", Int(0, 1 << 30)),
        kw("vrrp_garp_lower_prio_repeat", Int(0, 1 << 30)),
        kw("vrrp_lower_prio_no_advert", OptBool),
        kw("vrrp_higher_prio_send_advert", OptBool),
        kw("vrrp_version", Int(2, 3)),
        kw("vrrp_check_unicast_src", Flag),
        kw("vrrp_iptables", Any).not_yet(),
        kw("vrrp_ipsets", Any).not_yet(),
        kw("vrrp_no_swap", Flag).not_yet(),
        kw("vrrp_priority", Int(-20, 19)).not_yet(),
        kw("checker_no_swap", Flag).not_yet(),
        kw("checker_priority", Int(-20, 19)).not_yet(),
        kw("vrrp_rt_priority", Int(1, 99)).not_yet(),
        kw("checker_rt_priority", Int(1, 99)).not_yet(),
        kw("notify_fifo", Any),
        kw("notify_fifo_script", Script),
        kw("vrrp_notify_fifo", Any),
        kw("vrrp_notify_fifo_script", Script),
        kw("lvs_notify_fifo", Any),
        kw("lvs_notify_fifo_script", Script),
        kw("lvs_timeouts", Any),
        kw("lvs_sync_daemon", Any),
        kw("lvs_flush", Flag),
        kw("lvs_flush_onstop", OptWord),
        kw("lvs_backend", Enum(&["auto", "ipvs", "nftables"])),
        kw("tcp_check_full_connect", Flag),
        kw("dynamic_interfaces", OptWord).not_yet(),
        kw("max_auto_priority", OptWord).not_yet(),
        kw("min_auto_priority_delay", Int(0, 1 << 30)).not_yet(),
        kw("default_interface", Interface),
        kw("vrrp_startup_delay", Timer(0.0, 1e9)),
        kw("vrrp_min_garp", OptBool),
        kw("vrrp_netlink_cmd_rcv_bufs", Int(0, 1 << 31)).not_yet(),
        kw("vrrp_netlink_cmd_rcv_bufs_force", OptBool).not_yet(),
        kw("vrrp_netlink_monitor_rcv_bufs", Int(0, 1 << 31)).not_yet(),
        kw("vrrp_netlink_monitor_rcv_bufs_force", OptBool).not_yet(),
        kw("lvs_netlink_cmd_rcv_bufs", Int(0, 1 << 31)).not_yet(),
        kw("lvs_netlink_cmd_rcv_bufs_force", OptBool).not_yet(),
        kw("lvs_netlink_monitor_rcv_bufs", Int(0, 1 << 31)).not_yet(),
        kw("lvs_netlink_monitor_rcv_bufs_force", OptBool).not_yet(),
        kw("process_monitor_rcv_bufs", Int(0, 1 << 31)).not_yet(),
        kw("process_monitor_rcv_bufs_force", OptBool).not_yet(),
        kw("vrrp_rx_bufs_policy", Any).not_yet(),
        kw("vrrp_rx_bufs_multiplier", Int(1, 1 << 20)).not_yet(),
        kw("notify_fifo_user", Any).not_yet(),
        kw("checker_log_all_failures", OptBool).not_yet(),
        kw("vrrp_garp_extra_if", Any).not_yet(),
        kw("vrrp_garp_extra_if_vmac", Any).not_yet(),
        kw("vrrp_symlink", Any).not_yet(),
        kw("nftables", OptWord).not_yet(),
        kw("nftables_priority", Int(-1 << 31, (1 << 31) - 1)).not_yet(),
        kw("nftables_ifindex", OptBool).not_yet(),
        kw("nftables_counters", Flag).not_yet(),
        kw("random_seed", Int(0, 1 << 32)).not_yet(),
        kw("data_use_instance", OptBool).not_yet(),
        kw("tmp_config_directory", Word).not_yet(),
        kw("umask", Word).not_yet(),
        kw("instance", Word).not_yet(),
        kw("net_namespace", Word).not_yet(),
        kw("namespace_with_ipsets", Flag).not_yet(),
        kw("use_pid_dir", Flag).not_yet(),
        kw("linkbeat_use_polling", Flag).not_yet(),
        kw("snmp_socket", Word).not_yet(),
        kw("enable_traps", Flag).not_yet(),
        kw("enable_snmp_vrrp", Flag).not_yet(),
        kw("enable_snmp_checker", Flag).not_yet(),
        kw("enable_snmp_rfc", Flag).not_yet(),
        kw("enable_snmp_rfcv2", Flag).not_yet(),
        kw("enable_snmp_rfcv3", Flag).not_yet(),
        kw("enable_dbus", Flag).not_yet(),
        kw("dbus_service_name", Word).not_yet(),
        kw("vrrp_cpu_affinity", Any).not_yet(),
        kw("checker_cpu_affinity", Any).not_yet(),
        kw("bfd_cpu_affinity", Any).not_yet(),
        kw("bfd_priority", Int(-20, 19)).not_yet(),
        kw("bfd_rt_priority", Int(1, 99)).not_yet(),
        kw("bfd_no_swap", Flag).not_yet(),
        kw("bfd_rlimit_rttime", Int(0, 1 << 31)).not_yet(),
        kw("vrrp_rlimit_rttime", Int(0, 1 << 31)).not_yet(),
        kw("checker_rlimit_rttime", Int(0, 1 << 31)).not_yet(),
        kw("vrrp_track_process", Flag),
        kw("fifo_write_vrrp_states_on_reload", Flag).not_yet(),
        kw("reload_time_file", Word).not_yet(),
        kw("reload_repeat", Flag).not_yet(),
        kw("reload_file", OptWord).not_yet(),
        kw("config_save_dir", Word).not_yet(),
        kw("include_check", Any).not_yet(),
        kw("vrrp_owner_ignore_adverts", Flag).not_yet(),
        kw("vrrp_log_unknown_vrids", Flag).not_yet(),
        kw("vrrp_notify_priority_changes", OptBool).not_yet(),
        kw("script_security", Flag).not_yet(),
        kw("no_checker_emails", Flag).not_yet(),
        kw("log_unknown_vrids", Flag).not_yet(),
        kw("disable_local_igmp", Flag).not_yet(),
        kw("use_symlink_paths", OptBool).not_yet(),
        kw("lvs_id", Word).deprecated("router_id"),
        kw("lvs_sync_daemon_interface", Any).deprecated("lvs_sync_daemon"),
        kw("checker_process_name", Word).not_yet(),
        kw("vrrp_process_name", Word).not_yet(),
        kw("bfd_process_name", Word).not_yet(),
        kw("process_names", Flag).not_yet(),
        kw("process_name", Word).not_yet(),
        kw("startup_script", Script).not_yet(),
        kw("startup_script_timeout", Int(1, 1000)).not_yet(),
        kw("shutdown_script", Script).not_yet(),
        kw("shutdown_script_timeout", Int(1, 1000)).not_yet(),
        kw("json_version", Int(1, 2)).not_yet(),
        kw("metrics_listen", Any),
        kw("set_supplementary_groups", OptBool).not_yet(),
        kw("no_email_faults", Flag).not_yet(),
        kw("lvs_flush_on_stop", OptWord).not_yet(),
        kw("vrrp_down_timer_adverts", Any).not_yet(),
        kw("v3_checksum_as_v2", OptBool).not_yet(),
        kw("nftables_ipvs", OptWord).not_yet(),
        kw("nftables_ipvs_priority", Any).not_yet(),
        kw("nftables_ipvs_start_fwmark", Any).not_yet(),
        kw("snmp_vs_stats_update_interval", Any).not_yet(),
        kw("snmp_rs_stats_update_interval", Any).not_yet(),
        kw("dbus_no_interface_name", Any).not_yet(),
        kw("rs_init_notifies", Flag).not_yet(),
        kw("vrrp_delay_after_boot", Any).not_yet(),
        kw("vmac_prefix", Any).not_yet(),
        kw("vmac_addr_prefix", Any).not_yet(),
        kw("reload_check_config", OptWord).not_yet(),
        kw("state_file_location", Any).not_yet(),
        kw("stats_file_location", Any).not_yet(),
        kw("json_file_location", Any).not_yet(),
        kw("iproute_usr_dir", Any).not_yet(),
        kw("iproute_etc_dir", Any).not_yet(),
    ],
};

pub static VRRP_SCRIPT: BlockSchema = BlockSchema {
    name: "vrrp_script",
    keywords: &[
        kw("script", Script),
        kw("interval", Timer(0.000001, 4294.967295)),
        kw("timeout", Timer(0.000001, 4294.967295)),
        kw("weight", Any),
        kw("rise", Int(1, 1 << 31)),
        kw("fall", Int(1, 1 << 31)),
        kw("user", Any),
        kw("init_fail", Flag),
    ],
};

pub static VRRP_TRACK_FILE: BlockSchema = BlockSchema {
    name: "vrrp_track_file",
    keywords: &[kw("file", Word), kw("weight", Any), kw("init_file", Any)],
};

pub static VRRP_TRACK_PROCESS: BlockSchema = BlockSchema {
    name: "vrrp_track_process",
    keywords: &[
        kw("process", Any),
        kw("param_match", Enum(&["initial", "partial"])),
        kw("weight", Any),
        kw("quorum", Int(1, 1 << 31)),
        kw("quorum_max", Int(1, 1 << 31)),
        kw("fork_delay", Timer(0.0, 1e9)),
        kw("terminate_delay", Timer(0.0, 1e9)),
        kw("delay", Timer(0.0, 1e9)),
        kw("full_command", Flag),
    ],
};

const SYNC_AND_INSTANCE_NOTIFY: [Keyword; 8] = [
    kw("notify_master", Script),
    kw("notify_backup", Script),
    kw("notify_fault", Script),
    kw("notify_stop", Script),
    kw("notify_deleted", Any),
    kw("notify", Script),
    kw("smtp_alert", OptBool),
    kw("notify_master_rx_lower_pri", Script),
];

pub static VRRP_SYNC_GROUP: BlockSchema = BlockSchema {
    name: "vrrp_sync_group",
    keywords: &[
        kw("group", Flag).list(),
        kw("track_interface", Flag).list(),
        kw("track_script", Flag).list(),
        kw("track_file", Flag).list(),
        kw("track_process", Flag).list(),
        kw("track_bfd", Flag).list().not_yet(),
        SYNC_AND_INSTANCE_NOTIFY[0],
        SYNC_AND_INSTANCE_NOTIFY[1],
        SYNC_AND_INSTANCE_NOTIFY[2],
        SYNC_AND_INSTANCE_NOTIFY[3],
        SYNC_AND_INSTANCE_NOTIFY[5],
        SYNC_AND_INSTANCE_NOTIFY[6],
        kw("global_tracking", Flag).deprecated("sync_group_tracking_weight"),
        kw("sync_group_tracking_weight", Flag),
        kw("notify_deleted", Any).not_yet(),
        kw("notify_priority_changes", OptBool).not_yet(),
    ],
};

pub static VRRP_INSTANCE: BlockSchema = BlockSchema {
    name: "vrrp_instance",
    keywords: &[
        kw("state", Enum(STATES)),
        kw("interface", Interface),
        kw("virtual_router_id", Int(1, 255)),
        kw("priority", Int(1, 255)),
        kw("advert_int", Timer(0.01, 255.0)),
        kw("version", Int(2, 3)),
        kw("nopreempt", Flag),
        kw("preempt", Flag).deprecated("preemption is the default"),
        kw("lvs_sync_daemon_interface", Interface).deprecated("global_defs lvs_sync_daemon"),
        kw("preempt_delay", Timer(0.0, 1000.0)),
        kw("authentication", Flag).block(&AUTHENTICATION),
        kw("virtual_ipaddress", Flag).list(),
        kw("virtual_ipaddress_excluded", Flag).list(),
        kw("virtual_routes", Flag).list(),
        kw("virtual_rules", Flag).list(),
        kw("track_interface", Flag).list(),
        kw("track_script", Flag).list(),
        kw("track_file", Flag).list(),
        kw("track_process", Flag).list(),
        kw("track_bfd", Flag).list().not_yet(),
        kw("unicast_peer", Flag).list(),
        kw("unicast_src_ip", Ip),
        kw("unicast_ttl", Int(0, 255)),
        kw("unicast_fault_no_peer", Flag),
        kw("mcast_src_ip", Ip),
        kw("use_vmac", OptWord),
        kw("vmac_xmit_base", Flag),
        kw("native_ipv6", Flag),
        kw("dont_track_primary", Flag),
        kw("track_primary_interface", Flag),
        kw("skip_check_adv_addr", OptBool),
        kw("check_unicast_src", Flag),
        kw("strict_mode", OptBool),
        kw("accept", Flag),
        kw("no_accept", Flag),
        kw("garp_master_delay", Int(0, 1 << 30)),
        kw("garp_master_repeat", Int(0, 1 << 30)),
        kw("garp_master_refresh", Int(0, 1 << 30)),
        kw("garp_master_refresh_repeat", Int(0, 1 << 30)),
        kw("garp_lower_prio_delay", Int(0, 1 << 30)),
        kw("garp_lower_prio_repeat", Int(0, 1 << 30)),
        kw("lower_prio_no_advert", OptBool),
        kw("higher_prio_send_advert", OptBool),
        kw("old_unicast_checksum", OptWord),
        kw("kernel_rx_buf_size", Int(0, 1 << 31)).not_yet(),
        kw("debug", OptWord).not_yet(),
        kw("linkbeat_use_polling", Flag).not_yet(),
        kw("notify_master", Script),
        kw("notify_backup", Script),
        kw("notify_fault", Script),
        kw("notify_stop", Script),
        kw("notify_deleted", Any),
        kw("notify", Script),
        kw("notify_master_rx_lower_pri", Script),
        kw("smtp_alert", OptBool),
        kw("ipsets", Any).not_yet(),
        kw("iptable", Any).not_yet(),
        kw("evip_other_family", Flag).not_yet(),
        kw("vrrp_iptables", Any).not_yet(),
        kw("notify_priority_changes", OptBool).not_yet(),
        kw("owner_ignore_adverts", Flag).not_yet(),
        kw("mcast_dst_ip", Ip).not_yet(),
        kw("vrf", Any).not_yet(),
        kw("use_vmac_addr", Flag).not_yet(),
        kw("use_ipvlan", Any).not_yet(),
        kw("track_src_ip", Flag).not_yet(),
        kw("v3_checksum_as_v2", OptBool).not_yet(),
        kw("garp_extra_if", Any).not_yet(),
        kw("garp_extra_if_vmac", Any).not_yet(),
        kw("down_timer_adverts", Any).not_yet(),
        kw("timer_expired_backup", Any).not_yet(),
        kw("auth_hmac", Flag).block(&AUTH_HMAC).not_yet(),
        kw("no_virtual_ipaddress", Flag).not_yet(),
        kw("promote_secondaries", Flag).not_yet(),
    ],
};

pub static AUTHENTICATION: BlockSchema = BlockSchema {
    name: "authentication",
    keywords: &[
        kw("auth_type", Enum(&["PASS", "AH"])),
        kw("auth_pass", Word),
    ],
};

/// `auth_hmac { … }` inside a vrrp_instance.
pub static AUTH_HMAC: BlockSchema = BlockSchema {
    name: "auth_hmac",
    keywords: &[
        kw("key", Any).not_yet(),
        kw("active_key", Any).not_yet(),
        kw("anti_replay", Any).not_yet(),
        kw("time_window", Any).not_yet(),
        kw("mode", Any).not_yet(),
    ],
};

/// `track_group NAME { group { … } }` at the top level.
pub static TRACK_GROUP: BlockSchema = BlockSchema {
    name: "track_group",
    keywords: &[kw("group", Flag).list().not_yet()],
};

/// `SSL { … }` at the top level: the SSL_GET context.
pub static SSL: BlockSchema = BlockSchema {
    name: "SSL",
    keywords: &[
        kw("password", Any).not_yet(),
        kw("ca", Any).not_yet(),
        kw("certificate", Any).not_yet(),
        kw("key", Any).not_yet(),
    ],
};

pub static GARP_GROUP: BlockSchema = BlockSchema {
    name: "garp_group",
    keywords: &[
        kw("garp_interval", Timer(0.0, 1e9)),
        kw("gna_interval", Timer(0.0, 1e9)),
        kw("interface", Interface),
        kw("interfaces", Flag).list(),
    ],
};

pub static VIRTUAL_SERVER: BlockSchema = BlockSchema {
    name: "virtual_server",
    keywords: &[
        kw("delay_loop", Timer(0.000001, 1e9)),
        kw("lb_algo", Enum(LB_ALGO)),
        kw("lvs_sched", Enum(LB_ALGO)),
        kw("lb_kind", Enum(LB_KIND)),
        kw("lvs_method", Words),
        kw("protocol", Any),
        kw("persistence_timeout", OptInt(1, 2678400)),
        kw("persistence_granularity", Word),
        kw("persistence_engine", Word),
        kw("virtualhost", Word),
        kw("sorry_server", Any),
        kw("sorry_server_inhibit", OptBool),
        kw("sorry_server_lvs_method", Enum(LB_KIND)),
        kw("real_server", Any).block(&REAL_SERVER),
        kw("quorum", Int(1, 1 << 31)),
        kw("quorum_up", Script),
        kw("quorum_down", Script),
        kw("hysteresis", Int(0, 1 << 31)),
        kw("alpha", OptBool),
        kw("omega", OptBool),
        kw("inhibit_on_failure", OptBool),
        kw("ha_suspend", Flag),
        kw("ops", Flag),
        kw("one_packet_scheduler", Flag),
        kw("retry", Int(0, 1 << 31)),
        kw("delay_before_retry", Timer(0.0, 1e9)),
        kw("warmup", Timer(0.0, 1e9)),
        kw("connect_timeout", Timer(0.0, 1e9)),
        kw("smtp_alert", OptBool),
        kw("flag-1", Flag),
        kw("flag-2", Flag),
        kw("flag-3", Flag),
        kw("sh-port", Flag),
        kw("sh-fallback", Flag),
        kw("mh-port", Flag),
        kw("mh-fallback", Flag),
        kw("ip_family", Enum(&["inet", "inet6"])),
        kw("quorum_up_delay", Timer(0.0, 1e9)).not_yet(),
        kw("lvs_timeouts", Any),
        kw("snmp_name", Any).not_yet(),
    ],
};

/// Keywords every checker block shares.
macro_rules! checker_common {
    ($($extra:expr),* $(,)?) => {
        &[
            kw("connect_ip", Ip),
            kw("connect_port", Port),
            kw("bindto", Ip),
            kw("bind_port", Port),
            kw("bind_if", Interface),
            kw("connect_timeout", Timer(0.0, 1e9)),
            kw("fwmark", Int(0, 1 << 32)),
            kw("retry", Int(0, 1 << 31)),
            kw("nb_get_retry", Int(0, 1 << 31)).deprecated("retry"),
            kw("delay_before_retry", Timer(0.0, 1e9)),
            kw("warmup", Timer(0.0, 1e9)),
            kw("delay_loop", Timer(0.000001, 1e9)),
            kw("alpha", OptBool),
            kw("log_all_failures", OptBool),
            $($extra),*
        ]
    };
}

pub static REAL_SERVER: BlockSchema = BlockSchema {
    name: "real_server",
    keywords: &[
        kw("weight", Int(0, 65535)),
        kw("lvs_method", Enum(LB_KIND)),
        kw("notify_up", Script),
        kw("notify_down", Script),
        kw("inhibit_on_failure", OptBool),
        kw("uthreshold", Int(0, 1 << 31)),
        kw("lthreshold", Int(0, 1 << 31)),
        kw("alpha", OptBool),
        kw("retry", Int(0, 1 << 31)),
        kw("delay_before_retry", Timer(0.0, 1e9)),
        kw("warmup", Timer(0.0, 1e9)),
        kw("delay_loop", Timer(0.000001, 1e9)),
        kw("connect_timeout", Timer(0.0, 1e9)),
        kw("smtp_alert", OptBool),
        kw("virtualhost", Word),
        kw("TCP_CHECK", Flag).block(&TCP_CHECK),
        kw("HTTP_GET", Flag).block(&HTTP_GET),
        kw("SSL_GET", Flag).block(&SSL_GET),
        kw("MISC_CHECK", Flag).block(&MISC_CHECK),
        kw("DNS_CHECK", Flag).block(&DNS_CHECK),
        kw("SMTP_CHECK", Flag).block(&SMTP_CHECK),
        kw("UDP_CHECK", Flag).block(&UDP_CHECK),
        kw("PING_CHECK", Flag).block(&PING_CHECK),
        kw("FILE_CHECK", Flag).block(&FILE_CHECK),
        kw("BFD_CHECK", Flag).block(&BFD_CHECK).not_yet(),
        kw("snmp_name", Any).not_yet(),
    ],
};

pub static TCP_CHECK: BlockSchema = BlockSchema {
    name: "TCP_CHECK",
    keywords: checker_common!(),
};

pub static HTTP_GET: BlockSchema = BlockSchema {
    name: "HTTP_GET",
    keywords: checker_common!(
        kw("url", Flag).block(&URL),
        kw("virtualhost", Word),
        kw("http_protocol", Any),
        kw("enable_sni", OptBool),
        kw("fast_recovery", OptBool),
        kw("tls_compliant", OptBool),
        kw("sni_name", Any).not_yet(),
    ),
};

pub static SSL_GET: BlockSchema = BlockSchema {
    name: "SSL_GET",
    keywords: HTTP_GET.keywords,
};

pub static URL: BlockSchema = BlockSchema {
    name: "url",
    keywords: &[
        kw("path", Word),
        kw("digest", Word),
        kw("status_code", Any),
        kw("virtualhost", Word),
        kw("regex", Script),
        kw("regex_no_match", Flag),
        kw("regex_options", Any),
        kw("regex_stack", Any),
        kw("regex_min_offset", Int(0, 1 << 31)),
        kw("regex_max_offset", Int(0, 1 << 31)),
    ],
};

pub static MISC_CHECK: BlockSchema = BlockSchema {
    name: "MISC_CHECK",
    keywords: checker_common!(
        kw("misc_path", Script),
        kw("misc_timeout", Int(1, 1 << 31)),
        kw("misc_dynamic", Flag),
        kw("user", Any),
    ),
};

pub static DNS_CHECK: BlockSchema = BlockSchema {
    name: "DNS_CHECK",
    keywords: checker_common!(
        kw(
            "type",
            Enum(&["A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"])
        ),
        kw("name", Word),
    ),
};

pub static SMTP_CHECK: BlockSchema = BlockSchema {
    name: "SMTP_CHECK",
    keywords: checker_common!(
        kw("helo_name", Word),
        kw("host", Flag)
            .block(&TCP_CHECK)
            .deprecated("connect_ip / connect_port"),
    ),
};

pub static UDP_CHECK: BlockSchema = BlockSchema {
    name: "UDP_CHECK",
    keywords: checker_common!(
        kw("payload", Any),
        kw("require_reply", Any),
        kw("min_reply_length", Int(0, 65535)),
        kw("max_reply_length", Int(0, 65535)),
    ),
};

pub static PING_CHECK: BlockSchema = BlockSchema {
    name: "PING_CHECK",
    keywords: checker_common!(),
};

pub static FILE_CHECK: BlockSchema = BlockSchema {
    name: "FILE_CHECK",
    keywords: &[
        kw("track_file", Word),
        kw("weight", Any),
        kw("dynamic", Flag).not_yet(),
    ],
};

pub static BFD_CHECK: BlockSchema = BlockSchema {
    name: "BFD_CHECK",
    keywords: &[kw("name", Word), kw("alpha", OptBool)],
};

pub static BFD_INSTANCE: BlockSchema = BlockSchema {
    name: "bfd_instance",
    keywords: &[
        kw("neighbor_ip", Ip),
        kw("source_ip", Ip),
        kw("min_rx", Int(1, 1 << 31)),
        kw("min_tx", Int(1, 1 << 31)),
        kw("idle_tx", Int(1, 1 << 31)),
        kw("multiplier", Int(1, 255)),
        kw("passive", Flag),
        kw("ttl", Int(1, 255)),
        kw("hoplimit", Int(1, 255)),
        kw("max_hops", Int(1, 255)),
        kw("weight", Any),
        kw("neighbour_ip", Ip).not_yet(),
        kw("multihop", OptBool).not_yet(),
        kw("vrrp", Flag).not_yet(),
        kw("checker", Flag).not_yet(),
    ],
};
