package cn.roadside.shell

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.collectLatest
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import uniffi.roadside_core.CaseSummary
import uniffi.roadside_core.InspectionRecord
import uniffi.roadside_core.Issue

/** What the inspection form screen shows. */
data class InspectionFormState(
    /** The draft as the officer has typed it. */
    val record: InspectionRecord,
    /** Every problem the core found in [record] (as of [validatedVersion]), by field path. */
    val issues: Map<String, List<Issue>> = emptyMap(),
    /** Bumped on every edit. */
    val version: Long = 0,
    /** The [version] the [issues] belong to; `-1` before the first validation. */
    val validatedVersion: Long = -1,
    /** The case once saved (`create_case`), then after finalizing. */
    val case: CaseSummary? = null,
    /** The stored record this form edits, and its version (a later save amends it). */
    val recordId: String? = null,
    val recordVersion: UInt = 0u,
    /** A save/finalize in progress. */
    val busy: Boolean = false,
    /** The last failed action (validation failures carry their issues, also merged into [issues]). */
    val error: ShellError? = null,
) {
    /** The issues are those of the current draft. */
    val upToDate: Boolean get() = validatedVersion == version

    /** Nothing to fix: the save button is enabled. */
    val canSave: Boolean get() = upToDate && issues.isEmpty() && !busy

    /** Issues of one field (`vehicle.plate`) or of anything under it (`officers` → `officers[1].name`). */
    fun issuesAt(path: String): List<Issue> = issues.entries
        .filter { (p, _) -> p == path || p.startsWith("$path.") || p.startsWith("$path[") }
        .flatMap { it.value }
}

/**
 * The inspection form (现场笔录 / 勘验笔录) with live validation: every edit is validated by the core
 * (`validate_record`, the same rules `create_case` enforces, including the roster's certificates) and
 * the issues are exposed per field path. Only the newest draft's result is kept; an edit during a
 * validation supersedes it.
 */
class InspectionFormModel(
    private val session: CoreSession,
    initial: InspectionRecord,
    scope: CoroutineScope,
) {
    private val _state = MutableStateFlow(InspectionFormState(record = initial))
    val state: StateFlow<InspectionFormState> = _state.asStateFlow()

    init {
        scope.launch {
            // Re-validates on each new (record, version); collectLatest drops results of superseded drafts.
            _state.collectLatest { s ->
                if (s.upToDate) return@collectLatest
                val version = s.version
                val issues = try {
                    session.call { it.validateRecord(s.record) }
                } catch (e: Exception) {
                    _state.update { if (it.version == version) it.copy(error = e.toShellError()) else it }
                    return@collectLatest
                }
                _state.update {
                    if (it.version == version) {
                        it.copy(issues = issues.byPath(), validatedVersion = version, error = null)
                    } else {
                        it
                    }
                }
            }
        }
    }

    /** Applies an edit, e.g. `edit { it.copy(vehicle = it.vehicle?.copy(plate = text)) }`. */
    fun edit(change: (InspectionRecord) -> InspectionRecord) {
        _state.update { it.copy(record = change(it.record), version = it.version + 1) }
    }

    /** Waits until the issues shown are those of the current draft. */
    suspend fun awaitValidated(): InspectionFormState = state.first { it.upToDate || it.error != null }

    /**
     * Saves the draft: the first save opens a case with it (one signed ledger entry); later saves
     * amend that record (a new version whose entry names the one it supersedes). A refusal comes
     * back in [InspectionFormState.error] with its issues shown per field; nothing is stored then.
     */
    suspend fun save(): CaseSummary? = act { s ->
        val existing = s.case
        val saved = if (existing == null || s.recordId == null) {
            val case = session.call { it.createCase(s.record) }
            val first = session.call { it.caseDetail(case.id) }.records.first()
            _state.update { it.copy(recordId = first.recordId, recordVersion = first.version) }
            case
        } else {
            val version = session.call { it.amendRecord(existing.id, s.recordId, s.record) }
            _state.update { it.copy(recordVersion = version.version) }
            session.call { it.caseDetail(existing.id) }.summary
        }
        saved
    }

    /** Finalizes the saved case (two certified officers, end time, party's confirmation…). */
    suspend fun finalizeCase(): CaseSummary? = act { s ->
        val case = s.case ?: throw IllegalStateException("请先保存笔录再办结案件")
        session.call { it.finalizeCase(case.id) }
    }

    private suspend fun act(block: suspend (InspectionFormState) -> CaseSummary): CaseSummary? {
        val before = _state.value
        _state.update { it.copy(busy = true, error = null) }
        return try {
            val case = block(before)
            _state.update { it.copy(case = case, busy = false) }
            case
        } catch (e: Exception) {
            val err = e.toShellError()
            _state.update {
                it.copy(
                    busy = false,
                    error = err,
                    issues = if (err.issues.isEmpty()) it.issues else it.issues + err.issues.byPath(),
                )
            }
            null
        }
    }
}
