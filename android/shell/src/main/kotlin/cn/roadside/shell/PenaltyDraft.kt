package cn.roadside.shell

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.collectLatest
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import uniffi.roadside_core.DraftCheck
import uniffi.roadside_core.DraftViolation
import uniffi.roadside_core.ExemptionOutcome
import uniffi.roadside_core.ExemptionStatus
import uniffi.roadside_core.Facts
import uniffi.roadside_core.FirstOffence
import uniffi.roadside_core.PenaltyDraft
import uniffi.roadside_core.ViolationGuidance

/** The banner shown above a draft whose violation is on the exemption list (免予处罚清单). */
data class ExemptionBanner(
    val violationCode: String,
    val status: ExemptionStatus,
    /** One line for the banner, in Chinese. */
    val title: String,
    /** Conditions not met / awaiting the online check / documents to produce. */
    val details: List<String>,
    /** The article the exemption rests on. */
    val basis: String,
) {
    /** The officer should not (or must not) fine: the banner is shown prominently. */
    val blocksFine: Boolean
        get() = status == ExemptionStatus.ELIGIBLE || status == ExemptionStatus.MUST_NOT_PENALISE
}

/** What the penalty draft screen shows. */
data class PenaltyDraftState(
    val draft: PenaltyDraft,
    val version: Long = 0,
    val checkedVersion: Long = -1,
    /** The core's check of [draft] as of [checkedVersion]: errors per field, warnings, guidance. */
    val check: DraftCheck? = null,
    /** The discretion guidance pop-up (裁量基准提示), when open: the violation it is about. */
    val popup: ViolationGuidance? = null,
    /** Exemption banners, one per listed violation. */
    val banners: List<ExemptionBanner> = emptyList(),
    /** The facts or the draft could not be checked (e.g. `FACT_OUT_OF_RANGE`, `RULES_UNKNOWN_CODE`). */
    val error: ShellError? = null,
    /** The last first-offence (首违) query: online, or the device's own records flagged for re-check. */
    val firstOffence: FirstOffence? = null,
) {
    val upToDate: Boolean get() = checkedVersion == version
}

/**
 * The penalty draft (行政处罚决定书草稿) with the discretion guidance: every change is checked by the
 * rules engine (`check_draft`, which also gives the guidance for the facts); adding a violation, or
 * setting an amount outside the benchmark range, opens the guidance pop-up for it; violations on the
 * exemption list raise a banner.
 */
class PenaltyDraftModel(
    private val session: CoreSession,
    initial: PenaltyDraft,
    scope: CoroutineScope,
) {
    private val _state = MutableStateFlow(PenaltyDraftState(draft = initial))
    val state: StateFlow<PenaltyDraftState> = _state.asStateFlow()

    /** The violation whose pop-up the officer asked for (or that a change opened). */
    @Volatile
    private var popupCode: String? = null

    init {
        scope.launch {
            _state.collectLatest { s ->
                if (s.upToDate) return@collectLatest
                val version = s.version
                val result = runCatching { session.rules { it.checkDraft(s.draft, session.core.roster()) } }
                _state.update { cur ->
                    if (cur.version != version) return@update cur
                    result.fold(
                        onSuccess = { check ->
                            cur.copy(
                                check = check,
                                checkedVersion = version,
                                popup = popupCode?.let { code -> check.guidance.violations.firstOrNull { it.code == code } },
                                banners = check.guidance.violations.mapNotNull(::bannerFor),
                                error = null,
                            )
                        },
                        onFailure = { e -> cur.copy(checkedVersion = version, error = e.toShellError()) },
                    )
                }
            }
        }
    }

    /** Applies any change to the draft. */
    fun edit(change: (PenaltyDraft) -> PenaltyDraft) {
        _state.update { it.copy(draft = change(it.draft), version = it.version + 1) }
    }

    fun setFacts(facts: Facts) = edit { it.copy(facts = facts) }

    /** Adds a violation (no amount yet) and opens its guidance pop-up. */
    fun addViolation(code: String, actId: String? = null) {
        popupCode = code
        edit { it.copy(violations = it.violations + DraftViolation(code, actId, warning = false, amountYuan = 0)) }
    }

    fun removeViolation(code: String) {
        if (popupCode == code) popupCode = null
        edit { d -> d.copy(violations = d.violations.filterNot { it.code == code }) }
    }

    /**
     * Sets the proposed fine; an amount outside the benchmark range of the tier opens the guidance
     * pop-up (the draft then needs a written justification, which `check_draft` asks for).
     */
    fun setAmount(code: String, yuan: Long, warning: Boolean = false) {
        val g = _state.value.check?.guidance?.violations?.firstOrNull { it.code == code }
        val outside = g != null && ((g.minYuan != null && yuan < g.minYuan!!) || (g.maxYuan != null && yuan > g.maxYuan!!))
        if (outside) popupCode = code
        edit { d ->
            d.copy(violations = d.violations.map { if (it.code == code) it.copy(amountYuan = yuan, warning = warning) else it })
        }
    }

    /** Takes the recommended amount of the guidance for every violation that has one. */
    fun applyRecommended() {
        val g = _state.value.check?.guidance ?: return
        edit { d ->
            d.copy(
                violations = d.violations.map { v ->
                    val vg = g.violations.firstOrNull { it.code == v.code }
                    if (vg?.recommendedYuan != null) v.copy(amountYuan = vg.recommendedYuan!!, warning = vg.recommendedWarning) else v
                },
            )
        }
    }

    fun setJustification(text: String) = edit { it.copy(justification = text) }

    /**
     * Asks whether this is the party's first offence (首违不罚): online against the agency's records
     * when there is signal, else from this device's own cases, flagged `needsRecheck`. The answer goes
     * into the facts — `priorViolations`, and `firstOffenceCheckedOnline` only when the server
     * answered — so an offline answer can never make a violation exempt by itself: the banner then
     * says the online check is still needed.
     */
    suspend fun checkFirstOffence(plate: String, partyId: String? = null): FirstOffence {
        val answer = session.call { it.firstOffence(plate, partyId) }
        _state.update { s ->
            val facts = s.draft.facts.copy(
                priorViolations = answer.priorCases,
                firstOffenceCheckedOnline = answer.checkedOnline && !answer.needsRecheck,
            )
            s.copy(draft = s.draft.copy(facts = facts), version = s.version + 1, firstOffence = answer)
        }
        return answer
    }

    /** Opens the guidance pop-up of one violation. */
    fun openGuidance(code: String) {
        popupCode = code
        _state.update { s -> s.copy(popup = s.check?.guidance?.violations?.firstOrNull { it.code == code }) }
    }

    fun dismissGuidance() {
        popupCode = null
        _state.update { it.copy(popup = null) }
    }

    /** Waits until the state shows the check of the current draft. */
    suspend fun awaitChecked(): PenaltyDraftState = state.first { it.upToDate }

    companion object {
        /** The exemption banner for one violation's guidance, or none when it is not on the list. */
        fun bannerFor(g: ViolationGuidance): ExemptionBanner? {
            val e = g.exemption
            val (title, details) = when (e.status) {
                ExemptionStatus.NOT_LISTED -> return null
                ExemptionStatus.ELIGIBLE -> when (e.outcome) {
                    ExemptionOutcome.MUST_NOT_PENALISE -> "${g.name}：符合免予处罚条件，应当不予行政处罚" to e.documents
                    else -> "${g.name}：符合免予处罚条件，可以不予行政处罚" to e.documents
                }
                ExemptionStatus.NEEDS_ONLINE_CHECK ->
                    "${g.name}：可能适用首违不罚，须联网核实是否初次违法" to e.pending
                ExemptionStatus.NOT_ELIGIBLE -> "${g.name}：列入免罚清单，但以下条件不满足" to e.unmet
                ExemptionStatus.MUST_NOT_PENALISE -> "${g.name}：依法不予行政处罚" to e.unmet
            }
            return ExemptionBanner(g.code, e.status, title, details, e.basis)
        }
    }
}
