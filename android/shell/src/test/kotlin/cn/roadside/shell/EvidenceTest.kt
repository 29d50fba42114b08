package cn.roadside.shell

import java.nio.file.Files
import java.nio.file.Path
import java.security.MessageDigest
import java.util.concurrent.CopyOnWriteArrayList
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import uniffi.roadside_core.EvidenceKind
import uniffi.roadside_core.EvidenceRecorder
import uniffi.roadside_core.ProgressObserver
import uniffi.roadside_core.ErrorKind
import uniffi.roadside_core.demoRecord
import uniffi.roadside_core.hashEvidenceFile

/** Evidence hashing through the FFI, checked against the JDK's own SHA-256. */
class EvidenceTest {
    @TempDir
    lateinit var dir: Path

    private fun sha256Hex(bytes: ByteArray): String =
        MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { "%02x".format(it) }

    @Test
    fun `hashing a file through the core matches java security MessageDigest`() {
        for (size in listOf(0, 1, 1024 * 1024, 5 * 1024 * 1024 + 3)) {
            val file = randomFile(dir, "f$size.bin", size, seed = size.toLong())
            val progress = CopyOnWriteArrayList<Pair<ULong, ULong>>()
            val digest = hashEvidenceFile(
                file.toString(),
                object : ProgressObserver {
                    override fun onProgress(done: ULong, total: ULong): Boolean {
                        progress.add(done to total)
                        return true
                    }
                },
            )
            assertEquals(sha256Hex(Files.readAllBytes(file)), digest.sha256, "size $size")
            assertEquals(size.toULong(), digest.size)
            if (size > 0) {
                assertEquals(size.toULong(), progress.last().first, "progress reaches the end")
                assertTrue(progress.all { it.second == size.toULong() }, "total is the file size")
                assertTrue(progress.zipWithNext().all { (a, b) -> a.first <= b.first }, "progress only grows")
            }
        }
    }

    @Test
    fun `a recorder fed while recording gives the same digest as the file`() {
        val file = randomFile(dir, "rec.bin", 2 * 1024 * 1024 + 5)
        val bytes = Files.readAllBytes(file)
        EvidenceRecorder().use { rec ->
            bytes.toList().chunked(64 * 1024).forEach { rec.push(it.toByteArray()) }
            assertEquals(bytes.size.toULong(), rec.bytesSeen())
            val d = rec.finish()
            assertEquals(hashEvidenceFile(file.toString(), null), d)
            val e = assertCoreError(ErrorKind.CONFLICT) { rec.push(byteArrayOf(1)) }
            assertEquals("RECORDER_FINISHED", e.code())
        }
    }

    @Test
    fun `cancelling from the observer stops hashing with EVIDENCE_CANCELLED`() {
        val file = randomFile(dir, "big.bin", 8 * 1024 * 1024)
        val e = assertCoreError(ErrorKind.EVIDENCE) {
            hashEvidenceFile(
                file.toString(),
                object : ProgressObserver {
                    override fun onProgress(done: ULong, total: ULong) = done < 1024uL * 1024uL
                },
            )
        }
        assertEquals("EVIDENCE_CANCELLED", e.code())
    }

    @Test
    fun `the capture queue declares files in order and can cancel one`() = runTest {
        val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
        openSession(dir.resolve("store")).use { session ->
            val case = session.core.createCase(demoRecord(45u))
            val queue = EvidenceQueue(session, case.id, scope)
            val a = queue.enqueue(randomFile(dir, "a.jpg", 300_000).toString(), EvidenceKind.PHOTO, Drafts.evidenceMeta())
            val b = queue.enqueue(randomFile(dir, "b.m4a", 200_000).toString(), EvidenceKind.AUDIO, Drafts.evidenceMeta())
            val missing = queue.enqueue(dir.resolve("gone.mp4").toString(), EvidenceKind.VIDEO, Drafts.evidenceMeta())
            val c = queue.enqueue(randomFile(dir, "c.mp4", 100_000).toString(), EvidenceKind.VIDEO, Drafts.evidenceMeta())
            queue.cancel(c)
            assertEquals(CaptureStatus.DECLARED, queue.await(a).status)
            assertEquals(CaptureStatus.DECLARED, queue.await(b).status)
            val failed = queue.await(missing)
            assertEquals(CaptureStatus.FAILED, failed.status)
            assertEquals("EVIDENCE_NOT_FOUND", failed.error?.code)
            assertEquals(CaptureStatus.CANCELLED, queue.await(c).status)
            assertEquals(2, session.core.caseDetail(case.id).evidence.size)
            scope.cancel()
        }
    }
}
