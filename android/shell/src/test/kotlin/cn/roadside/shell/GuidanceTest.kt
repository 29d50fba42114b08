package cn.roadside.shell

import java.nio.file.Path
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import uniffi.roadside_core.DraftOfficer
import uniffi.roadside_core.ExemptionOutcome
import uniffi.roadside_core.ExemptionStatus
import uniffi.roadside_core.Facts
import uniffi.roadside_core.GuidanceRequest
import uniffi.roadside_core.TierLevel

/** Discretion guidance and exemption checks from Kotlin, on the shipped reference data. */
class GuidanceTest {
    @TempDir
    lateinit var dir: Path
    private lateinit var session: CoreSession
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    private val officers = listOf(
        DraftOfficer("才让多杰", "QH6325000101"),
        DraftOfficer("李明", "QH6325000102"),
    )

    @BeforeEach
    fun open() {
        session = openSession(dir)
    }

    @AfterEach
    fun close() {
        scope.cancel()
        session.close()
    }

    private fun overloadFacts(): Facts = Drafts.facts("2026-02-10").copy(
        decisionDate = "2026-03-02",
        grossWeightKg = 21_350.0,
        axles = 2u,
        priorViolations = 0u,
    )

    @Test
    fun `guidance for an overloaded two-axle truck (超限)`() {
        val g = session.rules.guide(GuidanceRequest(listOf("CX-43-2"), overloadFacts()))
        val v = g.violations.single()
        assertEquals("CX-43-2", v.code)
        assertEquals(TierLevel.ORDINARY, v.tier)
        // 3,350 kg over; the part tonne is not counted → 3 × 500 元.
        assertEquals(1500L, v.recommendedYuan)
        assertTrue(v.fixedByFormula)
        assertTrue(v.reasons.joinToString("").contains("3350"), "${v.reasons}")
        assertTrue(v.reasons.joinToString("").contains("第四十三条"), "${v.reasons}")
        assertEquals(1500L, g.totalRecommendedYuan)
        assertFalse(g.procedure.summaryAllowed)
        assertTrue(g.deadlines.any { it.id == "overload_notice" })
        assertTrue(g.reasoning.isNotBlank())
    }

    @Test
    fun `penalty draft opens the guidance pop-up and flags an amount outside the benchmark`() = runTest {
        val model = PenaltyDraftModel(session, Drafts.penalty(overloadFacts(), officers), scope)
        model.addViolation("CX-43-2")
        var s = model.awaitChecked()
        assertNull(s.error, "${s.error}")
        val popup = checkNotNull(s.popup) { "adding a violation opens its guidance" }
        assertEquals(1500L, popup.recommendedYuan)
        assertTrue(s.banners.isEmpty(), "超限 is not on the exemption list: ${s.banners}")

        model.applyRecommended()
        s = model.awaitChecked()
        assertEquals(1500L, s.draft.violations.single().amountYuan)
        assertEquals(1500L, s.check!!.totalFineYuan)
        assertTrue(s.check!!.ok, "the recommended amount passes: ${s.check!!.errors}")

        model.dismissGuidance()
        assertNull(model.state.value.popup)
        model.setAmount("CX-43-2", 20_000)
        s = model.awaitChecked()
        assertFalse(s.check!!.ok)
        assertTrue(s.check!!.errors.any { it.code.startsWith("AMOUNT_") }, "${s.check!!.errors}")
        assertTrue(s.check!!.errors.all { it.path.startsWith("violations") }, "${s.check!!.errors}")
        assertNotNull(s.popup, "an amount outside the range reopens the guidance")
    }

    @Test
    fun `bad facts come back as issues on their fields`() = runTest {
        val model = PenaltyDraftModel(session, Drafts.penalty(overloadFacts().copy(grossWeightKg = -5.0), officers), scope)
        model.addViolation("CX-43-2")
        val s = model.awaitChecked()
        val e = checkNotNull(s.error) { "bad facts are refused" }
        assertTrue(e.issues.any { it.path == "facts.gross_weight_kg" }, "${e.issues}")
    }

    @Test
    fun `exemption check (轻微违法免罚清单) and its banner`() = runTest {
        val base = Drafts.facts("2026-02-10").copy(
            decisionDate = "2026-03-02",
            priorViolations = 0u,
            firstOffenceCheckedOnline = true,
            flags = listOf("reloaded", "slight_harm", "no_accident", "no_congestion"),
        )
        fun exemption(f: Facts) = session.rules.guide(GuidanceRequest(listOf("GB-69"), f)).violations.single().exemption

        val unmet = exemption(base)
        assertEquals(ExemptionStatus.NOT_ELIGIBLE, unmet.status)
        assertEquals(listOf("在规定期限内清除、修复或者承担相关费用"), unmet.unmet)

        val eligible = exemption(base.copy(flags = base.flags + "cleaned_or_paid"))
        assertEquals(ExemptionStatus.ELIGIBLE, eligible.status)
        assertEquals(ExemptionOutcome.MAY_NOT_PENALISE, eligible.outcome)
        assertTrue(eligible.documents.any { it.contains("告知承诺书") }, "${eligible.documents}")

        val online = exemption(base.copy(flags = base.flags + "cleaned_or_paid", firstOffenceCheckedOnline = false))
        assertEquals(ExemptionStatus.NEEDS_ONLINE_CHECK, online.status)

        assertEquals(ExemptionStatus.MUST_NOT_PENALISE, exemption(base.copy(age = 13u)).status)

        // The draft screen shows the banner.
        val model = PenaltyDraftModel(session, Drafts.penalty(base.copy(flags = base.flags + "cleaned_or_paid"), officers), scope)
        model.addViolation("GB-69")
        val banner = model.awaitChecked().banners.single()
        assertEquals("GB-69", banner.violationCode)
        assertEquals(ExemptionStatus.ELIGIBLE, banner.status)
        assertTrue(banner.blocksFine)
        assertTrue(banner.title.contains("不予行政处罚"), banner.title)
        assertTrue(banner.basis.isNotBlank())

        model.setFacts(base)
        val notEligible = model.awaitChecked().banners.single()
        assertEquals(ExemptionStatus.NOT_ELIGIBLE, notEligible.status)
        assertFalse(notEligible.blocksFine)
        assertEquals(listOf("在规定期限内清除、修复或者承担相关费用"), notEligible.details)
    }

    @Test
    fun `a first-offence answer from the device alone never exempts, the banner asks for the online check`() = runTest {
        val base = Drafts.facts("2026-02-10").copy(
            decisionDate = "2026-03-02",
            priorViolations = 0u,
            firstOffenceCheckedOnline = true,
            flags = listOf("reloaded", "slight_harm", "no_accident", "no_congestion", "cleaned_or_paid"),
        )
        val model = PenaltyDraftModel(session, Drafts.penalty(base, officers), scope)
        model.addViolation("GB-69")
        assertEquals(ExemptionStatus.ELIGIBLE, model.awaitChecked().banners.single().status)

        // This device is not enrolled: the core answers from its own records and flags the answer.
        val answer = model.checkFirstOffence("青E12345")
        assertFalse(answer.checkedOnline)
        assertTrue(answer.needsRecheck)
        assertEquals("NOT_ENROLLED", answer.reasonCode)
        assertEquals(0u, answer.priorCases)

        val s = model.awaitChecked()
        assertEquals(answer, s.firstOffence)
        assertFalse(s.draft.facts.firstOffenceCheckedOnline)
        val banner = s.banners.single()
        assertEquals(ExemptionStatus.NEEDS_ONLINE_CHECK, banner.status)
        assertFalse(banner.blocksFine)
        assertTrue(banner.title.contains("联网核实"), banner.title)

        // A malformed plate is refused with its code, before any query.
        val e = runCatching { model.checkFirstOffence("X") }.exceptionOrNull()
        assertNotNull(e)
        assertTrue(e!!.toShellError().code.startsWith("PLATE_"), "${e.toShellError()}")
    }
}
