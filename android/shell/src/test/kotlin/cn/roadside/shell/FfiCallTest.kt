package cn.roadside.shell

import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import uniffi.roadside_core.EvidenceRecorder
import uniffi.roadside_core.GuidanceRequest
import uniffi.roadside_core.RoadsideException
import uniffi.roadside_core.RulesEngine

/**
 * The generated bindings call the core through FFI-buffer twins with per-thread scratch memory
 * (uniffi-bindgen/src/ffibuffer.rs). These tests hold that path to what the plain one promised:
 * every thread gets its own answers, errors keep their codes between successes, and buffers of
 * every size arrive intact.
 */
class FfiCallTest {
    private fun request(weightKg: Double, code: String = "CX-43-2") = GuidanceRequest(
        listOf(code),
        Drafts.facts("2026-02-10").copy(
            decisionDate = "2026-03-02",
            grossWeightKg = weightKg,
            axles = 2u,
            priorViolations = 0u,
        ),
    )

    @Test
    fun `threads calling at once each get their own answer and their own errors`() {
        RulesEngine.bundled().use { rules ->
            val weights = List(8) { 18_400.0 + 1_000.0 * it }
            // The answers, computed one at a time first.
            val expected = weights.map { rules.guide(request(it)) }
            assertEquals(weights.size, expected.map { it.totalRecommendedYuan }.toSet().size, "distinct answers")

            val pool = Executors.newFixedThreadPool(weights.size)
            val start = CountDownLatch(1)
            val failures = java.util.concurrent.ConcurrentLinkedQueue<String>()
            try {
                weights.forEachIndexed { t, w ->
                    pool.execute {
                        start.await()
                        repeat(400) { i ->
                            try {
                                if (i % 7 == t % 7) {
                                    val e = assertThrows<RoadsideException> { rules.guide(request(w, "NO-SUCH-$t")) }
                                    if (e.code().isBlank()) failures.add("thread $t: error without a code")
                                } else {
                                    val g = rules.guide(request(w))
                                    if (g != expected[t]) failures.add("thread $t call $i: another thread's answer (${g.totalRecommendedYuan})")
                                }
                            } catch (e: Throwable) {
                                failures.add("thread $t call $i: $e")
                            }
                        }
                    }
                }
                start.countDown()
                pool.shutdown()
                assertTrue(pool.awaitTermination(120, TimeUnit.SECONDS), "threads finished")
            } finally {
                pool.shutdownNow()
            }
            assertTrue(failures.isEmpty(), failures.take(5).joinToString("\n"))
        }
    }

    @Test
    fun `byte arrays of every size cross intact`() {
        // Sizes around the element and page boundaries; what Rust counts and hashes comes back.
        // (Text of every width: BindingsTest.)
        val sha = java.security.MessageDigest.getInstance("SHA-256")
        EvidenceRecorder().use { rec ->
            var total = 0uL
            for (size in listOf(0, 1, 7, 8, 24, 4_095, 4_096, 65_537, 1 shl 20)) {
                val bytes = ByteArray(size) { (it * 31 + size).toByte() }
                rec.push(bytes)
                sha.update(bytes)
                total += size.toULong()
                assertEquals(total, rec.bytesSeen())
            }
            val digest = rec.finish()
            assertEquals(total, digest.size)
            assertEquals(sha.digest().joinToString("") { "%02x".format(it) }, digest.sha256)
        }
    }
}
