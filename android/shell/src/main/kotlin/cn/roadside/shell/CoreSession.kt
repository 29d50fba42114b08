package cn.roadside.shell

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import uniffi.roadside_core.RoadsideCore
import uniffi.roadside_core.RulesEngine
import uniffi.roadside_core.SecretProvider

/**
 * The core opened for one app process: the encrypted store and the rules engine, plus the dispatcher
 * blocking core calls run on (never the UI thread). Close it when the process ends.
 */
class CoreSession(
    val core: RoadsideCore,
    val rules: RulesEngine,
    val io: CoroutineDispatcher = Dispatchers.IO,
) : AutoCloseable {
    /** Runs a blocking core call off the caller's thread. */
    suspend fun <T> call(block: (RoadsideCore) -> T): T = withContext(io) { block(core) }

    /** Runs a blocking rules call off the caller's thread. */
    suspend fun <T> rules(block: (RulesEngine) -> T): T = withContext(io) { block(rules) }

    override fun close() {
        core.close()
        rules.close()
    }

    companion object {
        /**
         * Opens (or creates) the store in [dataDir] with the key [secrets] gives, and the rules engine
         * with the agency's imported reference data over the shipped data.
         * Throws [uniffi.roadside_core.RoadsideException] (`STORE_WRONG_KEY`, `KEY_LENGTH`,
         * `PLATFORM_CALLBACK_FAILED`…).
         */
        suspend fun open(
            dataDir: String,
            secrets: SecretProvider,
            io: CoroutineDispatcher = Dispatchers.IO,
        ): CoreSession = withContext(io) {
            val core = RoadsideCore.open(dataDir, secrets)
            val rules = try {
                RulesEngine.open(dataDir)
            } catch (e: Throwable) {
                core.close()
                throw e
            }
            CoreSession(core, rules, io)
        }
    }
}
