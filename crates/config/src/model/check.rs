//! Health checkers of real servers, and the top-level `SSL { … }` context.

use super::vrrp::fill;
use super::*;
use std::net::IpAddr;

/// The checker block keywords of a real_server.
pub(crate) const CHECKERS: &[&str] = &[
    "TCP_CHECK",
    "HTTP_GET",
    "SSL_GET",
    "MISC_CHECK",
    "DNS_CHECK",
    "SMTP_CHECK",
    "UDP_CHECK",
    "PING_CHECK",
    "FILE_CHECK",
    "BFD_CHECK",
];

/// `status_code 200-299 404 …` into inclusive ranges.
fn status_codes(k: &Node) -> Vec<(u16, u16)> {
    k.args
        .iter()
        .filter_map(|a| match a.text.split_once('-') {
            Some((lo, hi)) => Some((lo.parse().ok()?, hi.parse().ok()?)),
            None => a.text.parse().ok().map(|c| (c, c)),
        })
        .collect()
}

keyword_struct! {
    /// A `url { … }` of HTTP_GET / SSL_GET.
    #[derive(Debug, Clone, Default, Serialize)]
    pub struct Url {
        ;
        path: Option<String> = "path" => arg,
        /// MD5 of the body, hex.
        digest: Option<String> = "digest" => arg,
        /// As written.
        status_code: Option<String> = "status_code" => line,
        /// Inclusive ranges (default: 200-299).
        status_codes: Vec<(u16, u16)> = "status_code" => status_codes,
        /// Default: the checker's, real server's or virtual server's virtualhost.
        virtualhost: Option<String> = "virtualhost" => arg,
        regex: Option<String> = "regex" => line,
        /// Fail when the regex matches.
        regex_no_match: bool = "regex_no_match" => flag,
        regex_options: Option<Vec<String>> = "regex_options" => some_words,
        /// `regex_stack START MAX`.
        regex_stack: Option<Vec<String>> = "regex_stack" => some_words,
        regex_min_offset: Option<u32> = "regex_min_offset" => num,
        regex_max_offset: Option<u32> = "regex_max_offset" => num,
        other: Other,
    }
}

keyword_struct! {
    /// A health checker. One struct for every kind: the fields a kind does not
    /// take stay unset.
    #[derive(Debug, Clone, Serialize)]
    pub struct Checker {
        /// TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, …
        kind: String,
        ;
        urls: Vec<Url>,
        // Common connection options (not MISC_CHECK, FILE_CHECK, BFD_CHECK).
        /// Default: the real server's address.
        connect_ip: Option<IpAddr> = "connect_ip" => ip,
        /// Default: the real server's port.
        connect_port: Option<u16> = "connect_port" => num,
        bindto: Option<IpAddr> = "bindto" => ip,
        bind_port: Option<u16> = "bind_port" => num,
        bind_if: Option<String> = "bind_if" => arg,
        /// Seconds (default 5).
        connect_timeout: Option<f64> = "connect_timeout" => num,
        fwmark: Option<u32> = "fwmark" => num,
        /// `retry`/`nb_get_retry` (default 1; default 3 for HTTP_GET/SSL_GET).
        retry: Option<u32> = "retry" | "nb_get_retry" => num,
        /// Seconds (default 1; 3 for HTTP_GET/SSL_GET; delay_loop for DNS_CHECK).
        delay_before_retry: Option<f64> = "delay_before_retry" => num,
        /// Seconds (default: delay_loop).
        warmup: Option<f64> = "warmup" => num,
        /// Seconds (default: the real server's, else the virtual server's, else 60).
        delay_loop: Option<f64> = "delay_loop" => num,
        /// Default: the real server's alpha.
        alpha: Option<bool> = "alpha" => opt_bool,
        log_all_failures: Option<bool> = "log_all_failures" => opt_bool,
        // HTTP_GET / SSL_GET.
        virtualhost: Option<String> = "virtualhost" => arg,
        /// `1.0`, `1.0C`, `1.1` (default 1.0).
        http_protocol: Option<String> = "http_protocol" => line,
        enable_sni: Option<bool> = "enable_sni" => opt_bool,
        sni_name: Option<String> = "sni_name" => arg,
        fast_recovery: Option<bool> = "fast_recovery" => opt_bool,
        tls_compliant: Option<bool> = "tls_compliant" => opt_bool,
        // MISC_CHECK.
        misc_path: Option<String> = "misc_path" => line,
        /// Seconds (default: delay_loop).
        misc_timeout: Option<f64> = "misc_timeout" => num,
        /// Exit status 2..255 sets the weight to status - 2.
        misc_dynamic: bool = "misc_dynamic" => flag,
        /// `user USER [[:]GROUP]`, the words as written (default: global script_user).
        user: Option<Vec<String>> = "user" => some_words,
        // DNS_CHECK.
        /// Query type (default SOA).
        dns_type: Option<String> = "type" => arg,
        /// DNS_CHECK: query name (default `.`); BFD_CHECK: the bfd_instance.
        name: Option<String> = "name" => arg,
        // SMTP_CHECK.
        /// Default: global smtp_helo_name.
        helo_name: Option<String> = "helo_name" => arg,
        /// Deprecated `host { … }` sub-blocks, each a set of connection options.
        hosts: Vec<Checker>,
        // UDP_CHECK.
        /// Hex string to send.
        payload: Option<String> = "payload" => line,
        /// `require_reply [HEX]` (`""` when bare: any reply).
        require_reply: Option<String> = "require_reply" => line,
        /// Default 0.
        min_reply_length: Option<u32> = "min_reply_length" => num,
        /// Default 255.
        max_reply_length: Option<u32> = "max_reply_length" => num,
        // FILE_CHECK.
        track_file: Option<String> = "track_file" => arg,
        /// FILE_CHECK weight (default: the track_file's).
        weight: Option<i32> = "weight" => num,
        reverse: bool = "weight" => |k: &Node| weight_reverse(&words(k)).1,
        dynamic: bool = "dynamic" => flag,
        other: Other,
    }
}

pub(crate) fn checker(n: &Node) -> Checker {
    let mut c = Checker::blank(n.name().to_string());
    for k in n.children() {
        match k.name() {
            "url" => c.urls.push(fill!(Url::default(), k)),
            "host" => c.hosts.push(checker(k)),
            _ => {
                if !c.set(k) {
                    keep(&mut c.other, k)
                }
            }
        }
    }
    c
}

keyword_struct! {
    /// `SSL { … }`: client context for SSL_GET (default: no certificate checks).
    #[derive(Debug, Clone, Default, Serialize)]
    pub struct Ssl {
        ;
        password: Option<String> = "password" => arg,
        ca: Option<String> = "ca" => arg,
        certificate: Option<String> = "certificate" => arg,
        key: Option<String> = "key" => arg,
        other: Other,
    }
}
