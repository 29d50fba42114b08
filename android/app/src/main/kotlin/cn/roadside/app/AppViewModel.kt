package cn.roadside.app

import android.app.Application
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import cn.roadside.shell.CaseCompletionModel
import cn.roadside.shell.CoreSession
import cn.roadside.shell.Drafts
import cn.roadside.shell.EvidenceQueue
import cn.roadside.shell.InspectionFormModel
import cn.roadside.shell.PenaltyDraftModel
import cn.roadside.shell.ShellError
import cn.roadside.shell.SyncStatusModel
import cn.roadside.shell.toShellError
import java.time.LocalDate
import java.time.ZoneId
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch
import uniffi.roadside_core.DraftOfficer
import uniffi.roadside_core.InspectionRecord
import uniffi.roadside_core.Place
import uniffi.roadside_core.RecordKind

/** The screens' models, created once the core is open. */
class Screens(
    val session: CoreSession,
    val form: InspectionFormModel,
    val penalty: PenaltyDraftModel,
    val sync: SyncStatusModel,
)

sealed interface AppState {
    data object Opening : AppState
    data class Ready(val screens: Screens) : AppState
    data class Failed(val error: ShellError) : AppState
}

/** Opens the core (Keystore key) off the main thread and owns the shell's state holders. */
class AppViewModel(application: Application) : AndroidViewModel(application) {
    private val _state = MutableStateFlow<AppState>(AppState.Opening)
    val state: StateFlow<AppState> = _state.asStateFlow()

    /** Capture queues by case id (a case's queue lives as long as this view model). */
    private val queues = mutableMapOf<String, EvidenceQueue>()

    init {
        open()
    }

    fun open() {
        _state.value = AppState.Opening
        viewModelScope.launch {
            _state.value = try {
                val session = getApplication<RoadsideApplication>().session()
                val today = LocalDate.now(ZoneId.of("Asia/Shanghai")).toString()
                val screens = Screens(
                    session = session,
                    form = InspectionFormModel(session, blankRecord(), viewModelScope),
                    penalty = PenaltyDraftModel(session, Drafts.penalty(Drafts.facts(today), emptyList<DraftOfficer>()), viewModelScope),
                    sync = SyncStatusModel(session, viewModelScope),
                )
                screens.sync.refresh()
                AppState.Ready(screens)
            } catch (e: Exception) {
                AppState.Failed(e.toShellError())
            }
        }
    }

    private val completions = mutableMapOf<String, CaseCompletionModel>()

    /** The case-completion model of [caseId] (decide, serve, pay, close). */
    fun completionFor(caseId: String, session: CoreSession): CaseCompletionModel =
        completions.getOrPut(caseId) { CaseCompletionModel(session, caseId) }

    /** The evidence queue of [caseId], created when the case is first saved. */
    fun evidenceQueueFor(caseId: String, session: CoreSession): EvidenceQueue =
        queues.getOrPut(caseId) { EvidenceQueue(session, caseId, viewModelScope) }

    private fun blankRecord() = InspectionRecord(
        kind = RecordKind.ON_SITE,
        caseNumber = null,
        place = Place(address = "", latitude = null, longitude = null),
        startedAt = java.time.OffsetDateTime.now(ZoneId.of("Asia/Shanghai")).withNano(0).toString(),
        endedAt = null,
        officers = emptyList(),
        recorder = "",
        party = null,
        persons = emptyList(),
        vehicle = null,
        situation = "",
        coerciveMeasure = null,
        partyConfirmation = null,
        remarks = null,
        inspection = null,
    )
}
