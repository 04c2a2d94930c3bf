//! The compose loader on arbitrary input: never a panic, never a hang, and what `config` prints
//! loads again to the same output.
//!
//! The input is a compose file, optionally followed by a NUL byte and a `.env` file whose
//! variables the compose file is interpolated with. Run it with `compose/fuzz/run.sh SECONDS`.
#![no_main]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (compose_bytes, env_bytes) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(compose_bytes) else { return };
    let env_text = String::from_utf8_lossy(env_bytes);

    // The pieces on their own.
    let _ = compose::yaml::parse(text, &Arc::from("fuzz.yaml"));
    let mut environment = BTreeMap::new();
    if let Ok(pairs) = compose::dotenv::parse(&env_text, Path::new(".env"), &|_| None) {
        environment.extend(pairs);
    }

    // The whole loader, the file read from "stdin" in a directory that does not exist, so that
    // relative `env_file`, `extends` and `include` paths find nothing.
    let opts = |stdin: String, interpolate: bool| compose::LoadOptions {
        files: vec![PathBuf::from("-")],
        working_dir: PathBuf::from("/nonexistent/berth-fuzz"),
        environment: environment.clone(),
        interpolate,
        stdin: Some(stdin),
        ..compose::LoadOptions::default()
    };
    let _ = compose::load(&opts(text.to_string(), false));
    let Ok(project) = compose::load(&opts(text.to_string(), true)) else { return };
    let yaml = compose::emit::yaml(&project, true);
    let _ = compose::emit::json(&project, true);
    for s in project.services.values() {
        let _ = compose::hash::service_hash(s);
    }

    // Round trip: the printed project loads again and prints the same.
    let again = match compose::load(&opts(yaml.clone(), true)) {
        Ok(p) => p,
        Err(e) => panic!("config output does not load again: {e}\n--- input\n{text}\n--- output\n{yaml}"),
    };
    let yaml2 = compose::emit::yaml(&again, true);
    assert_eq!(yaml, yaml2, "config output is not stable\n--- input\n{text}");
});
