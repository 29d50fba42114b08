package cn.roadside.app

import android.app.Application
import androidx.work.Constraints
import androidx.work.ExistingPeriodicWorkPolicy
import androidx.work.NetworkType
import androidx.work.PeriodicWorkRequestBuilder
import androidx.work.WorkManager
import cn.roadside.shell.CoreSession
import java.io.File
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock

/**
 * Holds the one [CoreSession] of the process (opened lazily, off the main thread, with the Keystore
 * secret provider) and schedules the background sync.
 */
class RoadsideApplication : Application() {
    private val openLock = Mutex()
    @Volatile private var session: CoreSession? = null

    /** The core, opened on first use. Throws the core's typed errors (`STORE_WRONG_KEY`…). */
    suspend fun session(): CoreSession = session ?: openLock.withLock {
        session ?: CoreSession.open(
            dataDir = File(filesDir, "core").apply { mkdirs() }.path,
            secrets = KeystoreSecretProvider(File(filesDir, "db-key.wrapped")),
        ).also { session = it }
    }

    /** Where captured evidence files are written (shared with the camera through FileProvider). */
    val evidenceDir: File get() = File(filesDir, "evidence").apply { mkdirs() }

    override fun onCreate() {
        super.onCreate()
        scheduleSync()
    }

    private fun scheduleSync() {
        val request = PeriodicWorkRequestBuilder<SyncWorker>(30, TimeUnit.MINUTES)
            .setConstraints(
                Constraints.Builder()
                    .setRequiredNetworkType(NetworkType.CONNECTED)
                    .setRequiresBatteryNotLow(true)
                    .build(),
            )
            .build()
        WorkManager.getInstance(this)
            .enqueueUniquePeriodicWork(SyncWorker.NAME, ExistingPeriodicWorkPolicy.KEEP, request)
    }
}
