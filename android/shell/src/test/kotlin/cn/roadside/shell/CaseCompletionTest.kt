package cn.roadside.shell

import java.nio.file.Path
import java.security.MessageDigest
import java.time.LocalDate
import java.time.OffsetDateTime
import java.time.ZoneOffset
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import uniffi.roadside_core.CaseStatus
import uniffi.roadside_core.CloseReason
import uniffi.roadside_core.DocType
import uniffi.roadside_core.DocumentRenderer
import uniffi.roadside_core.DraftOfficer
import uniffi.roadside_core.DraftViolation
import uniffi.roadside_core.EntryKind
import uniffi.roadside_core.NextStep
import uniffi.roadside_core.NumberBlock
import uniffi.roadside_core.Party
import uniffi.roadside_core.PartyType
import uniffi.roadside_core.PaymentInput
import uniffi.roadside_core.PaymentMethod
import uniffi.roadside_core.PenaltyDecisionInput
import uniffi.roadside_core.ProcedureKind
import uniffi.roadside_core.demoRecord

/** A summary penalty taken to its close through the shell's state holder, on the real core. */
class CaseCompletionTest {
    @TempDir
    lateinit var dir: Path
    private lateinit var session: CoreSession

    private val today: String = LocalDate.now(ZoneOffset.ofHours(8)).toString()
    private val officers = listOf(DraftOfficer("才让多杰", "QH6325000101"), DraftOfficer("李明", "QH6325000102"))

    @BeforeEach
    fun open() {
        session = openSession(dir.resolve("store"))
        val year = LocalDate.now(ZoneOffset.ofHours(8)).year
        session.core.addNumberBlock(NumberBlock("632500", year, 1u, 100u, "青海南交执", "海南藏族自治州交通运输综合行政执法支队"))
    }

    @AfterEach
    fun close() = session.close()

    private fun decision(amount: Long): PenaltyDecisionInput {
        val facts = Drafts.facts(today, PartyType.ORGANISATION).copy(grossWeightKg = 21_350.0, axles = 2u, combination = false)
        val draft = Drafts.penalty(facts, officers, ProcedureKind.SUMMARY)
            .copy(violations = listOf(DraftViolation("CX-43-2", "r1", warning = false, amountYuan = amount)))
        return PenaltyDecisionInput(
            draft = draft,
            party = Party.Organisation("青海某物流有限公司", "9144030071526726XG", null, null, "韩建国"),
            factsText = "车货总质量21350千克，超过限定标准3350千克",
            rightsTold = true,
        )
    }

    @Test
    fun `decide, deliver, pay and close a summary penalty`() = runTest {
        val case = session.core.createCase(demoRecord(60u))
        session.core.finalizeCase(case.id)
        val model = CaseCompletionModel(session, case.id)
        assertEquals(NextStep.DECIDE, model.refresh().progress!!.next)

        // Refused: above the legal maximum and the summary limit; every issue shown, nothing stored.
        val refused = model.decide(decision(9_000_000))
        assertTrue(refused.isFailure)
        val codes = model.state.value.error!!.issues.map { it.code }
        assertTrue("AMOUNT_ABOVE_LEGAL_MAX" in codes && "SUMMARY_NOT_ALLOWED" in codes, "$codes")
        assertTrue(model.state.value.steps.isEmpty())

        val recommended = session.rules.checkDraft(decision(0).draft, session.core.roster())
            .guidance.violations.single().recommendedYuan!!
        val decided = model.decide(decision(recommended)).getOrThrow()
        assertEquals(EntryKind.DECISION_PENALTY, decided.kind)
        val number = decided.number!!
        assertTrue(number.startsWith("青海南交执罚〔"), number)
        var s = model.state.value
        assertNull(s.error)
        assertEquals(NextStep.DELIVER, s.progress!!.next)
        assertEquals(listOf(number), s.progress!!.undelivered)

        // The decision document, signed on the pad by the party; the officers' blocks refused-free.
        val pad = SignatureCapture(400f, 160f)
        val t = 1_000L
        pad.down(20f, 80f, t, 0.4f)
        for (i in 1..60) pad.move(20f + i * 5f, 80f + ((i % 10) - 5) * 6f, t + i * 8L, 0.5f)
        pad.up()
        val renderer = DocumentRenderer.system()
        val now = OffsetDateTime.now(ZoneOffset.ofHours(8)).toString()
        val doc = model.issue(renderer, DocType.SUMMARY_DECISION, listOf(pad.toInput("当事人", "韩建国", now))).getOrThrow()
        assertEquals(number, doc.number)
        assertEquals("%PDF", String(doc.pdf.copyOfRange(0, 4), Charsets.US_ASCII))
        val sha = MessageDigest.getInstance("SHA-256").digest(doc.pdf).joinToString("") { "%02x".format(it) }
        assertEquals(sha, doc.sha256, "the ledger holds the hash of the exact bytes shown")
        assertTrue(session.core.reprintDocument(case.id, number, renderer).contentEquals(doc.pdf))
        // A pad with nothing on it is refused by the core.
        val empty = model.issue(renderer, DocType.SITE_RECORD, listOf(SignatureCapture(400f, 160f).toInput("当事人", "韩建国", now)))
        assertTrue(empty.isFailure)
        assertEquals("SIGNATURE_EMPTY", model.state.value.error!!.issues.firstOrNull()?.code ?: model.state.value.error!!.code)

        model.deliverInPerson(number, "韩建国", "法定代表人", now).getOrThrow()
        assertEquals(NextStep.PAY, model.state.value.progress!!.next)
        model.pay(PaymentInput(number, PaymentMethod.BANK, "6228480012345678", recommended, 0, today)).getOrThrow()
        assertEquals(NextStep.CLOSE, model.state.value.progress!!.next)
        model.close(CloseReason.EXECUTED).getOrThrow()
        s = model.state.value
        assertEquals(NextStep.DONE, s.progress!!.next)
        assertEquals(CaseStatus.CLOSED, s.progress!!.status)
        assertEquals(
            listOf(EntryKind.DECISION_PENALTY, EntryKind.DOCUMENT_ISSUE, EntryKind.DELIVERY_RECORD, EntryKind.PAYMENT_RECORD, EntryKind.CASE_CLOSE),
            s.steps.map { it.kind },
        )
        assertNotNull(session.core.verifyStore().takeIf { it.ok })
    }
}
