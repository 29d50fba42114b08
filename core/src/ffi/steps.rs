//! The end of a case through UniFFI: decisions, notice and statement, coercive measures, delivery,
//! payment, closing, and the document-number blocks (thin wrappers over `crate::store::steps`,
//! where the checks and their tests live).

use std::sync::Arc;

use super::rules::RulesEngine;
use super::RoadsideCore;
use crate::document::{Renderer, SystemFonts};
use crate::error::Result;
use crate::steps::DocType;
use crate::steps::{
    CloseInput, DeliveryInput, MeasureExtension, MeasureInput, MeasureRelease, NoPenaltyInput,
    NoticeInput, NumberBlock, PaymentInput, PenaltyDecisionInput, PreservationInput,
    StatementInput,
};
use crate::store::documents::{IssuedDocument, SignatureInput};
use crate::store::steps::{CaseProgress, StepEntry, StepView};

use super::document::{PlatformFontSource, PlatformFonts};

/// The document renderer with its font parsed once: make one per process and reuse it.
#[derive(uniffi::Object)]
pub struct DocumentRenderer {
    renderer: Renderer,
}

#[uniffi::export]
impl DocumentRenderer {
    /// With the platform's CJK font (Android's Noto Sans CJK, iOS's PingFang).
    #[uniffi::constructor]
    pub fn new(fonts: Arc<dyn PlatformFonts>) -> Result<Arc<Self>> {
        Ok(Arc::new(DocumentRenderer {
            renderer: Renderer::new(&PlatformFontSource(fonts))?,
        }))
    }

    /// With the desktop's fonts (fonts-noto-cjk, or `ROADSIDE_CJK_FONT=path[:index]`): the
    /// shells' JVM tests and desktop tools.
    #[uniffi::constructor]
    pub fn system() -> Result<Arc<Self>> {
        Ok(Arc::new(DocumentRenderer {
            renderer: Renderer::new(&SystemFonts::new())?,
        }))
    }
}

#[uniffi::export]
impl RoadsideCore {
    /// Make the penalty decision of a finalized case. The draft is checked again (with the
    /// roster, on the decision date); every issue is listed when the law forbids it, and nothing
    /// is stored then. The entry keeps the benchmark's guidance beside the decided amounts and the
    /// reference data's digest; an amount outside the band (with reasons) is flagged.
    pub fn decide_penalty(
        &self,
        case_id: String,
        rules: Arc<RulesEngine>,
        input: PenaltyDecisionInput,
    ) -> Result<StepEntry> {
        self.store
            .decide_penalty(&case_id, rules.book()?.as_ref(), &input)
    }

    /// Submit the general-procedure decision the officers propose for legal review (提请法制审核,
    /// 处罚法 58). It is checked as the decision would be; the decision can be made once the
    /// reviewer's opinion of 同意 on it has arrived by sync.
    pub fn request_legal_review(
        &self,
        case_id: String,
        rules: Arc<RulesEngine>,
        input: PenaltyDecisionInput,
    ) -> Result<StepEntry> {
        self.store
            .request_legal_review(&case_id, rules.book()?.as_ref(), &input)
    }

    /// The case's latest legal-review request and the opinion received for it, if any.
    pub fn legal_review_status(
        &self,
        case_id: String,
    ) -> Result<Option<crate::store::review::LegalReviewStatus>> {
        self.store.legal_review_status(&case_id)
    }

    /// Decide not to penalise under the exemption list (不予行政处罚), with each condition's
    /// answer, the education given and the party's commitment.
    pub fn decide_no_penalty(
        &self,
        case_id: String,
        rules: Arc<RulesEngine>,
        input: NoPenaltyInput,
    ) -> Result<StepEntry> {
        self.store
            .decide_no_penalty(&case_id, rules.book()?.as_ref(), &input)
    }

    /// Issue the notice of intended penalty (违法行为通知书), with the party's rights and the
    /// reply period in working days.
    pub fn issue_notice(
        &self,
        case_id: String,
        rules: Arc<RulesEngine>,
        input: NoticeInput,
    ) -> Result<StepEntry> {
        self.store
            .issue_notice(&case_id, rules.book()?.as_ref(), &input)
    }

    /// Record the party's statement, waiver or hearing request on the notice.
    pub fn record_statement(&self, case_id: String, input: StatementInput) -> Result<StepEntry> {
        self.store.record_statement(&case_id, &input)
    }

    /// Take a coercive measure with its list of items (at most 30 days).
    pub fn apply_measure(&self, case_id: String, input: MeasureInput) -> Result<StepEntry> {
        self.store.apply_measure(&case_id, &input)
    }

    /// Register and preserve evidence in advance (先行登记保存) with its list.
    pub fn preserve_evidence(
        &self,
        case_id: String,
        rules: Arc<RulesEngine>,
        input: PreservationInput,
    ) -> Result<StepEntry> {
        self.store
            .preserve_evidence(&case_id, rules.book()?.as_ref(), &input)
    }

    /// Extend a measure, once, by at most 30 days.
    pub fn extend_measure(&self, case_id: String, input: MeasureExtension) -> Result<StepEntry> {
        self.store.extend_measure(&case_id, &input)
    }

    /// Release a measure.
    pub fn release_measure(&self, case_id: String, input: MeasureRelease) -> Result<StepEntry> {
        self.store.release_measure(&case_id, &input)
    }

    /// Record the service (送达) of one of the case's documents.
    pub fn record_delivery(&self, case_id: String, input: DeliveryInput) -> Result<StepEntry> {
        self.store.record_delivery(&case_id, &input)
    }

    /// Record a payment of the case's fine (on the spot only where the law allows it).
    pub fn record_payment(
        &self,
        case_id: String,
        rules: Arc<RulesEngine>,
        input: PaymentInput,
    ) -> Result<StepEntry> {
        self.store
            .record_payment(&case_id, rules.book()?.as_ref(), &input)
    }

    /// Close the case (结案) with its reason.
    pub fn close_case(&self, case_id: String, input: CloseInput) -> Result<StepEntry> {
        self.store.close_case(&case_id, &input)
    }

    /// The case's steps after its records, in order (each entry's body as JSON text).
    pub fn case_steps(&self, case_id: String) -> Result<Vec<StepView>> {
        self.store.case_steps(&case_id)
    }

    /// Where the case stands after its records and what the officer does next.
    pub fn case_progress(&self, case_id: String) -> Result<CaseProgress> {
        self.store.case_progress(&case_id)
    }

    /// Issue a document of the case (rendered to PDF, its SHA-256 recorded in a `document.issue`
    /// entry in the same transaction); show or print the returned bytes only. `source` names the
    /// measure, record or served document where the case has several.
    pub fn issue_document(
        &self,
        case_id: String,
        doc: DocType,
        source: Option<String>,
        signatures: Vec<SignatureInput>,
        renderer: Arc<DocumentRenderer>,
    ) -> Result<IssuedDocument> {
        self.store.issue_document(
            &case_id,
            doc,
            source.as_deref(),
            &signatures,
            &renderer.renderer,
        )
    }

    /// Render an issued document again; refused unless the bytes are the ones its entry recorded.
    pub fn reprint_document(
        &self,
        case_id: String,
        number: String,
        renderer: Arc<DocumentRenderer>,
    ) -> Result<Vec<u8>> {
        self.store
            .reprint_document(&case_id, &number, &renderer.renderer)
    }

    /// Keep a block of document numbers (normally leased by the server during sync).
    pub fn add_number_block(&self, block: NumberBlock) -> Result<()> {
        self.store.add_number_block(&block)
    }

    /// Document numbers still available on this device for `year`.
    pub fn numbers_left(&self, year: i32) -> Result<u64> {
        self.store.numbers_left(year)
    }
}
