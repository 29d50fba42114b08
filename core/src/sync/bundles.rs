//! Pulling the agency's reference bundle (format and checks: [`crate::bundle`]): the signed
//! manifest is verified with the bundle key pinned at enrolment, a version older than (or a
//! different manifest for the same version as) the one held is refused, and only the components
//! whose SHA-256 changed are fetched, each checked against the manifest before it is kept.
//!
//! Verified components are kept in the store (`bundle_components`); reference files (`*.toml`) are
//! also written to `<data dir>/reference/`, where [`crate::rules::RuleBook::load`] (and the shells'
//! `RulesEngine.open(dataDir)`) lays them over the bundled data; `roster.json` replaces the roster
//! used for offline certificate checks; `witnesses.json` becomes the witness policy every later
//! sync checks the log's checkpoint against (`sync/witnesses.rs`).

use crate::bundle::{self, HeldBundle, HeldComponent, SignedManifest, Update};
use crate::error::{Result, RoadsideError};
use crate::store::sync::BundleComponent;
use crate::witness::POLICY_COMPONENT;

use super::{http, Session, SyncReport};

const HELD_KEY: &str = "bundle_held";

pub(super) async fn pull(s: &mut Session<'_>, report: &mut SyncReport) -> Result<()> {
    let Some(key_hex) = s.config.bundle_key.clone() else {
        return Ok(());
    };
    let key = bundle::parse_public_key(&key_hex)?;
    let held: Option<HeldBundle> = s
        .store
        .sync_value(HELD_KEY)?
        .and_then(|v| serde_json::from_str(&v).ok());
    let url = s.url("/api/v1/bundles/manifest");
    let token = s.config.token.clone();
    let (signed, _) = http::exchange(
        &s.retry,
        "读取参考数据包清单",
        || s.client.get(&url).bearer_auth(&token),
        |a| SignedManifest::from_envelope(&a.body),
    )
    .await?;
    let manifest = signed.verify(&key)?;
    let id = signed.id();
    if bundle::check_update(&manifest, &id, &s.config.agency, held.as_ref())? == Update::Unchanged {
        return Ok(());
    }
    let have: Vec<HeldComponent> = s
        .store
        .bundle_components()?
        .into_iter()
        .map(|c| HeldComponent {
            name: c.name,
            sha256: c.sha256,
        })
        .collect();
    let plan = bundle::plan_fetch(&manifest, &have);
    let mut fetched = Vec::with_capacity(plan.fetch.len());
    for c in &plan.fetch {
        let url = s.url(&bundle::component_path(c));
        let (bytes, _) = http::exchange(
            &s.retry,
            "下载参考数据组件",
            || s.client.get(&url).bearer_auth(&token),
            |a| Ok(a.body.clone()),
        )
        .await?;
        bundle::verify_component(&manifest, &c.name, &bytes)?;
        fetched.push(BundleComponent {
            name: c.name.clone(),
            version: c.version.to_string(),
            sha256: c.sha256.clone(),
            body: bytes,
        });
    }
    // The roster first (it is validated by parsing); then everything in one transaction.
    if let Some(r) = fetched.iter().find(|c| c.name == bundle::ROSTER) {
        let roster = bundle::parse_roster(&r.body)?;
        s.store.import_roster(&roster.officers)?;
    }
    let held = HeldBundle::of(&manifest, &id);
    let held_text = serde_json::to_string(&held)
        .map_err(|e| RoadsideError::internal("BUNDLE_ENCODE", e.to_string()))?;
    s.store.save_bundle(&held_text, &fetched)?;
    // The witness policy the new manifest lists (fetched now or held already), or none. Kept
    // before the bundle counts as held: a crash in between pulls the bundle again.
    let policy = match manifest.component(POLICY_COMPONENT) {
        None => None,
        Some(c) => match fetched.iter().find(|f| f.name == POLICY_COMPONENT) {
            Some(f) => Some(f.body.clone()),
            None => s
                .store
                .bundle_components()?
                .into_iter()
                .find(|h| h.name == POLICY_COMPONENT && h.sha256 == c.sha256)
                .map(|h| h.body),
        },
    };
    if manifest.component(POLICY_COMPONENT).is_some() && policy.is_none() {
        return Err(RoadsideError::rules(
            bundle::code::COMPONENT_MISSING,
            format!("数据包版本 {} 的见证策略未能取得", manifest.version),
        ));
    }
    super::witnesses::keep(s, policy.as_deref())?;
    s.store.set_sync_values(&[(HELD_KEY, Some(&held_text))])?;
    write_reference_files(s, &fetched)?;
    report.bundle_version = Some(manifest.version);
    report.bundle_components_fetched = fetched.len() as u64;
    Ok(())
}

/// Write the reference files next to the store, each atomically (temporary file, then rename).
fn write_reference_files(s: &Session<'_>, components: &[BundleComponent]) -> Result<()> {
    let Some(data_dir) = s.store.path().parent() else {
        return Ok(());
    };
    let dir = data_dir.join("reference");
    for c in components.iter().filter(|c| c.name.ends_with(".toml")) {
        let path = dir.join(&c.name);
        let io = |e: std::io::Error| {
            RoadsideError::rules(
                "BUNDLE_WRITE_FAILED",
                format!("无法保存参考数据文件 {}：{e}", path.display()),
            )
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let tmp = path.with_extension("toml.part");
        std::fs::write(&tmp, &c.body).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
    }
    Ok(())
}
