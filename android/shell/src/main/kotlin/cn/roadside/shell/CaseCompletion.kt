package cn.roadside.shell

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import uniffi.roadside_core.CaseProgress
import uniffi.roadside_core.CloseInput
import uniffi.roadside_core.CloseReason
import uniffi.roadside_core.DeliveryInput
import uniffi.roadside_core.DeliveryMethod
import uniffi.roadside_core.DocType
import uniffi.roadside_core.DocumentRenderer
import uniffi.roadside_core.IssuedDocument
import uniffi.roadside_core.MeasureInput
import uniffi.roadside_core.MeasureRelease
import uniffi.roadside_core.NoPenaltyInput
import uniffi.roadside_core.NoticeInput
import uniffi.roadside_core.PaymentInput
import uniffi.roadside_core.PenaltyDecisionInput
import uniffi.roadside_core.SignatureInput
import uniffi.roadside_core.StatementInput
import uniffi.roadside_core.StepEntry
import uniffi.roadside_core.StepView

/** What the case-completion screens (decide → deliver → pay → close) show. */
data class CaseCompletionState(
    val caseId: String,
    /** Where the case stands and what comes next, as the core computes it. */
    val progress: CaseProgress? = null,
    /** The case's steps after its records, each with its signed entry. */
    val steps: List<StepView> = emptyList(),
    /** The last step taken on this screen (its entry and the number it took). */
    val last: StepEntry? = null,
    /** The last document issued or reprinted: its type, number, SHA-256 and the exact bytes to show or print. */
    val document: IssuedDocument? = null,
    /** The last action was refused: the code, the message and every issue with its field. */
    val error: ShellError? = null,
    val busy: Boolean = false,
)

/**
 * The end of a case on the phone: the decision (summary, general after the notice, or no penalty),
 * coercive measures, delivery of each document, payment and closing. Every action is one core call
 * (one signed entry, one transaction) off the UI thread; a refusal leaves the state as it was and
 * shows every issue, and the progress is read again from the store after each action.
 */
class CaseCompletionModel(private val session: CoreSession, caseId: String) {
    private val _state = MutableStateFlow(CaseCompletionState(caseId))
    val state: StateFlow<CaseCompletionState> = _state.asStateFlow()

    private val caseId: String get() = _state.value.caseId

    /** Reads the progress and the steps from the store. */
    suspend fun refresh(): CaseCompletionState {
        val (progress, steps) = session.call { it.caseProgress(caseId) to it.caseSteps(caseId) }
        _state.update { it.copy(progress = progress, steps = steps) }
        return _state.value
    }

    private suspend fun act(call: (uniffi.roadside_core.RoadsideCore) -> StepEntry): Result<StepEntry> {
        _state.update { it.copy(busy = true, error = null) }
        val result = runCatching { session.call(call) }
        result.fold(
            onSuccess = { entry -> _state.update { it.copy(last = entry, busy = false) } },
            onFailure = { e -> _state.update { it.copy(error = e.toShellError(), busy = false) } },
        )
        runCatching { refresh() }
        return result
    }

    /** The penalty decision; the core checks the draft again and refuses what the law forbids. */
    suspend fun decide(input: PenaltyDecisionInput) = act { it.decidePenalty(caseId, session.rules, input) }

    /** The no-penalty decision under the exemption list. */
    suspend fun decideNoPenalty(input: NoPenaltyInput) = act { it.decideNoPenalty(caseId, session.rules, input) }

    /** The notice of intended penalty (普通程序). */
    suspend fun issueNotice(input: NoticeInput) = act { it.issueNotice(caseId, session.rules, input) }

    /** The party's statement, waiver or hearing request. */
    suspend fun recordStatement(input: StatementInput) = act { it.recordStatement(caseId, input) }

    suspend fun applyMeasure(input: MeasureInput) = act { it.applyMeasure(caseId, input) }

    suspend fun releaseMeasure(input: MeasureRelease) = act { it.releaseMeasure(caseId, input) }

    /** Service of one document; [input]'s number must be one of the case's documents. */
    suspend fun deliver(input: DeliveryInput) = act { it.recordDelivery(caseId, input) }

    /** Direct service signed by the receiver now (the common roadside case). */
    suspend fun deliverInPerson(number: String, receiver: String, relation: String, at: String) = deliver(
        DeliveryInput(
            documentNumber = number,
            method = DeliveryMethod.DIRECT,
            at = at,
            place = "",
            receiver = receiver,
            receiverRelation = relation,
            signed = true,
            refusalReason = "",
            witness = "",
            evidenceId = null,
            trackingNo = "",
            electronicAddress = "",
            electronicConsent = false,
        ),
    )

    suspend fun pay(input: PaymentInput) = act { it.recordPayment(caseId, session.rules, input) }

    /**
     * Issues a document (rendered by the core, its SHA-256 in the ledger before the bytes reach the
     * screen or the printer) with the signatures captured on the pad ([SignatureCapture]) or the
     * refusals noted. `source` names the measure, record or served document where there are several.
     */
    suspend fun issue(
        renderer: DocumentRenderer,
        doc: DocType,
        signatures: List<SignatureInput>,
        source: String? = null,
    ): Result<IssuedDocument> {
        _state.update { it.copy(busy = true, error = null) }
        val result = runCatching { session.call { it.issueDocument(caseId, doc, source, signatures, renderer) } }
        result.fold(
            onSuccess = { d -> _state.update { it.copy(document = d, last = d.entry, busy = false) } },
            onFailure = { e -> _state.update { it.copy(error = e.toShellError(), busy = false) } },
        )
        runCatching { refresh() }
        return result
    }

    suspend fun close(reason: CloseReason, note: String = "") = act { it.closeCase(caseId, CloseInput(reason, note)) }
}
