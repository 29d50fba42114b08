package cn.roadside.shell

import java.nio.file.Files
import java.nio.file.Path
import java.security.SecureRandom
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.assertThrows
import uniffi.roadside_core.ErrorKind
import uniffi.roadside_core.RoadsideCore
import uniffi.roadside_core.RoadsideException
import uniffi.roadside_core.RulesEngine
import uniffi.roadside_core.SecretProvider
import uniffi.roadside_core.demoRoster

/** A Kotlin secret provider: what Android Keystore / iOS Keychain give, here a fixed key. */
class FixedKey(private val key: ByteArray) : SecretProvider {
    @Volatile var calls = 0
    override fun databaseKey(): ByteArray {
        calls++
        return key.copyOf()
    }

    companion object {
        fun random(): FixedKey = FixedKey(ByteArray(32).also { SecureRandom().nextBytes(it) })
    }
}

/** Runs [call], which must fail with a core error of category [kind]; returns the error. */
fun assertCoreError(kind: ErrorKind, call: () -> Unit): RoadsideException {
    val e = assertThrows<RoadsideException> { call() }
    assertEquals(kind, e.kind(), "category of ${e.code()}: ${e.reason()}")
    return e
}

/** Opens a real encrypted store in a temp directory, with the demo roster imported. */
fun openSession(dir: Path, secrets: SecretProvider = FixedKey.random()): CoreSession {
    val core = RoadsideCore.open(dir.toString(), secrets)
    core.importRoster(demoRoster())
    return CoreSession(core, RulesEngine.bundled(), Dispatchers.IO)
}

/** Runs a test body with a bound on how long it may wait for the core. */
fun <T> runTest(block: suspend kotlinx.coroutines.CoroutineScope.() -> T): T =
    runBlocking { withTimeout(60_000) { block() } }

/** Writes [size] pseudo-random bytes to a new file in [dir]. */
fun randomFile(dir: Path, name: String, size: Int, seed: Long = 42): Path {
    val bytes = ByteArray(size)
    java.util.Random(seed).nextBytes(bytes)
    return Files.write(dir.resolve(name), bytes)
}
