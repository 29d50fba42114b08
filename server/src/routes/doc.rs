//! The parts of the OpenAPI document that are not a handler's own: the document's head, the
//! security schemes, the error body, the `Tus-Resumable` header, and the schemas of bodies whose
//! Rust types live outside the HTTP layer (the core's roster types, storage rows, the push
//! outcomes). Each handler describes itself with `#[utoipa::path]` beside its code, and
//! `routes::described` registers it with its route from one list.
//!
//! The schemas here mirror types that are serialized elsewhere (`roadside_core::model`,
//! `crate::storage`, `crate::ingest`, `crate::rollover`); they are never built, only described.
//! The tests at the bottom serialize the real types and compare their fields with these schemas,
//! so a field added to one and not the other is caught.

use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{IntoParams, Modify, OpenApi, ToResponse, ToSchema};

use crate::media::TUS_VERSION;

/// The document's head and the components every operation shares; the paths are added by
/// `routes::described`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Roadside sync server",
        version = env!("CARGO_PKG_VERSION"),
        description = "路政执法同步服务器：设备登记、签名账本记录上传（带透明日志回执）、透明日志（C2SP tlog-tiles / signed-note）、证据文件断点续传（tus 1.0.0）。Every error answer is {\"code\": STABLE_CODE, \"message\": 中文说明}.",
    ),
    components(schemas(ErrorBody), responses(ErrorResponse)),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

/// The two bearer tokens: `account` (a signed-in person) and `device` (an enrolled device).
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi
            .components
            .get_or_insert_with(utoipa::openapi::Components::new);
        for (name, from) in [
            ("account", "Token from POST /api/v1/sessions"),
            ("device", "Token from POST /api/v1/devices/enrol"),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(from))
                        .build(),
                ),
            );
        }
    }
}

// `crate::error::ApiError`'s body, and the media routes' refusals'.
/// Every error answer's body.
#[derive(ToSchema)]
#[schema(as = Error)]
#[allow(dead_code)] // described, never built
pub struct ErrorBody {
    /// Stable UPPER_SNAKE code, e.g. `SIGN_IN_FAILED`.
    code: String,
    /// What is wrong and where, in Chinese.
    message: String,
}

/// The shared error answer, `#/components/responses/Error`.
pub struct ErrorResponse;

impl<'r> ToResponse<'r> for ErrorResponse {
    fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
        (
            "Error",
            ResponseBuilder::new()
                .description("Error")
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Error")))
                        .build(),
                )
                .build()
                .into(),
        )
    }
}

/// The `Tus-Resumable: 1.0.0` request header every tus request but OPTIONS carries.
pub struct TusResumable;

impl IntoParams for TusResumable {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![ParameterBuilder::new()
            .name("Tus-Resumable")
            .parameter_in(ParameterIn::Header)
            .required(Required::True)
            .description(Some(format!(
                "{TUS_VERSION} (otherwise 412 TUS_VERSION_UNSUPPORTED with Tus-Version)"
            )))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([TUS_VERSION])),
            ))
            .build()]
    }
}

// `roadside_core::model::OfficerRole`.
/// An officer's role.
#[derive(ToSchema)]
#[schema(as = Role, rename_all = "snake_case")]
#[allow(dead_code)] // described, never built
pub enum RoleDoc {
    Officer,
    Assistant,
    LegalReviewer,
    Supervisor,
    Admin,
}

// `roadside_core::model::OfficerCertificate`.
/// One officer certificate of the roster; unknown fields are refused.
#[derive(ToSchema, serde::Deserialize)]
#[schema(as = Officer)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // described, never built
pub struct OfficerDoc {
    /// 执法证号: not empty, no space at either end.
    #[schema(pattern = "^\\S([\\s\\S]*\\S)?$")]
    certificate_no: String,
    /// Not empty or blank.
    #[schema(pattern = "\\S")]
    name: String,
    /// Agency code, e.g. `632500`.
    agency: String,
    #[schema(value_type = RoleDoc)]
    role: String,
    /// First day of validity.
    #[schema(format = Date)]
    valid_from: String,
    /// Last day of validity.
    #[schema(format = Date)]
    valid_to: String,
    /// Day the certificate was revoked (注销), if it was (`YYYY-MM-DD`; null or "" = not revoked).
    #[schema(schema_with = optional_day)]
    #[serde(default)]
    revoked_on: Option<String>,
}

/// A date (`YYYY-MM-DD`), or "" or null for none.
fn optional_day() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date))),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([""])),
        )
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .build()
        .into()
}

// `crate::storage::Agency`.
/// An agency (执法机构).
#[derive(ToSchema)]
#[schema(as = Agency)]
#[allow(dead_code)] // described, never built
pub struct AgencyDoc {
    code: String,
    name: String,
    /// The agency above it, if any.
    parent: Option<String>,
    /// The prefix of its document numbers (文书编号); its name is used when none is set.
    doc_prefix: Option<String>,
}

// `crate::storage::Device`.
/// An enrolled device.
#[derive(ToSchema)]
#[schema(as = Device)]
#[allow(dead_code)] // described, never built
pub struct DeviceDoc {
    id: String,
    /// Ed25519 public key, 64 lowercase hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    public_key: String,
    agency: String,
    certificate_no: String,
    name: String,
    enrolled_at: String,
    revoked_at: Option<String>,
    /// Seq of the newest accepted entry (0: none yet).
    #[schema(minimum = 0)]
    head_seq: u64,
}

// `crate::storage::CaseRow`.
/// A case materialised from accepted entries.
#[derive(ToSchema)]
#[schema(as = Case)]
#[allow(dead_code)] // described, never built
pub struct CaseDoc {
    id: String,
    agency: String,
    /// draft | finalized | closed
    status: String,
    opened_at: Option<String>,
    #[schema(minimum = 0)]
    records: u64,
    #[schema(minimum = 0)]
    evidence: u64,
    /// An accepted penalty or no-penalty decision is logged for it.
    decided: bool,
}

// `crate::storage::CaseDetail`.
/// A case with every entry logged for it, in log order.
#[derive(ToSchema)]
#[schema(as = CaseDetail)]
#[allow(dead_code)] // described, never built
pub struct CaseDetailDoc {
    id: String,
    agency: String,
    /// draft | finalized | closed
    status: String,
    opened_at: Option<String>,
    #[schema(minimum = 0)]
    records: u64,
    #[schema(minimum = 0)]
    evidence: u64,
    decided: bool,
    entries: Vec<CaseEntryDoc>,
}

// `crate::storage::CaseEntry`.
/// One logged entry of a case.
#[derive(ToSchema)]
#[schema(as = CaseEntry)]
#[allow(dead_code)] // described, never built
pub struct CaseEntryDoc {
    /// The signing device's sequence number.
    #[schema(minimum = 1)]
    seq: u64,
    device_id: String,
    /// The entry kind, e.g. decision.penalty, document.issue, delivery.record, case.close.
    kind: String,
    at: String,
    /// Certificate numbers of the officers acting.
    officers: Vec<String>,
    /// Lowercase hex SHA-256 of the entry's bytes.
    entry_hash: String,
    /// Its leaf in the transparency log.
    #[schema(minimum = 0)]
    leaf_index: u64,
    /// Size of the checkpoint first published with it.
    #[schema(minimum = 0)]
    checkpoint_size: u64,
    /// Set when a business check refused it (logged, not materialised).
    refused: Option<EntryRefusalDoc>,
    /// For document.issue: the document as the server knows it.
    document: Option<IssuedDocumentDoc>,
    /// The entry's signed body.
    #[schema(value_type = Object)]
    body: serde_json::Value,
}

// `crate::storage::EntryRefusal`.
/// Why an entry was refused.
#[derive(ToSchema)]
#[schema(as = EntryRefusal)]
#[allow(dead_code)] // described, never built
pub struct EntryRefusalDoc {
    code: String,
    message: String,
}

// `crate::storage::IssuedDocument`.
/// A document issued on the device: its number and the SHA-256 and size of the exact bytes handed
/// to the party.
#[derive(ToSchema)]
#[schema(as = IssuedDocument)]
#[allow(dead_code)] // described, never built
pub struct IssuedDocumentDoc {
    /// site_record, summary_decision, delivery_receipt, …
    doc_type: String,
    number: String,
    sha256: String,
    #[schema(minimum = 0)]
    size: u64,
}

// `roadside_core::steps::NumberBlock`.
/// A block of document serials leased to the device: serials `first..=last` of the agency's year.
#[derive(ToSchema)]
#[schema(as = NumberBlock)]
#[allow(dead_code)] // described, never built
pub struct NumberBlockDoc {
    /// The agency's code.
    agency: String,
    year: i32,
    #[schema(minimum = 1, maximum = 9999)]
    first: u64,
    #[schema(minimum = 1, maximum = 9999)]
    last: u64,
    /// The agency's number prefix (its name when none is set), e.g. 青海南交执.
    prefix: String,
    /// The agency's full name as printed on its documents.
    agency_name: String,
}

// `crate::storage::PriorCase`.
/// A prior accepted case of the vehicle or party.
#[derive(ToSchema)]
#[schema(as = PriorCase)]
#[allow(dead_code)] // described, never built
pub struct PriorCaseDoc {
    case: String,
    agency: String,
    opened_at: Option<String>,
    /// draft | finalized
    status: String,
    plate: Option<String>,
    /// 立案记录中列出的违法行为代码（未列出时为空）
    violations: Vec<String>,
}

// `crate::storage::RecoveredEntry`.
/// An entry a device brought back after a log rollover, with the receipt of a retired origin.
#[derive(ToSchema)]
#[schema(as = RecoveredEntry)]
#[allow(dead_code)] // described, never built
pub struct RecoveredEntryDoc {
    #[schema(pattern = "^[0-9a-f]{64}$")]
    entry_hash: String,
    device_id: String,
    seq: u64,
    /// leaf in the current log
    leaf_index: u64,
    old_origin: String,
    old_leaf_index: u64,
    old_tree_size: u64,
    old_checkpoint: String,
    recorded_at: String,
}

// `crate::rollover::OldReceipt`.
/// After a log rollover: the receipt a retired origin gave this entry (the server lost it);
/// checked and recorded with the entry, OLD_RECEIPT_INVALID when it does not verify.
#[derive(ToSchema, serde::Deserialize)]
#[schema(as = OldReceipt)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // described, never built
pub struct OldReceiptDoc {
    #[schema(minimum = 0)]
    leaf_index: u64,
    #[schema(minimum = 1)]
    tree_size: u64,
    /// base64 hashes, leaf to root
    inclusion_proof: Vec<String>,
    /// C2SP signed checkpoint of the retired origin
    checkpoint: String,
}

// `crate::ingest::Status`.
/// What became of an entry (see Outcome).
#[derive(ToSchema)]
#[schema(as = OutcomeStatus, rename_all = "snake_case")]
#[allow(dead_code)] // described, never built
pub enum StatusDoc {
    Accepted,
    Duplicate,
    Refused,
    Rejected,
}

// `crate::ingest::Outcome`.
/// One entry's answer. accepted: logged and materialised (receipt).
/// duplicate: accepted before, the same receipt again. refused: authentic and in its place in the
/// device's chain, so logged and chained (receipt), but it fails a business check (code, message)
/// and is not materialised; sending it again gives the same refused answer and receipt; the
/// device's later entries continue after it. rejected: not authentic or not in its place (bad
/// bytes or signature, another device's key, fork, gap, too large); nothing stored, no receipt
/// (code, message); the device's later entries are rejected as CHAIN_GAP until a correct entry
/// fills the place.
#[derive(ToSchema)]
#[schema(as = Outcome)]
#[allow(dead_code)] // described, never built
pub struct OutcomeDoc {
    /// lowercase hex SHA-256 of the entry's bytes
    #[schema(pattern = "^[0-9a-f]{64}$")]
    hash: String,
    /// absent when the bytes could not be read as an entry
    #[schema(minimum = 1, nullable = false)]
    seq: Option<u64>,
    status: StatusDoc,
    /// refused and rejected only: stable UPPER_SNAKE code (refused: OFFICER_NOT_REGISTERED,
    /// CERTIFICATE_OTHER_AGENCY, OFFICER_NOT_ENFORCER, OFFICER_CERTIFICATE_NOT_YET_VALID,
    /// OFFICER_CERTIFICATE_EXPIRED, OFFICER_CERTIFICATE_REVOKED, NO_ENFORCING_OFFICER,
    /// ENTRY_BAD_TIME; rejected: ENTRY_TOO_LARGE, LEDGER_*,
    /// ENTRY_WRONG_DEVICE, CHAIN_FORK, CHAIN_PREV_MISMATCH, CHAIN_GAP, OLD_RECEIPT_INVALID)
    #[schema(nullable = false)]
    code: Option<String>,
    /// refused and rejected only: what is wrong, in Chinese
    #[schema(nullable = false)]
    message: Option<String>,
    /// accepted, duplicate and refused only
    #[schema(value_type = Option<super::log::InclusionProof>, nullable = false)]
    receipt: Option<String>,
}

/// The `type: string, format: binary` body of a media object or chunk.
pub struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Binary,
            )))
            .into()
    }
}

impl ToSchema for Binary {}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde::Serialize;
    use utoipa::openapi::schema::Schema;
    use utoipa::openapi::RefOr;
    use utoipa::PartialSchema;

    use super::*;

    /// The property names of a derived object schema.
    fn properties<T: PartialSchema>() -> BTreeSet<String> {
        match T::schema() {
            RefOr::T(Schema::Object(o)) => o.properties.keys().cloned().collect(),
            other => panic!(
                "not an object schema: {}",
                serde_json::to_string(&other).unwrap_or_default()
            ),
        }
    }

    /// The field names a real value serializes with (every optional field given a value).
    fn fields(value: &impl Serialize) -> BTreeSet<String> {
        match serde_json::to_value(value).expect("serializes") {
            serde_json::Value::Object(o) => o.keys().cloned().collect(),
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn the_mirrored_schemas_have_the_fields_the_real_types_serialize() {
        let officer = roadside_core::model::OfficerCertificate {
            certificate_no: "QH6325000101".into(),
            name: "李明".into(),
            agency: "632500".into(),
            role: roadside_core::model::OfficerRole::Officer,
            valid_from: roadside_core::day::parse_day("2024-01-01").expect("a day"),
            valid_to: roadside_core::day::parse_day("2029-12-31").expect("a day"),
            revoked_on: roadside_core::day::parse_day("2026-01-01"),
        };
        assert_eq!(fields(&officer), properties::<OfficerDoc>());
        let agency = crate::storage::Agency {
            code: "632500".into(),
            name: "海南州".into(),
            parent: Some("630000".into()),
            doc_prefix: Some("青海南交执".into()),
        };
        assert_eq!(fields(&agency), properties::<AgencyDoc>());
        let device = crate::storage::Device {
            id: "d".into(),
            public_key: "00".repeat(32),
            agency: "632500".into(),
            certificate_no: "QH6325000101".into(),
            name: "执法终端".into(),
            enrolled_at: "t".into(),
            revoked_at: Some("t".into()),
            head_seq: 3,
            head_hash: Some([0; 32]),
        };
        assert_eq!(fields(&device), properties::<DeviceDoc>());
        let case = crate::storage::CaseRow {
            id: "c".into(),
            agency: "632500".into(),
            status: "draft".into(),
            opened_at: Some("t".into()),
            records: 1,
            evidence: 0,
            decided: true,
        };
        assert_eq!(fields(&case), properties::<CaseDoc>());
        let entry = crate::storage::CaseEntry {
            seq: 1,
            device_id: "d".into(),
            kind: "document.issue".into(),
            at: "t".into(),
            officers: vec!["QH6325000101".into()],
            entry_hash: "00".repeat(32),
            leaf_index: 0,
            checkpoint_size: 1,
            refused: Some(crate::storage::EntryRefusal {
                code: "STEP_BODY_INVALID".into(),
                message: "m".into(),
            }),
            document: Some(crate::storage::IssuedDocument {
                doc_type: "summary_decision".into(),
                number: "n".into(),
                sha256: "00".repeat(32),
                size: 1,
            }),
            body: serde_json::json!({}),
        };
        assert_eq!(fields(&entry), properties::<CaseEntryDoc>());
        assert_eq!(
            fields(entry.refused.as_ref().expect("set")),
            properties::<EntryRefusalDoc>()
        );
        assert_eq!(
            fields(entry.document.as_ref().expect("set")),
            properties::<IssuedDocumentDoc>()
        );
        let detail = crate::storage::CaseDetail {
            case,
            entries: vec![entry],
        };
        assert_eq!(fields(&detail), properties::<CaseDetailDoc>());
        let block = roadside_core::steps::NumberBlock {
            agency: "632500".into(),
            year: 2026,
            first: 1,
            last: 100,
            prefix: "青海南交执".into(),
            agency_name: "海南州".into(),
        };
        assert_eq!(fields(&block), properties::<NumberBlockDoc>());
        let prior = crate::storage::PriorCase {
            case: "c".into(),
            agency: "632500".into(),
            opened_at: Some("t".into()),
            status: "draft".into(),
            plate: Some("青E12345".into()),
            violations: vec![],
        };
        assert_eq!(fields(&prior), properties::<PriorCaseDoc>());
        let recovered = crate::storage::RecoveredEntry {
            entry_hash: "00".repeat(32),
            device_id: "d".into(),
            seq: 1,
            leaf_index: 0,
            old_origin: "o".into(),
            old_leaf_index: 0,
            old_tree_size: 1,
            old_checkpoint: "n".into(),
            recorded_at: "t".into(),
        };
        assert_eq!(fields(&recovered), properties::<RecoveredEntryDoc>());
        let receipt = crate::ingest::Receipt {
            leaf_index: 0,
            tree_size: 1,
            inclusion_proof: vec![],
            checkpoint: "n".into(),
        };
        assert_eq!(fields(&receipt), properties::<OldReceiptDoc>());
        assert_eq!(
            fields(&receipt),
            properties::<super::super::log::InclusionProof>()
        );
        let outcome = crate::ingest::Outcome {
            hash: "00".repeat(32),
            seq: Some(1),
            status: crate::ingest::Status::Refused,
            code: Some("CERTIFICATE_REVOKED".into()),
            message: Some("m".into()),
            receipt: Some(receipt),
            position: Some((0, 1)),
        };
        assert_eq!(fields(&outcome), properties::<OutcomeDoc>());
    }

    #[test]
    fn the_mirrored_enums_have_the_values_the_real_types_serialize() {
        use roadside_core::model::OfficerRole;
        let roles: Vec<_> = [
            OfficerRole::Officer,
            OfficerRole::Assistant,
            OfficerRole::LegalReviewer,
            OfficerRole::Supervisor,
            OfficerRole::Admin,
        ]
        .iter()
        .map(|r| serde_json::to_value(r).expect("serializes"))
        .collect();
        let described = serde_json::to_value(RoleDoc::schema()).expect("schema");
        assert_eq!(described["enum"], serde_json::Value::from(roles));
        use crate::ingest::Status;
        let statuses: Vec<_> = [
            Status::Accepted,
            Status::Duplicate,
            Status::Refused,
            Status::Rejected,
        ]
        .iter()
        .map(|s| serde_json::to_value(s).expect("serializes"))
        .collect();
        let described = serde_json::to_value(StatusDoc::schema()).expect("schema");
        assert_eq!(described["enum"], serde_json::Value::from(statuses));
    }

    #[test]
    fn the_push_limit_described_is_the_one_enforced() {
        let described = serde_json::to_value(super::super::sync::Push::schema()).expect("schema");
        assert_eq!(
            described["properties"]["entries"]["maxItems"],
            crate::ingest::MAX_BATCH
        );
    }
}
