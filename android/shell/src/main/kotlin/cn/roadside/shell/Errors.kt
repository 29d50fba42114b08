package cn.roadside.shell

import uniffi.roadside_core.InternalException
import uniffi.roadside_core.Issue
import uniffi.roadside_core.RoadsideException

/**
 * What a screen shows for a failed core call: the stable code (programs and tests match on it) and the
 * Chinese message for the officer, plus the per-field issues of a validation failure.
 */
data class ShellError(
    val code: String,
    val message: String,
    val issues: List<Issue> = emptyList(),
)

/** The stable code of any core error (`STORE_WRONG_KEY`, `EVIDENCE_CANCELLED`…). */
val RoadsideException.code: String
    get() = when (this) {
        is RoadsideException.Invalid -> code
        is RoadsideException.NotFound -> code
        is RoadsideException.Conflict -> code
        is RoadsideException.Key -> code
        is RoadsideException.Store -> code
        is RoadsideException.Evidence -> code
        is RoadsideException.Ledger -> code
        is RoadsideException.Rules -> code
        is RoadsideException.Network -> code
        is RoadsideException.Internal -> code
    }

/** The Chinese message of any core error (Kotlin's `Throwable.message` holds "code=…, reason=…"). */
val RoadsideException.reason: String
    get() = when (this) {
        is RoadsideException.Invalid -> reason
        is RoadsideException.NotFound -> reason
        is RoadsideException.Conflict -> reason
        is RoadsideException.Key -> reason
        is RoadsideException.Store -> reason
        is RoadsideException.Evidence -> reason
        is RoadsideException.Ledger -> reason
        is RoadsideException.Rules -> reason
        is RoadsideException.Network -> reason
        is RoadsideException.Internal -> reason
    }

/** Code used when the core panicked (a bug): UniFFI turns the panic into [InternalException]. */
const val CORE_PANIC = "CORE_PANIC"

/** Converts anything a core call can throw into what a screen shows. */
fun Throwable.toShellError(): ShellError = when (this) {
    is RoadsideException.Invalid -> ShellError(code, reason, issues)
    is RoadsideException -> ShellError(code, reason)
    is InternalException -> ShellError(CORE_PANIC, "程序内部错误，请重试；如仍出现请联系技术支持（$message）")
    else -> ShellError("SHELL_ERROR", "操作失败：${message ?: javaClass.simpleName}")
}

/** Groups issues by field path, as the form shows them under each field. */
fun List<Issue>.byPath(): Map<String, List<Issue>> = groupBy { it.path }
