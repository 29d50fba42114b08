package cn.roadside.shell

import uniffi.roadside_core.SignatureInput

/**
 * Collects a handwritten signature from the pad as stroke data — points with their time since the
 * first touch and the pen pressure — in the JSON form the core hashes, stores and draws into the
 * document (`{"width", "height", "strokes": [[{"x", "y", "t_ms", "pressure"}…]…]}`). The screen calls
 * [down], [move] and [up] from its pointer events; [clear] starts again.
 */
class SignatureCapture(private val width: Float, private val height: Float) {
    private data class Point(val x: Float, val y: Float, val tMs: Long, val pressure: Float)

    private val strokes = mutableListOf<MutableList<Point>>()
    private var startedAt: Long? = null

    val isEmpty: Boolean get() = strokes.none { it.isNotEmpty() }
    val pointCount: Int get() = strokes.sumOf { it.size }

    fun down(x: Float, y: Float, timeMs: Long, pressure: Float) {
        strokes.add(mutableListOf())
        move(x, y, timeMs, pressure)
    }

    fun move(x: Float, y: Float, timeMs: Long, pressure: Float) {
        val t0 = startedAt ?: timeMs.also { startedAt = it }
        val stroke = strokes.lastOrNull() ?: return
        stroke.add(
            Point(
                x.coerceIn(0f, width),
                y.coerceIn(0f, height),
                (timeMs - t0).coerceAtLeast(0),
                pressure.coerceIn(0f, 1f),
            ),
        )
    }

    fun up() {
        if (strokes.lastOrNull()?.isEmpty() == true) strokes.removeAt(strokes.size - 1)
    }

    fun clear() {
        strokes.clear()
        startedAt = null
    }

    /** The strokes as JSON for [SignatureInput.strokesJson]. */
    fun toJson(): String = buildString {
        append("{\"width\":").append(num(width)).append(",\"height\":").append(num(height)).append(",\"strokes\":[")
        strokes.filter { it.isNotEmpty() }.forEachIndexed { i, s ->
            if (i > 0) append(',')
            append('[')
            s.forEachIndexed { j, p ->
                if (j > 0) append(',')
                append("{\"x\":").append(num(p.x)).append(",\"y\":").append(num(p.y))
                append(",\"t_ms\":").append(p.tMs).append(",\"pressure\":").append(num(p.pressure)).append('}')
            }
            append(']')
        }
        append("]}")
    }

    /** A signature by [name] in the role [role] (当事人, 执法人员, 见证人, 受送达人), signed at [signedAt]. */
    fun toInput(role: String, name: String, signedAt: String?): SignatureInput =
        SignatureInput(role = role, name = name, strokesJson = toJson(), refused = null, witness = null, signedAt = signedAt)

    private fun num(f: Float): String = if (f == f.toLong().toFloat()) f.toLong().toString() else f.toString()

    companion object {
        /** The signer refused: the reason, and the witness who saw it. */
        fun refusal(role: String, name: String, reason: String, witness: String?): SignatureInput =
            SignatureInput(role = role, name = name, strokesJson = null, refused = reason, witness = witness, signedAt = null)
    }
}
