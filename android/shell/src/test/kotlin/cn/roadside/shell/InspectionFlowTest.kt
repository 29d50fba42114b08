package cn.roadside.shell

import java.nio.file.Path
import java.security.MessageDigest
import kotlinx.coroutines.cancel
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import uniffi.roadside_core.CaseStatus
import uniffi.roadside_core.EvidenceKind
import uniffi.roadside_core.OfficerRef
import uniffi.roadside_core.demoRecord

/** A whole inspection, draft to finalize, through the shell's state holders on the real core. */
class InspectionFlowTest {
    @TempDir
    lateinit var dir: Path
    private lateinit var session: CoreSession
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    @BeforeEach
    fun open() {
        session = openSession(dir.resolve("store"))
    }

    @AfterEach
    fun close() {
        scope.cancel()
        session.close()
    }

    @Test
    fun `live validation shows issues per field and clears them when fixed`() = runTest {
        val form = InspectionFormModel(session, demoRecord(30u), scope)
        val first = form.awaitValidated()
        assertTrue(first.issues.isEmpty(), "the demo record is valid: ${first.issues}")
        assertTrue(first.canSave)

        form.edit { it.copy(vehicle = it.vehicle!!.copy(plate = "青E1234")) }
        var s = form.awaitValidated()
        assertFalse(s.canSave)
        assertEquals(listOf("vehicle.plate"), s.issues.keys.toList(), "only the plate is wrong: ${s.issues}")
        assertTrue(s.issuesAt("vehicle").isNotEmpty(), "issues under `vehicle` include the plate")

        // An assistant (辅助人员) does not count as an enforcement officer: the roster is checked offline.
        form.edit {
            it.copy(
                vehicle = it.vehicle!!.copy(plate = "青E12345"),
                officers = listOf(OfficerRef("赵小兵", "QH6325210299"), it.officers[1]),
            )
        }
        s = form.awaitValidated()
        assertTrue(s.issuesAt("officers").isNotEmpty(), "assistant refused: ${s.issues}")
        assertTrue(s.issues.keys.all { it.startsWith("officers") }, "${s.issues}")

        form.edit { it.copy(officers = demoRecord(30u).officers) }
        s = form.awaitValidated()
        assertTrue(s.issues.isEmpty(), "${s.issues}")
    }

    @Test
    fun `draft to finalize with evidence`() = runTest {
        val form = InspectionFormModel(session, demoRecord(40u), scope)
        form.awaitValidated()

        // Saving an invalid draft is refused with the field's issue; nothing is stored.
        form.edit { it.copy(recorder = "") }
        assertNull(form.save())
        val refused = form.state.value
        assertNotNull(refused.error)
        assertTrue(refused.issuesAt("recorder").isNotEmpty(), "${refused.error}")
        assertEquals(0uL, session.core.outboxLen())

        form.edit { it.copy(recorder = "李明") }
        val case = form.save()
        assertNotNull(case, "${form.state.value.error}")
        assertEquals(CaseStatus.DRAFT, case!!.status)
        assertEquals(1u, case.records)
        assertEquals(1u, form.state.value.recordVersion)

        // Editing and saving again amends the record: version 2, still one record in the case.
        form.edit { it.copy(remarks = "当事人对称重结果无异议") }
        val amended = form.save()
        assertEquals(1u, amended!!.records, "${form.state.value.error}")
        assertEquals(2u, form.state.value.recordVersion)
        assertEquals("当事人对称重结果无异议", session.core.caseDetail(case.id).records.single().record.remarks)

        // Evidence: hashed by the core with progress, declared in a signed entry.
        val video = randomFile(dir, "clip.mp4", 3 * 1024 * 1024 + 17)
        val queue = EvidenceQueue(session, case.id, scope)
        val id = queue.enqueue(video.toString(), EvidenceKind.VIDEO, Drafts.evidenceMeta(important = true))
        val item = queue.await(id)
        assertEquals(CaptureStatus.DECLARED, item.status, "${item.error}")
        val sha = MessageDigest.getInstance("SHA-256").digest(java.nio.file.Files.readAllBytes(video))
            .joinToString("") { "%02x".format(it) }
        assertEquals(sha, item.info!!.sha256)
        assertEquals(item.total, item.done)
        assertEquals(java.nio.file.Files.size(video), item.total)

        val done = form.finalizeCase()
        assertNotNull(done, "${form.state.value.error}")
        assertEquals(CaseStatus.FINALIZED, done!!.status)
        assertEquals(1u, done.evidence)

        val detail = session.core.caseDetail(case.id)
        assertEquals(1, detail.records.size)
        assertEquals(1, detail.evidence.size)
        val report = session.core.verifyLedger()
        assertTrue(report.ok, "$report")
        assertTrue(session.core.outboxLen() >= 3uL, "create, evidence and finalize entries wait for sync")

        // A finalized case takes no more records: a Conflict with its code.
        form.edit { it.copy(situation = it.situation + "（补充）") }
        assertNull(form.save())
        assertEquals("CASE_FINALIZED", form.state.value.error?.code, "${form.state.value.error}")
    }
}
