//! Benchmark and exemption tables imported from CSV: any bytes give a table or a reasoned refusal,
//! and an imported table is a reference file that parses as TOML, installed where its kind says.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use roadside_core::rules::tables::import_table_bytes;

fuzz_target!(|data: &[u8]| {
    roadside_fuzz::check_import(import_table_bytes(Path::new("table.csv"), data, "table"));
});
