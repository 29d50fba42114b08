package cn.roadside.shell

import java.nio.file.Files
import java.nio.file.Path
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import uniffi.roadside_core.GuidanceRequest
import uniffi.roadside_core.InternalException
import uniffi.roadside_core.RoadsideCore
import uniffi.roadside_core.ErrorKind
import uniffi.roadside_core.RoadsideException
import uniffi.roadside_core.RulesEngine
import uniffi.roadside_core.debugPanic
import uniffi.roadside_core.demoRecord
import uniffi.roadside_core.hashEvidenceFile
import uniffi.roadside_core.recordFromJson
import uniffi.roadside_core.recordToJson

/**
 * Every error category the core raises reaches Kotlin as a typed exception with its stable code and
 * its Chinese message; a panic in the core is an exception, and the core keeps working after it.
 */
class ErrorsTest {
    @TempDir
    lateinit var dir: Path

    private fun assertChinese(text: String) =
        assertTrue(text.any { Character.UnicodeScript.of(it.code) == Character.UnicodeScript.HAN }, "Chinese message: $text")

    @Test
    fun `Invalid carries every issue with its field path`() {
        openSession(dir).use { s ->
            val bad = demoRecord(45u).let { it.copy(vehicle = it.vehicle!!.copy(plate = "X"), recorder = "") }
            val e = assertCoreError(ErrorKind.INVALID) { s.core.createCase(bad) }
            assertEquals("VALIDATION_FAILED", e.code())
            val paths = e.issues().map { it.path }.toSet()
            assertTrue("vehicle.plate" in paths && "recorder" in paths, "$paths")
            assertChinese(e.reason())
            assertEquals(0uL, s.core.outboxLen(), "nothing stored")
            assertEquals(ShellError(e.code(), e.reason(), e.issues()), e.toShellError())
        }
        val json = assertCoreError(ErrorKind.INVALID) { recordFromJson("{\n  \"kind\": ,\n}") }
        assertEquals("JSON_MALFORMED", json.code())
        assertTrue(json.reason().contains("第 2 行"), json.reason())
        val unknown = assertCoreError(ErrorKind.INVALID) {
            recordFromJson(recordToJson(demoRecord(45u)).replaceFirst("{", "{\"colour\":\"red\","))
        }
        assertEquals("JSON_SCHEMA", unknown.code())
        assertEquals(demoRecord(45u).vehicle, recordFromJson(recordToJson(demoRecord(45u))).vehicle)
    }

    @Test
    fun `NotFound`() {
        openSession(dir).use { s ->
            val e = assertCoreError(ErrorKind.NOT_FOUND) { s.core.caseDetail("no-such-case") }
            assertEquals("CASE_NOT_FOUND", e.code())
            assertChinese(e.reason())
        }
        RulesEngine.bundled().use { rules ->
            val e = assertThrows<RoadsideException> { rules.item("NO-SUCH-CODE") }
            assertEquals("RULE_NOT_FOUND", e.code())
        }
    }

    @Test
    fun `Conflict`() {
        openSession(dir).use { s ->
            val case = s.core.createCase(demoRecord(30u))
            s.core.finalizeCase(case.id)
            val e = assertCoreError(ErrorKind.CONFLICT) { s.core.voidCase(case.id, "测试") .let { s.core.addRecord(case.id, demoRecord(45u)) } }
            assertTrue(e.code() == "CASE_FINALIZED" || e.code() == "CASE_VOIDED", e.code())
            assertChinese(e.reason())
        }
    }

    @Test
    fun `Key and Internal from the secret provider`() {
        RoadsideCore.open(dir.toString(), FixedKey.random()).close()
        assertEquals("STORE_WRONG_KEY", assertCoreError(ErrorKind.KEY) { RoadsideCore.open(dir.toString(), FixedKey.random()) }.code())
        val failing = object : uniffi.roadside_core.SecretProvider {
            override fun databaseKey(): ByteArray = error("no key")
        }
        val e = assertCoreError(ErrorKind.INTERNAL) { RoadsideCore.open(dir.toString(), failing) }
        assertEquals("PLATFORM_CALLBACK_FAILED", e.code())
        assertChinese(e.reason())
    }

    /**
     * The bindings reuse per-thread call scratch, status included (UniffiFfiCall,
     * uniffi-bindgen/src/ffibuffer.rs). A Kotlin callback that calls the core again while the core
     * is calling it gets its own scratch; a failed call leaves nothing behind for the next: errors
     * and successes alternate cleanly, nested or not.
     */
    @Test
    fun `calls made from inside a callback and after errors keep their own status`() {
        RulesEngine.bundled().use { rules ->
            val nested = mutableListOf<String>()
            val reentrant = object : uniffi.roadside_core.SecretProvider {
                override fun databaseKey(): ByteArray {
                    // Inside the core's call to us: a failing and a succeeding core call.
                    nested += assertThrows<RoadsideException> { rules.item("NO-SUCH-CODE") }.code()
                    nested += rules.item("CX-43-2").code
                    return FixedKey.random().databaseKey()
                }
            }
            RoadsideCore.open(dir.toString(), reentrant).use { it.deviceId() }
            assertEquals(listOf("RULE_NOT_FOUND", "CX-43-2"), nested)
            repeat(3) {
                assertEquals("RULE_NOT_FOUND", assertThrows<RoadsideException> { rules.item("NO-SUCH-CODE") }.code())
                assertEquals("CX-43-2", rules.item("CX-43-2").code)
                assertThrows<InternalException> { debugPanic("after an error") }
                assertEquals("CX-43-2", rules.item("CX-43-2").code)
            }
        }
    }

    @Test
    fun `Store when the data directory cannot be created`() {
        val file = Files.writeString(dir.resolve("not-a-dir"), "x")
        val e = assertCoreError(ErrorKind.STORE) { RoadsideCore.open(file.resolve("sub").toString(), FixedKey.random()) }
        assertEquals("STORE_DIR", e.code())
        assertTrue(e.reason().contains("not-a-dir"), "the message names the path: ${e.reason()}")
    }

    @Test
    fun `Evidence`() {
        val e = assertCoreError(ErrorKind.EVIDENCE) { hashEvidenceFile(dir.resolve("missing.mp4").toString(), null) }
        assertEquals("EVIDENCE_NOT_FOUND", e.code())
        assertTrue(e.reason().contains("missing.mp4"), e.reason())
        val d = assertCoreError(ErrorKind.EVIDENCE) { hashEvidenceFile(dir.toString(), null) }
        assertEquals("EVIDENCE_NOT_A_FILE", d.code())
    }

    @Test
    fun `Rules`() {
        RulesEngine.bundled().use { rules ->
            val e = assertCoreError(ErrorKind.RULES) { rules.importFile(dir.resolve("x.toml").toString()) }
            assertEquals("RULES_NO_DATA_DIR", e.code())
            assertChinese(e.reason())
            val facts = Drafts.facts("2026-02-10").copy(grossWeightKg = -1.0)
            val bad = assertCoreError(ErrorKind.INVALID) { rules.guide(GuidanceRequest(listOf("CX-43-2"), facts)) }
            assertTrue(bad.issues().any { it.path == "facts.gross_weight_kg" }, "${bad.issues()}")
        }
        // An agency file that does not parse is refused and the current data is kept.
        val ref = Files.createDirectories(dir.resolve("data"))
        RulesEngine.open(ref.toString()).use { rules ->
            val broken = Files.writeString(dir.resolve("broken.toml"), "[meta\nkind = ")
            val e = assertThrows<RoadsideException> { rules.importFile(broken.toString()) }
            assertTrue(e.code().isNotBlank())
            assertTrue(rules.search("超限", 5u).isNotEmpty(), "current data kept")
        }
    }

    @Test
    fun `a panic in the core is an exception, not a crash, and the core keeps working`() {
        val e = assertThrows<InternalException> { debugPanic("测试用的崩溃") }
        assertTrue(e.message!!.contains("测试用的崩溃"), e.message)
        assertEquals(CORE_PANIC, e.toShellError().code)
        openSession(dir).use { s ->
            repeat(3) { assertThrows<InternalException> { debugPanic("again $it") } }
            assertEquals(1u, s.core.createCase(demoRecord(45u)).records)
            assertTrue(s.core.verifyLedger().ok)
        }
    }
}
