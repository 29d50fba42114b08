package cn.roadside.shell

import java.nio.file.Path
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.flow.first
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import uniffi.roadside_core.ErrorKind
import uniffi.roadside_core.RoadsideException
import uniffi.roadside_core.defaultSyncOptions
import uniffi.roadside_core.demoRecord

/** Sync from Kotlin against a real `roadside-server` over real HTTP, including cancelling a long sync. */
class SyncTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun `cancelling a long sync, then finishing it`() = runTest {
        val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
        RealServer(dir.resolve("server")).use { server ->
            server.start()
            openSession(dir.resolve("device")).use { session ->
                val sync = SyncStatusModel(session, scope)
                val status0 = checkNotNull(sync.refresh())
                assertNull(status0.enrolment, "not enrolled yet")

                val enrolment = session.core.enrol(server.url, server.enrolmentCode("QH6325000102"), "测试终端")
                assertEquals(server.url, enrolment.serverUrl)
                session.core.createCase(demoRecord(40u))
                assertTrue(session.core.outboxLen() > 0uL)

                // The server goes away: the sync retries with back-off (a long sync) until cancelled.
                server.stop()
                val options = defaultSyncOptions().copy(retryAttempts = 20u, retryBaseMs = 200u, retryMaxMs = 2_000u, requestTimeoutSecs = 5u)
                assertTrue(sync.start(options))
                assertTrue(sync.state.value.running)
                kotlinx.coroutines.delay(1_500)
                assertTrue(sync.state.value.running, "still retrying after 1.5 s: ${sync.state.value.error}")
                val started = System.nanoTime()
                sync.cancel()
                val stopped = sync.awaitIdle()
                val tookMs = (System.nanoTime() - started) / 1_000_000
                assertEquals("SYNC_CANCELLED", stopped.error?.code, "${stopped.error}")
                assertTrue(tookMs < 5_000, "cancel stops the back-off promptly (took $tookMs ms)")
                val afterCancel = sync.state.first { it.status != null && it.status != status0 }.status!!
                assertTrue(afterCancel.outboxLen > 0uL, "nothing was lost: the entries wait in the outbox")

                // The server is back on the same port: the next sync delivers everything.
                RealServer(dir.resolve("server"), server.port).use { again ->
                    again.start()
                    assertTrue(sync.start(null))
                    val done = sync.awaitIdle()
                    assertNull(done.error, "${done.error}")
                    val report = checkNotNull(done.lastReport)
                    assertTrue(report.receipts > 0uL, "$report")
                    assertEquals(0uL, report.outboxLeft)
                    assertEquals(0uL, session.core.outboxLen())
                    val progress = checkNotNull(done.progress) { "the Kotlin observer saw the sync's progress" }
                    assertEquals(progress.recordsTotal, progress.recordsDone, "$progress")
                    val status = checkNotNull(sync.refresh())
                    assertEquals(0uL, status.outboxLen)
                    assertNull(status.lastError, "a successful sync clears the last error")
                }
            }
        }
        scope.cancel()
    }

    @Test
    fun `network errors arrive as typed exceptions`() {
        openSession(dir.resolve("device")).use { session ->
            val port = RealServer.freePort() // nothing listens there
            val e = assertThrows<RoadsideException> { session.core.enrol("http://127.0.0.1:$port", "ABCDEFGHIJKLMNO", "测试终端") }
            assertEquals(ErrorKind.NETWORK, e.kind(), "$e")
            assertTrue(e.code().isNotBlank())
            val notEnrolled = assertThrows<RoadsideException> { session.core.syncNow(null) }
            assertNotNull(notEnrolled.code())
        }
    }
}
