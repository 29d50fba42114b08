package cn.roadside.shell

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.async
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import uniffi.roadside_core.SyncHandle
import uniffi.roadside_core.SyncObserver
import uniffi.roadside_core.SyncOptions
import uniffi.roadside_core.SyncProgress
import uniffi.roadside_core.SyncReport
import uniffi.roadside_core.SyncStatus

/** What the sync screen shows. */
data class SyncUiState(
    /** Outbox, refusals with reasons, pending uploads, last checkpoint, last error (from the core). */
    val status: SyncStatus? = null,
    val running: Boolean = false,
    /** Progress of the running sync (records pushed, bytes uploaded). */
    val progress: SyncProgress? = null,
    val lastReport: SyncReport? = null,
    /** Why the last sync stopped (`SYNC_CANCELLED`, `NETWORK_UNREACHABLE`, `NOT_ENROLLED`…). */
    val error: ShellError? = null,
) {
    /** Fraction for a progress bar: bytes when uploading media, records otherwise. */
    val fraction: Float
        get() {
            val p = progress ?: return 0f
            return when {
                p.bytesTotal > 0uL -> p.bytesDone.toFloat() / p.bytesTotal.toFloat()
                p.recordsTotal > 0uL -> p.recordsDone.toFloat() / p.recordsTotal.toFloat()
                else -> 0f
            }
        }
}

/**
 * Waits for a sync started with `startSync` without blocking the caller's thread; cancelling the
 * coroutine cancels the sync (the core stops at its next network step and keeps what it stored).
 */
suspend fun SyncHandle.await(session: CoreSession): SyncReport = coroutineScope {
    val result = async(session.io) { join() }
    try {
        result.await()
    } catch (e: CancellationException) {
        cancel()
        throw e
    }
}

/**
 * Sync status with progress: runs one sync at a time in the background, shows its progress, lets the
 * officer cancel it, and refreshes the core's sync status when it ends.
 */
class SyncStatusModel(
    private val session: CoreSession,
    private val scope: CoroutineScope,
) {
    private val _state = MutableStateFlow(SyncUiState())
    val state: StateFlow<SyncUiState> = _state.asStateFlow()

    @Volatile
    private var handle: SyncHandle? = null

    @Volatile
    private var cancelRequested = false
    private var job: Job? = null

    /** Reads the core's sync status (outbox, refusals, uploads, last error). */
    suspend fun refresh(): SyncStatus? = try {
        val status = session.call { it.syncStatus() }
        _state.update { it.copy(status = status) }
        status
    } catch (e: Exception) {
        _state.update { it.copy(error = e.toShellError()) }
        null
    }

    /** Starts a sync unless one is running; [options] `null` for the core's defaults. */
    fun start(options: SyncOptions? = null): Boolean {
        var claimed = false
        _state.update {
            claimed = !it.running
            if (claimed) it.copy(running = true, progress = null, error = null) else it
        }
        if (!claimed) return false
        cancelRequested = false
        val observer = object : SyncObserver {
            override fun onProgress(progress: SyncProgress) {
                _state.update { it.copy(progress = progress) }
            }
        }
        job = scope.launch {
            try {
                val h = session.call { it.startSync(options, observer) }
                handle = h
                if (cancelRequested) h.cancel()
                val report = h.await(session)
                _state.update { it.copy(lastReport = report) }
            } catch (e: CancellationException) {
                throw e
            } catch (e: Exception) {
                _state.update { it.copy(error = e.toShellError()) }
            } finally {
                handle?.close()
                handle = null
                _state.update { it.copy(running = false) }
                scope.launch { refresh() }
            }
        }
        return true
    }

    /** Cancels the running sync; the state then shows `SYNC_CANCELLED`. */
    fun cancel() {
        cancelRequested = true
        handle?.cancel()
    }

    /** Waits until no sync is running. */
    suspend fun awaitIdle(): SyncUiState = state.first { !it.running }
}
