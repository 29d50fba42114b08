package cn.roadside.shell

import uniffi.roadside_core.InternalException
import uniffi.roadside_core.Issue
import uniffi.roadside_core.RoadsideException

/**
 * What a screen shows for a failed core call: the stable code (programs and tests match on it) and the
 * Chinese message for the officer, plus the per-field issues of a validation failure.
 *
 * Every core error is one [RoadsideException] whatever its category: `e.code()`, `e.reason()` (the
 * Chinese message; Kotlin's `Throwable.message` is not set), `e.kind()` ([uniffi.roadside_core.ErrorKind])
 * and `e.issues()`.
 */
data class ShellError(
    val code: String,
    val message: String,
    val issues: List<Issue> = emptyList(),
)

/** Code used when the core panicked (a bug): UniFFI turns the panic into [InternalException]. */
const val CORE_PANIC = "CORE_PANIC"

/** Converts anything a core call can throw into what a screen shows. */
fun Throwable.toShellError(): ShellError = when (this) {
    is RoadsideException -> ShellError(code(), reason(), issues())
    is InternalException -> ShellError(CORE_PANIC, "程序内部错误，请重试；如仍出现请联系技术支持（$message）")
    else -> ShellError("SHELL_ERROR", "操作失败：${message ?: javaClass.simpleName}")
}

/** Groups issues by field path, as the form shows them under each field. */
fun List<Issue>.byPath(): Map<String, List<Issue>> = groupBy { it.path }
