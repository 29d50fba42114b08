package cn.roadside.shell

import uniffi.roadside_core.DraftOfficer
import uniffi.roadside_core.EvidenceMeta
import uniffi.roadside_core.Facts
import uniffi.roadside_core.PartyType
import uniffi.roadside_core.PenaltyDraft
import uniffi.roadside_core.ProcedureKind

/** Empty values for the records a screen starts from (the generated constructors have no defaults). */
object Drafts {
    /** Facts of an act on [actDate] (`YYYY-MM-DD`), nothing else known yet. */
    fun facts(actDate: String, partyType: PartyType = PartyType.PERSON): Facts = Facts(
        actDate = actDate,
        partyType = partyType,
        age = null,
        grossWeightKg = null,
        axles = null,
        combination = null,
        singleDriveAxle = null,
        overKg = null,
        heightM = null,
        widthM = null,
        lengthM = null,
        areaM2 = null,
        depthM = null,
        illegalIncomeYuan = null,
        count = null,
        priorViolations = null,
        firstOffenceCheckedOnline = false,
        flags = emptyList(),
        decisionDate = null,
        filingDate = null,
    )

    /** A penalty draft with no violation yet. */
    fun penalty(facts: Facts, officers: List<DraftOfficer>, procedure: ProcedureKind = ProcedureKind.GENERAL) =
        PenaltyDraft(
            facts = facts,
            violations = emptyList(),
            procedure = procedure,
            justification = "",
            officers = officers,
            discoveredOn = null,
            alreadyFinedActs = emptyList(),
            collectOnTheSpot = false,
            hardToCollectLater = false,
        )

    /** Capture metadata with nothing known. */
    fun evidenceMeta(startedAt: String? = null, endedAt: String? = null, important: Boolean = false) =
        EvidenceMeta(
            startedAt = startedAt,
            endedAt = endedAt,
            latitude = null,
            longitude = null,
            clockSource = null,
            important = important,
        )
}
