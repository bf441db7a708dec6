//! Lexer, preprocessor, parser, schema check and validation on arbitrary text.
#![no_main]

use keepalived_config::{load_str, validate::HostChecks, LoadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut opts = LoadOptions::default();
    opts.preprocess.config_id = "fuzz".into();
    // Keep each run small: expansion bombs must be refused quickly, not run.
    opts.preprocess.max_lines = 10_000;
    opts.preprocess.max_files = 16;
    opts.preprocess.includes = false;
    opts.host = HostChecks {
        interfaces: false,
        users: false,
        scripts: false,
    };
    let loaded = load_str("fuzz.conf", text, &opts);
    // Rendering must never panic either (the first few: each costs a miette render).
    let r = keepalived_config::diag::Renderer {
        sources: &loaded.sources,
        color: false,
    };
    for d in loaded.diags.items.iter().take(5) {
        let _ = r.render(d);
    }
});
