//! The reference files compiled into the library, so the app works offline from first start.
//! Every file under the repository's `reference/` (except FORMAT.md) must be listed here; the test
//! `bundled_lists_every_reference_file` checks it.

/// `(path relative to reference/, text)`.
pub const FILES: &[(&str, &str)] = &[
    (
        "policy.toml",
        include_str!("../../../reference/policy.toml"),
    ),
    (
        "calendar.toml",
        include_str!("../../../reference/calendar.toml"),
    ),
    (
        "discretion/chaoxian.toml",
        include_str!("../../../reference/discretion/chaoxian.toml"),
    ),
    (
        "discretion/daoluyunshu.toml",
        include_str!("../../../reference/discretion/daoluyunshu.toml"),
    ),
    (
        "discretion/gonglu_baohu.toml",
        include_str!("../../../reference/discretion/gonglu_baohu.toml"),
    ),
    (
        "discretion/gonglufa.toml",
        include_str!("../../../reference/discretion/gonglufa.toml"),
    ),
    (
        "exemptions/national.toml",
        include_str!("../../../reference/exemptions/national.toml"),
    ),
    (
        "review/catalogue.toml",
        include_str!("../../../reference/review/catalogue.toml"),
    ),
];
