package cn.roadside.shell

import java.io.File
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.condition.EnabledIfSystemProperty
import uniffi.roadside_core.EvidenceRecorder
import uniffi.roadside_core.FfiConverterTypeGuidance
import uniffi.roadside_core.GuidanceRequest
import uniffi.roadside_core.RulesEngine
import uniffi.roadside_core.hashEvidenceFile

/**
 * FFI cost on the JVM, printed and never asserted (run by `scripts/bench-jvm.sh`, which points the
 * module at the release library):
 *
 * - a guidance call from Kotlin (record lowered, Rust call, `Guidance` lifted): p50/p99, against the
 *   same call in Rust (`uniffi-bindgen/examples/ffi_reference.rs`, run by this benchmark in between);
 * - hashing a 1 GiB file through the FFI against `hash_file` called from Rust, rounds alternated.
 *
 * Results are printed and written to `target/bench-jvm.txt`.
 */
@EnabledIfSystemProperty(named = "roadside.bench", matches = "true")
class FfiBenchmark {
    private val out = StringBuilder()

    private fun say(line: String) {
        println(line)
        out.appendLine(line)
    }

    private fun rust(vararg args: String): Map<String, String> {
        val bin = System.getProperty("roadside.bench.rustref")
        require(!bin.isNullOrBlank()) { "-Droadside.bench.rustref=<path to ffi_reference> is required" }
        val p = ProcessBuilder(listOf(bin) + args).redirectErrorStream(true).start()
        val text = p.inputStream.bufferedReader().readText()
        check(p.waitFor() == 0) { "ffi_reference ${args.toList()} failed: $text" }
        return text.trim().lines().last().split(' ').drop(1).associate { kv ->
            kv.substringBefore('=') to kv.substringAfter('=')
        }
    }

    private fun pct(sortedNs: LongArray, q: Double): Double =
        sortedNs[((sortedNs.size - 1) * q).let { Math.round(it).toInt() }] / 1000.0

    @Test
    fun benchmarks() {
        say("FFI benchmark (JVM ${System.getProperty("java.version")}, ${Runtime.getRuntime().availableProcessors()} CPUs, library ${System.getProperty("jna.library.path")})")
        guidance()
        hashing()
        Files.writeString(Paths.get("target", "bench-jvm.txt"), out.toString())
    }

    private fun guidance() {
        val n = 20_000
        val request = GuidanceRequest(
            listOf("CX-43-2"),
            Drafts.facts("2026-02-10").copy(
                decisionDate = "2026-03-02",
                grossWeightKg = 21_350.0,
                axles = 2u,
                priorViolations = 0u,
            ),
        )
        RulesEngine.bundled().use { rules ->
            // Warm-up: JIT of the generated converters and the call path. HotSpot queues a method for
            // C2 after about 5,000 calls; 20,000 leave round 1 measuring compiled code, not the
            // compiler running beside it.
            repeat(20_000) { rules.guide(request) }
            val rounds = 3
            say("guidance (CX-43-2, 2 axles, 21,350 kg), $n calls per round, $rounds rounds:")
            say(String.format("%-6s %12s %12s %14s %14s %10s", "round", "kotlin p50", "kotlin p99", "rust p50", "rust p99", "p99 ratio"))
            repeat(rounds) { r ->
                val ns = LongArray(n)
                for (i in 0 until n) {
                    val t = System.nanoTime()
                    val g = rules.guide(request)
                    ns[i] = System.nanoTime() - t
                    if (g.totalRecommendedYuan != 1500L) error("unexpected guidance: ${g.totalRecommendedYuan}")
                }
                ns.sort()
                val ref = rust("guide", n.toString())
                val kp99 = pct(ns, 0.99)
                val rp99 = ref.getValue("p99_us").toDouble()
                say(String.format("%-6d %9.2f µs %9.2f µs %11s µs %11s µs %9.2fx", r + 1, pct(ns, 0.50), kp99, ref["p50_us"], ref["p99_us"], kp99 / rp99))
            }
            // Where the time goes: Rust's side of the call (what UniFFI's scaffolding does: lift the
            // request, guide, lower the answer), a call with nothing to convert, decoding the Guidance.
            val side = rust("guide_ffi", n.toString())
            say("breakdown: Rust side of the call (lift request, guide, lower ${side["bytes"]} bytes) p50 ${side["p50_us"]} µs p99 ${side["p99_us"]} µs")
            EvidenceRecorder().use { rec ->
                repeat(5_000) { rec.bytesSeen() }
                val ns = LongArray(n) { val t = System.nanoTime(); rec.bytesSeen(); System.nanoTime() - t }
                ns.sort()
                say(String.format("breakdown: empty FFI call (EvidenceRecorder.bytesSeen) p50 %.2f µs p99 %.2f µs", pct(ns, 0.50), pct(ns, 0.99)))
            }
            val g = rules.guide(request)
            val size = FfiConverterTypeGuidance.allocationSize(g).toInt()
            val buf = java.nio.ByteBuffer.allocate(size)
            FfiConverterTypeGuidance.write(g, buf)
            repeat(5_000) { buf.rewind(); FfiConverterTypeGuidance.read(buf) }
            val ns = LongArray(n) { buf.rewind(); val t = System.nanoTime(); FfiConverterTypeGuidance.read(buf); System.nanoTime() - t }
            ns.sort()
            say(String.format("breakdown: decoding the Guidance in Kotlin (%d bytes serialized) p50 %.2f µs p99 %.2f µs", size, pct(ns, 0.50), pct(ns, 0.99)))
        }
    }

    private fun hashing() {
        val file = System.getProperty("roadside.bench.file")
        if (file.isNullOrBlank()) {
            say("hashing: skipped (no -Droadside.bench.file)")
            return
        }
        val size = File(file).length()
        val rounds = (System.getProperty("roadside.bench.rounds") ?: "5").toInt()
        say("hashing ${size / (1 shl 20)} MiB ($file), $rounds rounds alternated (Rust first):")
        say(String.format("%-6s %12s %12s %8s", "round", "rust s", "kotlin s", "ratio"))
        val rustS = DoubleArray(rounds)
        val ktS = DoubleArray(rounds)
        for (r in 0 until rounds) {
            val ref = rust("hash", file)
            rustS[r] = ref.getValue("seconds").toDouble()
            val t = System.nanoTime()
            val d = hashEvidenceFile(file, null)
            ktS[r] = (System.nanoTime() - t) / 1e9
            check(d.sha256 == ref["sha256"]) { "digests differ: ${d.sha256} vs ${ref["sha256"]}" }
            say(String.format("%-6d %12.3f %12.3f %7.3fx", r + 1, rustS[r], ktS[r], ktS[r] / rustS[r]))
        }
        rustS.sort()
        ktS.sort()
        val rm = rustS[rounds / 2]
        val km = ktS[rounds / 2]
        val mb = size / 1e6
        say(String.format("median  rust %.3f s (%.0f MB/s)  kotlin %.3f s (%.0f MB/s)  ratio %.3fx", rm, mb / rm, km, mb / km, km / rm))
    }
}
