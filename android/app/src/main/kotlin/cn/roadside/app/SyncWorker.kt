package cn.roadside.app

import android.content.Context
import androidx.work.CoroutineWorker
import androidx.work.WorkerParameters
import androidx.work.workDataOf
import cn.roadside.shell.await
import uniffi.roadside_core.ErrorKind
import uniffi.roadside_core.RoadsideException
import uniffi.roadside_core.SyncObserver
import uniffi.roadside_core.SyncProgress

/**
 * Background sync (WorkManager, only with a network): pushes the outbox and uploads evidence. When
 * WorkManager stops the worker (constraints lost, app killed), the coroutine is cancelled and the
 * core's sync with it; everything already acknowledged stays stored and the next run continues.
 */
class SyncWorker(context: Context, params: WorkerParameters) : CoroutineWorker(context, params) {

    override suspend fun doWork(): Result {
        val app = applicationContext as RoadsideApplication
        val session = try {
            app.session()
        } catch (e: RoadsideException) {
            // The store cannot be opened (device locked, key problem): not something a retry fixes now.
            return Result.failure(workDataOf("code" to e.code()))
        }
        if (session.call { it.syncStatus() }.enrolment == null) return Result.success()

        val observer = object : SyncObserver {
            override fun onProgress(progress: SyncProgress) {
                setProgressAsync(
                    workDataOf(
                        "recordsDone" to progress.recordsDone.toLong(),
                        "recordsTotal" to progress.recordsTotal.toLong(),
                        "bytesDone" to progress.bytesDone.toLong(),
                        "bytesTotal" to progress.bytesTotal.toLong(),
                    ),
                )
            }
        }
        return try {
            val handle = session.call { it.startSync(null, observer) }
            handle.use { h ->
                val report = h.await(session)
                Result.success(workDataOf("receipts" to report.receipts.toLong(), "outboxLeft" to report.outboxLeft.toLong()))
            }
        } catch (e: RoadsideException) {
            if (e.kind() == ErrorKind.NETWORK) Result.retry() else Result.failure(workDataOf("code" to e.code()))
        }
    }

    companion object {
        const val NAME = "roadside-sync"
    }
}
