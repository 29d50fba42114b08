package cn.roadside.shell

import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicLong
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import uniffi.roadside_core.EvidenceInfo
import uniffi.roadside_core.EvidenceKind
import uniffi.roadside_core.EvidenceMeta
import uniffi.roadside_core.ProgressObserver

enum class CaptureStatus { QUEUED, HASHING, DECLARED, FAILED, CANCELLED }

/** One file in the capture queue. */
data class CaptureItem(
    val id: Long,
    val path: String,
    val kind: EvidenceKind,
    val meta: EvidenceMeta,
    val status: CaptureStatus = CaptureStatus.QUEUED,
    /** Bytes hashed so far and the file size (from the core's progress observer). */
    val done: Long = 0,
    val total: Long = 0,
    /** The declared evidence (hash, size, ledger entry) once [CaptureStatus.DECLARED]. */
    val info: EvidenceInfo? = null,
    val error: ShellError? = null,
) {
    val fraction: Float get() = if (total <= 0) 0f else done.toFloat() / total.toFloat()
    val finished: Boolean get() = status == CaptureStatus.DECLARED || status == CaptureStatus.FAILED ||
        status == CaptureStatus.CANCELLED
}

/**
 * The evidence capture queue of one case: files are hashed by the core one at a time (streaming
 * SHA-256 plus the chunk manifest, with progress) and declared in a signed ledger entry as soon as
 * they are hashed, before any upload. An item can be cancelled while queued or while hashing; the
 * core then stores nothing for it (`EVIDENCE_CANCELLED`).
 */
class EvidenceQueue(
    private val session: CoreSession,
    private val caseId: String,
    scope: CoroutineScope,
) {
    private val _items = MutableStateFlow<List<CaptureItem>>(emptyList())
    val items: StateFlow<List<CaptureItem>> = _items.asStateFlow()

    private val ids = AtomicLong()
    private val cancelled = ConcurrentHashMap.newKeySet<Long>()
    private val work = Channel<Long>(Channel.UNLIMITED)

    init {
        scope.launch {
            for (id in work) process(id)
        }
    }

    /** Adds a captured file; returns the item id. */
    fun enqueue(path: String, kind: EvidenceKind, meta: EvidenceMeta): Long {
        val id = ids.incrementAndGet()
        _items.update { it + CaptureItem(id, path, kind, meta) }
        work.trySend(id)
        return id
    }

    /** Cancels an item that is queued or being hashed. */
    fun cancel(id: Long) {
        cancelled.add(id)
        set(id) { if (it.status == CaptureStatus.QUEUED) it.copy(status = CaptureStatus.CANCELLED) else it }
    }

    /** Waits until the item is declared, failed or cancelled. */
    suspend fun await(id: Long): CaptureItem = items.first { list -> list.any { it.id == id && it.finished } }
        .first { it.id == id }

    private suspend fun process(id: Long) {
        val item = _items.value.firstOrNull { it.id == id } ?: return
        if (item.status != CaptureStatus.QUEUED) return
        set(id) { it.copy(status = CaptureStatus.HASHING) }
        val observer = object : ProgressObserver {
            override fun onProgress(done: ULong, total: ULong): Boolean {
                set(id) { it.copy(done = done.toLong(), total = total.toLong()) }
                return id !in cancelled
            }
        }
        try {
            val info = session.call { it.attachEvidence(caseId, item.path, item.kind, item.meta, observer) }
            set(id) { it.copy(status = CaptureStatus.DECLARED, info = info, done = info.size.toLong(), total = info.size.toLong()) }
        } catch (e: Exception) {
            val err = e.toShellError()
            val status = if (err.code == "EVIDENCE_CANCELLED") CaptureStatus.CANCELLED else CaptureStatus.FAILED
            set(id) { it.copy(status = status, error = err) }
        }
    }

    private fun set(id: Long, change: (CaptureItem) -> CaptureItem) {
        _items.update { list -> list.map { if (it.id == id) change(it) else it } }
    }
}
