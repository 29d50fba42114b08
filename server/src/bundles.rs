//! Reference bundles (the pull half of sync): per agency, the reference files and the officer
//! roster as one versioned manifest signed with the agency's key; the format is
//! `roadside_core::bundle`.
//!
//! - **Reference files**: the ones compiled into the core (`reference/`), with any files placed in
//!   `<data-dir>/reference/` (same layout, e.g. `discretion/chaoxian.toml`) laid over them. The
//!   whole set is validated at start; an invalid set stops the server with every problem named.
//! - **Roster**: the agency's officers with certificate status, from the database.
//! - **Witness policy** (`witnesses.json`, when witnesses are configured): how many of which
//!   witnesses devices require on the log's checkpoints (`crate::witness`).
//! - **Agency key**: one Ed25519 key per agency, generated before the agency's first bundle and kept
//!   in the key directory (`crate::keys`: file `bundle-<agency>.key`, its public half recorded in
//!   the database, so every replica provisioned with the key files signs with the same key). Devices
//!   pin its public half at enrolment (`bundle_key` of the enrolment answer). It is a different key
//!   from the transparency log's, and the signed message is domain separated.
//! - **Versions**: [`Bundler::current`] compares what would be published with the newest stored
//!   manifest; only when a component's content differs does it sign and store version + 1, in one
//!   transaction that refuses a version that is not exactly the next one (two replicas racing: one
//!   wins, the other re-reads). It runs at start for every agency, after every roster change, and
//!   on every manifest request (so a failed hook can never leave a stale bundle served).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use axum::extract::FromRef;
use chrono::Utc;
use ed25519_dalek::SigningKey;
use roadside_core::bundle::{self, Manifest, ROSTER};
use roadside_core::rules::RuleBook;
use roadside_core::witness::{WitnessPolicy, POLICY_COMPONENT};

use crate::error::{ApiError, Result};
use crate::keys::KeyDir;
use crate::storage::{DynStorage, StoredBundle};

/// A published bundle version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub agency: String,
    pub version: u64,
    /// Canonical manifest bytes.
    pub manifest: Vec<u8>,
    pub signature: [u8; 64],
    /// `roadside_core::bundle::manifest_id` of the manifest (the ETag).
    pub id: String,
}

impl Published {
    fn of(b: &StoredBundle) -> Result<Self> {
        let signature: [u8; 64] = b
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| ApiError::storage("stored bundle signature is not 64 bytes"))?;
        Ok(Published {
            agency: b.agency.clone(),
            version: b.version,
            id: bundle::manifest_id(&b.manifest),
            manifest: b.manifest.clone(),
            signature,
        })
    }

    /// The HTTP envelope `{"manifest": base64, "signature": base64}`.
    pub fn envelope(&self) -> Vec<u8> {
        bundle::SignedManifest {
            bytes: self.manifest.clone(),
            signature: self.signature,
        }
        .to_envelope()
    }
}

/// Builds, signs and stores the agencies' bundles.
pub struct Bundler {
    /// Reference files (name → bytes), validated.
    reference: BTreeMap<String, Vec<u8>>,
    /// Their hashes.
    reference_hashes: BTreeMap<String, String>,
    /// The rule books of the reference files published now and in every stored bundle, by
    /// digest (`RuleBook::reference_digest`): what a pushed decision is re-checked with
    /// (`crate::ingest::check_step`).
    books: RwLock<Arc<HashMap<String, Arc<RuleBook>>>>,
    /// Where the agency keys live.
    key_dir: Arc<KeyDir>,
    /// Agency keys read so far.
    keys: Mutex<HashMap<String, SigningKey>>,
    /// The witness policy component (`witnesses.json`), published in every agency's bundle when
    /// witnesses are configured (`crate::witness`).
    witness_policy: Option<Vec<u8>>,
}

impl std::fmt::Debug for Bundler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundler")
            .field("reference", &self.reference_hashes)
            .finish_non_exhaustive()
    }
}

impl Bundler {
    /// The compiled-in reference files with `<data_dir>/reference/` laid over them, validated as one
    /// rule set; agency keys in `key_dir`.
    pub fn new(data_dir: &Path, key_dir: Arc<KeyDir>) -> Result<Self> {
        let book = RuleBook::load(data_dir).map_err(|e| {
            let mut detail = e.message().to_string();
            for i in e.issues().iter().skip(1) {
                detail.push_str(&format!("；{}：{}", i.path, i.message));
            }
            ApiError::internal(
                "REFERENCE_INVALID",
                format!(
                    "参考数据（{}/reference）无效，无法发布数据包：{detail}",
                    data_dir.display()
                ),
            )
        })?;
        Ok(Self::from_book(book, key_dir))
    }

    /// From reference files (validated here as one rule set); agency keys in `key_dir`.
    pub fn from_files(reference: BTreeMap<String, Vec<u8>>, key_dir: Arc<KeyDir>) -> Result<Self> {
        let mut texts = BTreeMap::new();
        for (name, bytes) in reference {
            let text = String::from_utf8(bytes).map_err(|_| {
                ApiError::internal(
                    "REFERENCE_INVALID",
                    format!("参考数据文件 {name} 不是 UTF-8 文本"),
                )
            })?;
            texts.insert(name, text);
        }
        let book = RuleBook::from_files(texts).map_err(|e| {
            ApiError::internal(
                "REFERENCE_INVALID",
                format!("参考数据无效，无法发布数据包：{}", e.message()),
            )
        })?;
        Ok(Self::from_book(book, key_dir))
    }

    /// From a validated rule book: its files are what is published.
    fn from_book(book: RuleBook, key_dir: Arc<KeyDir>) -> Self {
        let reference: BTreeMap<String, Vec<u8>> = book
            .texts()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
            .collect();
        let reference_hashes = reference
            .iter()
            .map(|(k, v)| (k.clone(), bundle::sha256_hex(v)))
            .collect();
        let books = HashMap::from([(book.reference_digest(), Arc::new(book))]);
        Bundler {
            reference,
            reference_hashes,
            books: RwLock::new(Arc::new(books)),
            key_dir,
            keys: Mutex::new(HashMap::new()),
            witness_policy: None,
        }
    }

    /// Publish this witness policy in every agency's bundle (none: no policy component).
    pub fn with_witness_policy(mut self, policy: Option<&WitnessPolicy>) -> Result<Self> {
        self.witness_policy = policy.map(WitnessPolicy::to_component).transpose()?;
        Ok(self)
    }

    /// The reference data this server publishes or published, by digest: the sets a pushed
    /// decision may name (the current one, and those of the stored bundles once
    /// [`Bundler::load_published`] has run).
    pub fn reference_books(&self) -> Arc<HashMap<String, Arc<RuleBook>>> {
        match self.books.read() {
            Ok(b) => b.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Add the reference sets of every stored bundle of every agency to
    /// [`Bundler::reference_books`], so a decision made offline with the reference data of an
    /// earlier version is still re-checked with that data (at start, after `publish_all`). Each
    /// distinct set of files is read once. A stored set this program cannot load (a component
    /// missing, files that no longer validate) is logged and left out: decisions naming it are
    /// refused (`DECISION_REFERENCE_UNKNOWN`).
    pub async fn load_published(&self, storage: &DynStorage) -> Result<()> {
        let mut seen: BTreeSet<Vec<(String, String)>> = BTreeSet::new();
        let mut found: Vec<(String, RuleBook)> = Vec::new();
        for agency in storage.agencies().await? {
            for stored in storage.bundles(&agency.code).await? {
                let manifest = stored_manifest(&stored)?;
                let files: Vec<(String, String)> = manifest
                    .components
                    .iter()
                    .filter(|c| c.name != ROSTER && c.name != POLICY_COMPONENT)
                    .map(|c| (c.name.clone(), c.sha256.clone()))
                    .collect();
                if files.is_empty() || !seen.insert(files.clone()) {
                    continue;
                }
                let mut texts = BTreeMap::new();
                for (name, sha256) in &files {
                    match storage.bundle_component(&agency.code, name, sha256).await? {
                        Some(bytes) => {
                            texts
                                .insert(name.clone(), String::from_utf8_lossy(&bytes).into_owned());
                        }
                        None => {
                            tracing::warn!(
                                agency = %agency.code,
                                version = stored.version,
                                component = %name,
                                "a stored bundle names a component that is not stored; its reference data is left out"
                            );
                            break;
                        }
                    }
                }
                if texts.len() != files.len() {
                    continue;
                }
                match RuleBook::from_files(texts) {
                    Ok(book) => found.push((book.reference_digest(), book)),
                    Err(e) => tracing::warn!(
                        agency = %agency.code,
                        version = stored.version,
                        detail = %e.message(),
                        "reference data of a stored bundle cannot be loaded; decisions naming it are refused"
                    ),
                }
            }
        }
        let mut books = match self.books.write() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut all = HashMap::clone(&books);
        for (digest, book) in found {
            all.entry(digest).or_insert_with(|| Arc::new(book));
        }
        *books = Arc::new(all);
        Ok(())
    }

    /// The agency's bundle signing key (see `crate::keys::bundle_key`: made before its first bundle).
    pub async fn key(&self, storage: &DynStorage, agency: &str) -> Result<SigningKey> {
        if let Some(k) = self.keys.lock().map_err(poisoned)?.get(agency) {
            return Ok(k.clone());
        }
        let key = crate::keys::bundle_key(storage, &self.key_dir, agency).await?;
        self.keys
            .lock()
            .map_err(poisoned)?
            .insert(agency.to_string(), key.clone());
        Ok(key)
    }

    /// The public key devices of `agency` pin: 64 lowercase hex.
    pub async fn public_key_hex(&self, storage: &DynStorage, agency: &str) -> Result<String> {
        Ok(hex::encode(
            self.key(storage, agency).await?.verifying_key().as_bytes(),
        ))
    }

    /// The agency's current bundle: the newest stored one if its content is what would be
    /// published now, otherwise a new version, signed and stored.
    pub async fn current(&self, storage: &DynStorage, agency: &str) -> Result<Published> {
        for _ in 0..8 {
            let key = self.key(storage, agency).await?;
            let officers = storage.officers(&[agency.to_string()]).await?;
            let roster = bundle::roster_component(agency, &officers)?;
            let latest = storage.latest_bundle(agency).await?;
            let previous = match &latest {
                Some(b) => Some(stored_manifest(b)?),
                None => None,
            };
            if let (Some(b), Some(p)) = (&latest, &previous) {
                if self.unchanged(p, &roster) {
                    return Published::of(b);
                }
            }
            let version = previous.as_ref().map_or(1, |p| p.version + 1);
            let mut files = self.reference.clone();
            files.insert(ROSTER.to_string(), roster);
            if let Some(policy) = &self.witness_policy {
                files.insert(POLICY_COMPONENT.to_string(), policy.clone());
            }
            let manifest = bundle::build_manifest(
                agency,
                version,
                Utc::now(),
                &key.verifying_key(),
                &files,
                previous.as_ref(),
            )?;
            let signed = bundle::sign_manifest(&manifest, &key)?;
            // Components that changed in this version (the others are stored already).
            let components: Vec<(String, String, Vec<u8>)> = manifest
                .components
                .iter()
                .filter(|c| c.version == version)
                .filter_map(|c| {
                    files
                        .get(&c.name)
                        .map(|b| (c.name.clone(), c.sha256.clone(), b.clone()))
                })
                .collect();
            let stored = StoredBundle {
                agency: agency.to_string(),
                version,
                manifest: signed.bytes.clone(),
                signature: signed.signature.to_vec(),
                created_at: crate::now(),
            };
            if storage.put_bundle(&stored, &components).await? {
                tracing::info!(
                    agency,
                    version,
                    changed = components.len(),
                    "reference bundle published"
                );
                return Published::of(&stored);
            }
            // Another replica published this version first: look again.
        }
        Err(ApiError::conflict(
            "BUNDLE_BUSY",
            "数据包正在被其他服务器进程更新，请稍后重试",
        ))
    }

    fn unchanged(&self, previous: &Manifest, roster: &[u8]) -> bool {
        let roster_hash = bundle::sha256_hex(roster);
        let policy_hash = self.witness_policy.as_deref().map(bundle::sha256_hex);
        previous.components.len()
            == self.reference_hashes.len() + 1 + usize::from(policy_hash.is_some())
            && previous.components.iter().all(|c| {
                if c.name == ROSTER {
                    c.sha256 == roster_hash
                } else if c.name == POLICY_COMPONENT {
                    policy_hash.as_ref() == Some(&c.sha256)
                } else {
                    self.reference_hashes.get(&c.name) == Some(&c.sha256)
                }
            })
    }

    /// Publish every agency's current bundle (at start).
    pub async fn publish_all(&self, storage: &DynStorage) -> Result<()> {
        for agency in storage.agencies().await? {
            self.current(storage, &agency.code).await?;
        }
        Ok(())
    }
}

/// A stored manifest read back (our own bytes; shape checked, signature not re-verified).
fn stored_manifest(b: &StoredBundle) -> Result<Manifest> {
    let m: Manifest = serde_json::from_slice(&b.manifest)
        .map_err(|e| ApiError::storage(format!("stored bundle manifest unreadable: {e}")))?;
    bundle::check_manifest(&m)?;
    Ok(m)
}

fn poisoned<T>(_: T) -> ApiError {
    ApiError::internal("BUNDLE_KEYS_POISONED", "数据包密钥缓存锁已损坏")
}

/// After a roster change: publish the agencies' new bundles. A failure is logged, not returned (the
/// roster change is stored; the next manifest request publishes the bundle). `state` is any state
/// the bundler and the storage can be taken from (`FromRef`: the server's `AppState`).
pub async fn roster_changed<S>(state: &S, agencies: &[&str])
where
    Arc<Bundler>: FromRef<S>,
    DynStorage: FromRef<S>,
{
    let (bundler, storage) = (Arc::<Bundler>::from_ref(state), DynStorage::from_ref(state));
    let mut done: Vec<&str> = Vec::new();
    for &agency in agencies {
        if done.contains(&agency) {
            continue;
        }
        done.push(agency);
        if let Err(e) = bundler.current(&storage, agency).await {
            tracing::error!(agency, code = %e.code, detail = %e.message, "bundle rebuild failed");
        }
    }
}
